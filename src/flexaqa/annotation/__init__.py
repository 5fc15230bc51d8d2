"""The annotation workflow of FLEX (paper section 3.3.2): tasks, two-stage labels, majority vote, agreement."""

from flexaqa.annotation.records import LabelSubmission

__all__ = ["LabelSubmission"]
