"""Label Studio interop: the labelling config of an action (from the FKG), tasks for a dataset, and the JSON
export read back as :class:`~flexaqa.annotation.records.LabelSubmission` records.

Pure Python: nothing here imports Label Studio. The names in the config are stable, because the export refers
to them: the video is ``video``, the repetition/phase timeline ``timeline``, each keystep's error choices are
named by the keystep code (``AK44``) and export the slot id (``AK44:ET005``, the choice's ``alias``), the score is
``score`` and the feedback text ``feedback``. See docs/labelstudio.md.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from flexaqa._io import atomic_write_text, json_text
from flexaqa.annotation.records import AnnotationDataError, AnnotationError, LabelSubmission
from flexaqa.data import open_dataset
from flexaqa.errors import KGError
from flexaqa.kg import Action, KnowledgeGraph, load_kg, resolve_slots

VIDEO = "video"
TIMELINE = "timeline"
SCORE = "score"
FEEDBACK = "feedback"
REVIEW = "review"
ACCEPT = "accept"  # the one choice of REVIEW: a stage-2 reviewer accepts the stage-1 labels as they are
REPETITION_LABEL = "repetition"
ROLES = {"annotator": 1, "reviewer": 2}  # Label Studio role -> stage
LOCAL_FILES_PREFIX = "/data/local-files/?d="


# ------------------------------------------------------------------------------------------------ config


def labelling_config(action: str | int | Action, *, kg: KnowledgeGraph | None = None) -> str:
    """The Label Studio labelling config (XML) for one action of the FKG.

    A video (``$video``, frame rate ``$fps``) with a timeline (``repetition`` and the action's phases), one
    multiple-choice block per keystep whose choices are the keystep's error types (exported as slot ids), a
    0-100 score, a stage-2 ``review`` choice (``accept``: the reviewer accepts the stage-1 labels instead of
    voting) and a feedback text. Every slot of the action appears exactly once.
    """
    kg = kg or load_kg()
    action = kg.action(action)
    view = ET.Element("View")
    ET.SubElement(
        view,
        "Header",
        value=f"{action.name} ({action.class_id}): sample $sample_id, repetition $rep, "
        "from $start s to $end s of the trial video",
    )
    ET.SubElement(view, "Video", name=VIDEO, value="$video", frameRate="$fps", timelineHeight="120")
    timeline = ET.SubElement(view, "TimelineLabels", name=TIMELINE, toName=VIDEO)
    for label in (REPETITION_LABEL, *action.phase_names):
        ET.SubElement(timeline, "Label", value=label)
    ET.SubElement(view, "Header", value="Errors seen (keystep, error type)", size="4")
    for phase in action.phases:
        for ke in phase.keysteps:
            ks = kg.keystep(ke.keystep)
            block = ET.SubElement(view, "View", style="margin-bottom: 0.5em")
            ET.SubElement(block, "Header", value=f"{ks.code} ({phase.name}): {ks.text}", size="6")
            choices = ET.SubElement(
                block, "Choices", name=ks.code, toName=VIDEO, choice="multiple", showInline="false"
            )
            for code in ke.errors:
                et = kg.error(code)
                ET.SubElement(
                    choices,
                    "Choice",
                    value=f"{et.code}: {et.text}",
                    alias=f"{ks.code}:{et.code}",
                    hint=f"weight {et.weight}, {et.severity}",
                )
    ET.SubElement(
        view, "Header", value="Score (0-100, optional: the FKG score follows from the errors)", size="4"
    )
    ET.SubElement(view, "Number", name=SCORE, toName=VIDEO, min="0", max="100", step="0.1")
    ET.SubElement(view, "Header", value="Stage 2 (reviewers only)", size="4")
    review = ET.SubElement(view, "Choices", name=REVIEW, toName=VIDEO, choice="single")
    ET.SubElement(review, "Choice", value="Accept the stage-1 labels (tick no errors above)", alias=ACCEPT)
    ET.SubElement(view, "Header", value="Feedback", size="4")
    ET.SubElement(
        view, "TextArea", name=FEEDBACK, toName=VIDEO, rows="3", maxSubmissions="1", editable="true"
    )
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


# ------------------------------------------------------------------------------------------------- tasks


def local_file_url(path: str | Path, document_root: str | Path) -> str:
    """The ``/data/local-files/?d=...`` URL Label Studio serves ``path`` under (relative to its document root)."""
    path, root = Path(path).resolve(), Path(document_root).resolve()
    try:
        rel = path.relative_to(root)
    except ValueError:
        raise AnnotationError(
            f"{path} is not inside the document root {root}: Label Studio serves local files only from below "
            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
        ) from None
    return LOCAL_FILES_PREFIX + quote(rel.as_posix(), safe="/")


def build_tasks(
    data_dir: str | Path,
    *,
    document_root: str | Path,
    view: str | None = None,
    samples: Sequence[str] | None = None,
    action: str | None = None,
) -> list[dict]:
    """Label Studio tasks (one per sample) for a native dataset: the trial video of ``view`` as a local-file
    URL, and the sample id, action, repetition, its span on the trial clock and the video's frame rate.

    ``samples`` picks samples by id, ``action`` keeps one action's (a Label Studio project has one config,
    so one action)."""
    ds = open_dataset(data_dir)
    if ds.layout != "native":
        raise AnnotationError(
            f"{data_dir}: Label Studio tasks need video files, and the {ds.layout} layout stores JPEG frames; "
            "use a dataset in the native layout"
        )
    view = view or (ds.view_names[0] if ds.view_names else None)
    if view is None or view not in ds.view_names:
        raise AnnotationError(f"{data_dir}: no video view {view!r}; the dataset has {list(ds.view_names)}")
    records = ds.select(samples) if samples is not None else list(ds.records)
    if action is not None:
        slug = load_kg().action(action).slug
        records = [r for r in records if r.action == slug]
        if not records:
            raise AnnotationError(f"{data_dir}: no samples of {slug}")
    tasks = []
    for rec in records:
        path = ds.video_path(rec.trial, view)
        if path is None or not path.is_file():
            raise AnnotationError(f"{data_dir}: sample {rec.id} has no {view} video file (expected {path})")
        fps = ds.views(rec.trial)[view].fps
        data = {
            VIDEO: local_file_url(path, document_root),
            "sample_id": rec.id,
            "action": rec.action,
            "rep": rec.rep,
            "trial": rec.trial,
            "subject": rec.subject,
            "view": view,
            "start": rec.start,
            "end": rec.end,
            "fps": fps,
        }
        tasks.append({"data": data})
    return tasks


def write_tasks(
    data_dir: str | Path,
    out: str | Path,
    *,
    document_root: str | Path,
    view: str | None = None,
    samples: Sequence[str] | None = None,
    action: str | None = None,
) -> Path:
    """Write :func:`build_tasks` as a Label Studio tasks JSON file (atomically); returns ``out``."""
    tasks = build_tasks(data_dir, document_root=document_root, view=view, samples=samples, action=action)
    return atomic_write_text(out, json_text(tasks, indent=1) + "\n")


# ------------------------------------------------------------------------------------------------ export


@dataclass(frozen=True)
class TimelineSegment:
    """One span drawn on the timeline: the repetition or a phase, in seconds on the trial video's clock."""

    annotator: str
    stage: int
    sample_id: str
    label: str  # "repetition" or a phase name
    start: float
    end: float
    source: str = ""
    trial: str | None = None  # the task's data.trial and data.rep
    rep: int | None = None


