"""The record every way into the annotation store produces: typed in, imported from a file or from a tool."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelSubmission:
    """One stage-1 label (or a stage-2 reviewer's vote) for one sample, as imported from a tool or typed in."""

    annotator: str  # user name
    stage: int  # 1 = label, 2 = review vote
    sample_id: str
    slots: tuple[str, ...]  # "AK04:ET008" slot ids of the sample's action seen as errors
    score: float | None = None  # optional manual score 0..100; the FKG score is derived from slots
    feedback: str = ""
    repetition: int | None = None
    source: str = ""  # where it came from, e.g. "export.json: task 12, annotation 3"
