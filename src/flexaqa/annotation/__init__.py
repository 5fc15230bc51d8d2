"""The annotation workflow of FLEX (paper section 3.3.2): tasks from a dataset's samples, three stage-1 labels
per sample, three stage-2 reviews, a majority vote, agreement statistics, and an export into the native layout.

The store (``AnnotationStore``, SQLite or PostgreSQL through SQLAlchemy, extra ``annotate``) is imported on
first use, so ``flexaqa.annotation.records`` stays light::

    from flexaqa.annotation import AnnotationStore, LabelSubmission
    store = AnnotationStore.open("sqlite:///FLEX/annotations.sqlite")
    store.submit([LabelSubmission("ann1", 1, "P01-A16-r01", ("AK43:ET006",))])
"""

from __future__ import annotations

import importlib

from flexaqa.annotation.records import (
    AnnotationDataError,
    AnnotationError,
    Decision,
    LabelRow,
    LabelSubmission,
    MissingAnnotationInputError,
    ProjectConfig,
    Task,
)

_LAZY = {
    "AnnotationStore": "flexaqa.annotation.store",
    "default_url": "flexaqa.annotation.store",
    "assign_balanced": "flexaqa.annotation.workflow",
    "decide": "flexaqa.annotation.workflow",
    "majority": "flexaqa.annotation.workflow",
    "agreement_report": "flexaqa.annotation.agreement",
    "export_labels": "flexaqa.annotation.export",
    "read_submissions": "flexaqa.annotation.io",
}

__all__ = [
    "AnnotationDataError",
    "AnnotationError",
    "Decision",
    "LabelRow",
    "LabelSubmission",
    "MissingAnnotationInputError",
    "ProjectConfig",
    "Task",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flexaqa.annotation' has no attribute {name!r}")