@dataclass(frozen=True)
class ExportContents:
    """Everything :func:`read_export` found: labels, timeline segments and the cancelled (skipped) annotations."""

    submissions: tuple[LabelSubmission, ...]
    segments: tuple[TimelineSegment, ...] = ()
    cancelled: tuple[str, ...] = field(default=())  # sources of annotations the annotator skipped


def parse_export(
    path: str | Path,
    *,
    role_of: Mapping[str, str] | None = None,
    users: Mapping[int, str] | None = None,
    kg: KnowledgeGraph | None = None,
) -> list[LabelSubmission]:
    """Label Studio's JSON export -> one :class:`LabelSubmission` per (task, annotator).

    ``role_of`` maps each annotator (e-mail as Label Studio names users) to ``annotator`` (stage 1) or
    ``reviewer`` (stage 2); without it every annotation is stage 1. ``users`` maps Label Studio user ids to
    names when the export gives ``completed_by`` as a bare id. Every slot is checked against the task's action;
    any problem raises :class:`AnnotationError` naming the task and annotation, and nothing is returned.
    Cancelled (skipped) annotations carry no label: :func:`read_export` lists them.
    """
    return list(read_export(path, role_of=role_of, users=users, kg=kg).submissions)


def read_export(
    path: str | Path,
    *,
    role_of: Mapping[str, str] | None = None,
    users: Mapping[int, str] | None = None,
    kg: KnowledgeGraph | None = None,
) -> ExportContents:
    """Like :func:`parse_export`, also returning the timeline segments and the cancelled annotations."""
    path = Path(path)
    kg = kg or load_kg()
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AnnotationDataError(f"{path}: cannot read the export ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationDataError(f"{path}: not a Label Studio JSON export: {exc}") from exc
    if not isinstance(tasks, list):
        raise AnnotationDataError(
            f"{path}: a Label Studio JSON export is a list of tasks, got {type(tasks).__name__}"
        )
    subs: list[LabelSubmission] = []
    segs: list[TimelineSegment] = []
    cancelled: list[str] = []
    for i, task in enumerate(tasks):
        where = f"{path.name}: task #{i}"
        if not isinstance(task, dict):
            raise AnnotationDataError(f"{where}: expected an object, got {type(task).__name__}")
        where = f"{path.name}: task {task.get('id', f'#{i}')}"
        _read_task(
            task, where, role_of=role_of, users=users, kg=kg, subs=subs, segs=segs, cancelled=cancelled
        )
    return ExportContents(tuple(subs), tuple(segs), tuple(cancelled))


def _read_task(task, where, *, role_of, users, kg, subs, segs, cancelled) -> None:
    data = task.get("data")
    if not isinstance(data, dict):
        raise AnnotationDataError(f"{where}: no 'data' object")
    sample_id = data.get("sample_id")
    if not isinstance(sample_id, str) or not sample_id:
        raise AnnotationDataError(f"{where}: data.sample_id must be a sample id, got {sample_id!r}")
    try:
        action = kg.action(str(data.get("action")))
    except KGError as exc:
        raise AnnotationDataError(f"{where} (sample {sample_id}): data.action: {exc}") from None
    rep = data.get("rep")
    if rep is not None and (isinstance(rep, bool) or not isinstance(rep, int)):
        raise AnnotationDataError(f"{where}: data.rep must be an integer, got {rep!r}")
    fps = data.get("fps")
    annotations = task.get("annotations", [])
    if not isinstance(annotations, list):
        raise AnnotationDataError(f"{where}: 'annotations' must be a list")
    seen: dict[str, str] = {}
    for j, ann in enumerate(annotations):
        if not isinstance(ann, dict):
            raise AnnotationDataError(f"{where}, annotation #{j}: expected an object")
        src = f"{where}, annotation {ann.get('id', f'#{j}')}"
        if ann.get("was_cancelled"):
            cancelled.append(src)
            continue
        who = _annotator(ann.get("completed_by"), users, src)
        if who in seen:
            raise AnnotationDataError(
                f"{src}: {who} labelled sample {sample_id} twice (also in {seen[who].split(', ', 1)[1]})"
            )
        seen[who] = src
        stage = _stage(who, role_of, src)
        result = ann.get("result")
        if not isinstance(result, list):
            raise AnnotationDataError(f"{src}: 'result' must be a list of regions")
        tokens: list[str] = []
        score, feedback, accept = None, "", False
        for k, region in enumerate(result):
            at = f"{src}, result #{k}"
            if not isinstance(region, dict) or not isinstance(region.get("value"), dict):
                raise AnnotationDataError(f"{at}: expected an object with a 'value' object")
            name, kind, value = region.get("from_name"), region.get("type"), region["value"]
            if name in action.keystep_codes and kind == "choices":
                chosen = value.get("choices")
                if not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen):
                    raise AnnotationDataError(f"{at}: value.choices must be a list of slot ids")
                for c in chosen:
                    if not c.upper().startswith(f"{name}:"):
                        raise AnnotationDataError(
                            f"{at}: {c!r} is not a slot of keystep {name} (expected {name}:ETnnn)"
                        )
                tokens += chosen
            elif name == SCORE and kind == "number":
                score = _score(value.get("number"), at)
            elif name == FEEDBACK and kind == "textarea":
                text = value.get("text")
                if not isinstance(text, list) or not all(isinstance(t, str) for t in text):
                    raise AnnotationDataError(f"{at}: value.text must be a list of strings")
                feedback = "\n".join(text)
            elif name == REVIEW and kind == "choices":
                if value.get("choices") != [ACCEPT]:
                    raise AnnotationDataError(f"{at}: value.choices of {REVIEW} must be [{ACCEPT!r}]")
                if stage != 2:
                    raise AnnotationDataError(
                        f"{at}: {who} is an annotator (stage 1) and cannot accept a review"
                    )
                accept = True
            elif name == TIMELINE and kind == "timelinelabels":
                segs += _segments(value, fps, action, who, stage, sample_id, at, data.get("trial"), rep)
            else:
                raise AnnotationDataError(
                    f"{at}: unknown control {name!r} of type {kind!r} for {action.name}; the config has "
                    f"{TIMELINE}, {', '.join(action.keystep_codes)}, {SCORE}, {REVIEW}, {FEEDBACK} "
                    "(regenerate it with `flexaqa annotate labelstudio config`)"
                )
        try:
            slots = tuple(s.id for s in resolve_slots(action, tokens, kg=kg))
        except KGError as exc:
            raise AnnotationDataError(f"{src} (sample {sample_id}): {exc}") from None
        if accept and slots:
            raise AnnotationDataError(
                f"{src}: {who} accepted the stage-1 labels and also voted for {', '.join(slots)}; do one or the other"
            )
        subs.append(LabelSubmission(who, stage, sample_id, slots, score, feedback, rep, src, accept=accept))


