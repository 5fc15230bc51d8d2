"""Records of FLEX-VideoQA: the sample a dialogue is built from (:class:`QASource`) and one question-answer
pair (:class:`QA`), with strict JSONL reading so a bad file fails with its name, line and field."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flexaqa._io import atomic_write_text, json_text, missing_file_message
from flexaqa.errors import BadDataError, MissingFileError
from flexaqa.timebase import CINEMA_FPS

# The paper's dialogue pipeline (Figure 9): one question of each type per sample, in this order.
QUESTION_TYPES = ("recognition", "standards", "evaluation", "scoring")


class VQAError(BadDataError, ValueError):
    """Bad input to the VideoQA builder, exporter, answerers or evaluator (exit code 3)."""


class MissingVQAFileError(MissingFileError, VQAError):
    """A VideoQA input file that does not exist (exit code 9)."""


@dataclass(frozen=True)
class QASource:
    """What the QA builder needs to know about one annotated sample.

    Args:
        sample_id: unique id of the sample, e.g. ``A16/007``.
        action: index, class id, slug or name of the FKG action.
        split: dataset split (``train``, ``val``, ``test``, ...); QA files follow it.
        slots: annotated slots ``AKxx:ETyyy`` (bare ``ETyyy`` tokens are resolved by the FKG).
        score: the dataset's own score label, kept for reference; answers use the FKG score of ``slots``.
        videos: view name -> video file or folder of frames (``View-1`` -> ``A16/007/View-1``).
        fps: frame rate of the videos.
        n_frames: number of frames of the videos, when known (needed to sample frames from a video file).
        subject: subject id, when known.
        start, end: the sample's time window in seconds on the video clock, when the videos hold more than
            the sample (a repetition cut out of a whole trial); None = the whole video.
        view_fps, view_frames: per-view frame rate and frame count where views differ (cinema 120 fps,
            phone 60 fps); views not listed use ``fps`` and ``n_frames``.
    """

    sample_id: str
    action: str
    split: str
    slots: tuple[str, ...] = ()
    score: float | None = None
    videos: Mapping[str, str] = field(default_factory=dict)
    fps: float = CINEMA_FPS
    n_frames: int | None = None
    subject: str | None = None
    start: float | None = None
    end: float | None = None
    view_fps: Mapping[str, float] = field(default_factory=dict)
    view_frames: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "source") -> QASource:
        _require_keys(d, ("sample_id", "action", "split"), where)
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise VQAError(
                f"{where}: unknown field(s) {sorted(unknown)}; expected {sorted(cls.__dataclass_fields__)}"
            )
        slots = d.get("slots") or ()
        if isinstance(slots, str) or not all(isinstance(s, str) for s in slots):
            raise VQAError(f"{where}: 'slots' must be a list of strings like 'AK04:ET005', got {slots!r}")
        videos = d.get("videos") or {}
        if not isinstance(videos, Mapping):
            raise VQAError(f"{where}: 'videos' must map a view name to a path, got {videos!r}")
        return cls(
            sample_id=str(d["sample_id"]),
            action=str(d["action"]),
            split=str(d["split"]),
            slots=tuple(slots),
            score=None if d.get("score") is None else float(d["score"]),
            videos={str(k): str(v) for k, v in videos.items()},
            fps=float(d.get("fps") or CINEMA_FPS),
            n_frames=None if d.get("n_frames") is None else int(d["n_frames"]),
            subject=None if d.get("subject") is None else str(d["subject"]),
            start=_opt_float(d.get("start")),
            end=_opt_float(d.get("end")),
            view_fps={str(k): float(v) for k, v in (d.get("view_fps") or {}).items()},
            view_frames={str(k): int(v) for k, v in (d.get("view_frames") or {}).items()},
        )


@dataclass(frozen=True)
class QA:
    """One question-answer pair; the four pairs of a sample form one dialogue (``turn`` 0-3).

    The label fields (``action``, ``slots``, ``score``) are the truth the answer was generated from, so the
    evaluator and the export round-trip test can check answers against them.
    """

    id: str  # "<sample_id>:<qtype>"
    sample_id: str
    turn: int
    qtype: str  # one of QUESTION_TYPES
    question: str
    answer: str
    action: str  # slug
    split: str
    slots: tuple[str, ...]  # resolved AKxx:ETyyy slots, in the action's slot order
    score: float  # FKG score (0-100) of ``slots``
    videos: Mapping[str, str] = field(default_factory=dict)
    fps: float = CINEMA_FPS
    n_frames: int | None = None
    start: float | None = None  # time window of the sample in the videos (seconds), None = whole video
    end: float | None = None
    view_fps: Mapping[str, float] = field(default_factory=dict)
    view_frames: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    def fps_of(self, view: str) -> float:
        return float(self.view_fps.get(view, self.fps))

    def frames_of(self, view: str) -> int | None:
        return self.view_frames.get(view, self.n_frames)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "qa") -> QA:
        required = (
            "id",
            "sample_id",
            "turn",
            "qtype",
            "question",
            "answer",
            "action",
            "split",
            "slots",
            "score",
        )
        _require_keys(d, required, where)
        if d["qtype"] not in QUESTION_TYPES:
            raise VQAError(f"{where}: 'qtype' is {d['qtype']!r}; expected one of {', '.join(QUESTION_TYPES)}")
        return cls(
            id=str(d["id"]),
            sample_id=str(d["sample_id"]),
            turn=int(d["turn"]),
            qtype=str(d["qtype"]),
            question=str(d["question"]),
            answer=str(d["answer"]),
            action=str(d["action"]),
            split=str(d["split"]),
            slots=tuple(d["slots"]),
            score=float(d["score"]),
            videos={str(k): str(v) for k, v in (d.get("videos") or {}).items()},
            fps=float(d.get("fps") or CINEMA_FPS),
            n_frames=None if d.get("n_frames") is None else int(d["n_frames"]),
            start=_opt_float(d.get("start")),
            end=_opt_float(d.get("end")),
            view_fps={str(k): float(v) for k, v in (d.get("view_fps") or {}).items()},
            view_frames={str(k): int(v) for k, v in (d.get("view_frames") or {}).items()},
        )


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """``asdict`` output with tuples as lists and mappings as dicts, ready for JSON."""
    return {
        k: list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, Mapping) else v for k, v in d.items()
    }


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def _require_keys(d: Any, keys: Iterable[str], where: str) -> None:
    if not isinstance(d, Mapping):
        raise VQAError(f"{where}: expected a JSON object, got {type(d).__name__}")
    missing = [k for k in keys if k not in d]
    if missing:
        raise VQAError(f"{where}: missing field(s) {', '.join(missing)}")


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file, with clear format errors."""
    path = Path(path)
    if not path.is_file():
        raise MissingVQAFileError(missing_file_message(path))
    with path.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                hint = (
                    " (the file looks like one JSON document; write one object per line)"
                    if lineno == 1
                    else ""
                )
                raise VQAError(f"{path}:{lineno}: not a JSON line: {exc.msg}{hint}") from None
            if not isinstance(obj, dict):
                raise VQAError(f"{path}:{lineno}: expected a JSON object per line, got {type(obj).__name__}")
            yield lineno, obj


def write_jsonl(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write one JSON object per line, atomically."""
    text = "".join(json_text(r, ensure_ascii=False, indent=None) + "\n" for r in rows)
    return atomic_write_text(path, text)


def read_sources(path: str | Path) -> list[QASource]:
    """Read :class:`QASource` records from a JSONL file (one object per line)."""
    sources = [QASource.from_dict(obj, f"{path}:{n}") for n, obj in iter_jsonl(path)]
    if not sources:
        raise VQAError(f"{path}: no samples")
    return sources
