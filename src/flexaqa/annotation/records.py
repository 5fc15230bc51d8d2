"""The records every way into and out of the annotation store uses: typed in, imported from a file or a tool."""

from __future__ import annotations

from dataclasses import dataclass, field

from flexaqa.errors import EXIT_BAD_DATA, EXIT_USAGE, FlexaqaError, MissingFileError


class AnnotationError(FlexaqaError, ValueError):
    """A workflow step out of order or a name the project does not have (exit code 2); the message names the
    row or sample."""

    exit_code = EXIT_USAGE


class AnnotationDataError(AnnotationError):
    """Labels that break the rules (unknown code, slot not in the action, labelled twice, ...) or an import file
    that cannot be read: nothing was written (exit code 3); the message names every bad row."""

    exit_code = EXIT_BAD_DATA


class MissingAnnotationInputError(MissingFileError, AnnotationError):
    """No annotation store or import file at the given path (exit code 9)."""


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
    accept: bool = False  # stage 2 only: the reviewer accepts the stage-1 majority (``slots`` must be empty)


@dataclass(frozen=True)
class LabelRow:
    """One stored label row (never changed once written; an edit is a new row that ``replaces`` it)."""

    id: int
    sample_id: str
    annotator: str
    stage: int
    revision: int
    replaces: int | None
    verdict: str  # "label" (stage 1), "accept" or "vote" (stage 2)
    slots: tuple[str, ...]  # canonical AKxx:ETyyy in the action's slot order
    fkg_score: float
    score: float | None
    feedback: str
    repetition: int | None
    source: str
    created_at: object  # datetime


@dataclass(frozen=True)
class Task:
    """One sample to label: a repetition of a trial, with its boundaries from the dataset (seconds)."""

    sample_id: str
    trial: str
    action: str
    rep: int
    start: float
    end: float


@dataclass(frozen=True)
class ProjectConfig:
    """What ``annotate init`` recorded: the dataset and how many people label and review each sample."""

    dataset: str
    labellers: int = 3
    reviewers: int = 3
    kg_version: str = ""


@dataclass(frozen=True)
class Decision:
    """Resolving one sample: ``status`` is ``resolved``, ``missing``, ``tie``, ``stale`` or ``unlabelled``."""

    sample_id: str
    status: str
    slots: tuple[str, ...] = ()
    method: str = ""  # resolved: "accepted" (every reviewer accepted) or "review majority"
    detail: str = ""  # what is missing or tied, for the report
    votes: tuple[int, ...] = field(default=())  # label ids the decision used