def _annotator(completed_by, users: Mapping[int, str] | None, src: str) -> str:
    if isinstance(completed_by, dict):
        name = completed_by.get("email") or completed_by.get("username")
        if isinstance(name, str) and name:
            return name
        completed_by = completed_by.get("id")
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        if users is not None and completed_by in users:
            return users[completed_by]
        raise AnnotationDataError(
            f"{src}: completed_by is user id {completed_by}; give the user names (id -> e-mail) to map it"
        )
    raise AnnotationDataError(f"{src}: completed_by must name a user, got {completed_by!r}")


def _stage(who: str, role_of: Mapping[str, str] | None, src: str) -> int:
    if role_of is None:
        return 1
    if who not in role_of:
        raise AnnotationDataError(f"{src}: {who} has no role; roles are given for {sorted(role_of)}")
    role = role_of[who]
    if role not in ROLES:
        raise AnnotationDataError(f"{src}: role of {who} is {role!r}; expected one of {', '.join(ROLES)}")
    return ROLES[role]


def _score(v, at: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 100:
        raise AnnotationDataError(f"{at}: value.number must be a score between 0 and 100, got {v!r}")
    return float(v)


def _segments(value, fps, action: Action, who, stage, sample_id, at, trial, rep) -> list[TimelineSegment]:
    labels, ranges = value.get("timelinelabels"), value.get("ranges")
    allowed = (REPETITION_LABEL, *action.phase_names)
    if not isinstance(labels, list) or len(labels) != 1 or labels[0] not in allowed:
        raise AnnotationDataError(
            f"{at}: value.timelinelabels must be one of {list(allowed)}, got {labels!r}"
        )
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise AnnotationDataError(
            f"{at}: a timeline needs the task's data.fps (a positive number), got {fps!r}"
        )
    if not isinstance(ranges, list) or not ranges:
        raise AnnotationDataError(f"{at}: value.ranges must be a non-empty list of {{start, end}} frames")
    out = []
    for r in ranges:
        s, e = (r.get("start"), r.get("end")) if isinstance(r, dict) else (None, None)
        if (
            not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (s, e))
            or not 1 <= s <= e
        ):
            raise AnnotationDataError(f"{at}: a range must be frames 1 <= start <= end, got {r!r}")
        # Label Studio counts video frames from 1; frame n covers [(n-1)/fps, n/fps).
        out.append(TimelineSegment(who, stage, sample_id, labels[0], (s - 1) / fps, e / fps, at, trial, rep))
    return out


def repetition_bounds(
    segments: Iterable[TimelineSegment],
) -> dict[tuple[str, str], list[tuple[int, float, float | None, float]]]:
    """``(annotator, trial) -> [(rep, start, turn, end), ...]`` seconds, from the timeline spans of each sample.

    ``start``/``end`` is the ``repetition`` span; ``turn`` the start of the later of two drawn movement phases
    (e.g. eccentric -> concentric), or ``None`` when fewer than two are drawn. A sample needs exactly one
    repetition span per annotator, phases inside it; anything else raises :class:`AnnotationError`.
    """
    by_sample: dict[tuple[str, str], list[TimelineSegment]] = {}
    for seg in segments:
        by_sample.setdefault((seg.annotator, seg.sample_id), []).append(seg)
    out: dict[tuple[str, str], list[tuple[int, float, float | None, float]]] = {}
    for (who, sample), segs in by_sample.items():
        reps = [g for g in segs if g.label == REPETITION_LABEL]
        if len(reps) != 1:
            where = "; ".join(dict.fromkeys(g.source.rsplit(", result", 1)[0] for g in segs))
            raise AnnotationError(
                f"{where}: {who} drew {len(reps)} repetition spans for sample {sample}; a sample is one "
                "repetition, so draw exactly one (its phases inside it)"
            )
        (r,) = reps
        if r.trial is None or r.rep is None:
            raise AnnotationError(
                f"{r.source}: the task has no data.trial and data.rep to place the repetition"
            )
        moving = sorted(
            (g for g in segs if g.label not in (REPETITION_LABEL, "preparation")), key=lambda g: g.start
        )
        for g in segs:
            if g is not r and not (r.start <= g.start and g.end <= r.end):
                raise AnnotationError(
                    f"{g.source}: the {g.label} span {g.start:.3f}-{g.end:.3f} s lies outside the repetition "
                    f"{r.start:.3f}-{r.end:.3f} s"
                )
        turn = moving[-1].start if len(moving) >= 2 else None
        if turn is not None and not r.start < turn < r.end:
            raise AnnotationError(
                f"{moving[-1].source}: the {moving[-1].label} span must start inside the repetition "
                f"{r.start:.3f}-{r.end:.3f} s, not at its edge ({turn:.3f} s)"
            )
        out.setdefault((who, r.trial), []).append((r.rep, r.start, turn, r.end))
    return out


def users_from_api(items: Iterable[Mapping]) -> dict[int, str]:
    """``{id: email}`` from Label Studio's ``GET /api/users`` answer (to map bare ``completed_by`` ids)."""
    out = {}
    for k, u in enumerate(items):
        if not isinstance(u, Mapping) or not isinstance(u.get("id"), int) or not u.get("email"):
            raise AnnotationError(
                f"user #{k}: a Label Studio user needs an integer id and an email, got {u!r}"
            )
        out[u["id"]] = str(u["email"])
    return out


def read_users(path: str | Path) -> dict[int, str]:
    """User ids -> names from a JSON file: Label Studio's ``GET /api/users`` answer or ``{"1": "ann@lab.org"}``."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"{path}: cannot read the users file ({exc})") from exc
    try:
        if isinstance(raw, list):
            return users_from_api(raw)
        if isinstance(raw, dict) and all(
            str(k).isdigit() and isinstance(v, str) and v for k, v in raw.items()
        ):
            return {int(k): v for k, v in raw.items()}
    except AnnotationError as exc:
        raise AnnotationError(f"{path}: {exc}") from None
    raise AnnotationError(
        f"{path}: expected the list GET /api/users returns, or an object mapping user ids to names"
    )
