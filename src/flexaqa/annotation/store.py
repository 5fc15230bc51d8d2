"""The annotation store: SQLite (one file next to the dataset) or PostgreSQL (a lab server), same code.

Every write is one transaction that either lands whole or not at all; transient lock and serialisation
errors of concurrent writers are retried (tenacity). SQLite runs in WAL mode with a busy timeout and takes
the write lock at ``BEGIN`` so concurrent writers queue instead of failing. Label rows are append-only.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from flexaqa.annotation import _schema as T
from flexaqa.annotation._db import (
    RevisionRace,
    alembic_config,
    head_revision,
    make_engine,
    retry_transient,
    utcnow,
)
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
from flexaqa.annotation.workflow import assign_balanced, decide, majority
from flexaqa.data import open_dataset
from flexaqa.errors import KGError
from flexaqa.kg import load_kg, resolve_slots
from flexaqa.kg import score as fkg_score

DEFAULT_DB_NAME = "annotations.sqlite"
_CHUNK = 500


def default_url(data_dir: str | Path) -> str:
    """``sqlite:///DATA/annotations.sqlite``: the default store, one file next to the dataset."""
    return f"sqlite:///{Path(data_dir).resolve() / DEFAULT_DB_NAME}"


@dataclass
class Status:
    """Progress of a project: per stage, per annotator, and what is blocked (``status`` command)."""

    n_tasks: int
    stage: dict[int, dict[str, int]]  # stage -> {"assigned", "done"} (annotator-sample pairs)
    resolved: int
    annotators: dict[str, dict[str, int]]  # name -> {"stage1_assigned", "stage1_done", ...}
    blocked: list[Decision] = field(default_factory=list)  # samples that cannot be resolved yet, and why

    def to_dict(self) -> dict:
        return {
            "n_tasks": self.n_tasks,
            "stage": {str(k): v for k, v in self.stage.items()},
            "resolved": self.resolved,
            "annotators": self.annotators,
            "blocked": [
                {"sample_id": d.sample_id, "status": d.status, "detail": d.detail} for d in self.blocked
            ],
        }


class AnnotationStore:
    """All reads and writes of an annotation project. Open with :meth:`open` (an existing, migrated store) or
    :meth:`create` (runs the migrations, used by ``annotate init``)."""

    def __init__(self, url: str, engine: sa.Engine):
        self.url = url
        self.engine = engine
        self._kg = None

    # ------------------------------------------------------------------------------------------------ opening

    @classmethod
    def create(cls, url: str) -> AnnotationStore:
        """Open ``url``, creating the database file if needed and upgrading its schema to the newest."""
        store = cls(url, make_engine(url))
        with _reachable(url):
            store.migrate()
        return store

    @classmethod
    def open(cls, url: str) -> AnnotationStore:
        """Open an existing store; raises :class:`AnnotationError` if it was never initialised or is outdated."""
        engine = make_engine(url)
        parsed = engine.url
        if parsed.get_backend_name() == "sqlite" and not Path(parsed.database).is_file():
            raise MissingAnnotationInputError(
                f"{parsed.database}: no annotation store here; run `flexaqa annotate init`"
            )
        store = cls(url, engine)
        with _reachable(url):
            have = store.schema_revision()
        if have is None:
            raise AnnotationError(f"{url}: not an annotation store (no schema); run `flexaqa annotate init`")
        if have != head_revision():
            raise AnnotationError(
                f"{url}: schema revision {have}, this flexaqa needs {head_revision()}; "
                "run `flexaqa annotate init` to upgrade it (labels are kept)"
            )
        return store

    def migrate(self) -> None:
        """Run the Alembic migrations up to the newest revision (idempotent)."""
        from alembic import command

        with self.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def kg(self):
        if self._kg is None:
            self._kg = load_kg()
        return self._kg

    # ------------------------------------------------------------------------------------------------ project

    @retry_transient
    def init_project(self, data_dir: str | Path, *, labellers: int = 3, reviewers: int = 3) -> int:
        """Record the dataset and create one task per sample of its manifest; returns how many were new.

        Re-running adds the samples that are new in the dataset and keeps everything else.
        """
        if labellers < 1 or reviewers < 1:
            raise AnnotationError(
                f"--labellers and --reviewers must be at least 1, got {labellers}, {reviewers}"
            )
        data_dir = Path(data_dir).resolve()
        ds = open_dataset(data_dir)
        if ds.layout != "native":
            raise AnnotationError(
                f"{data_dir}: annotation needs the native layout (trials with keyframes); this is {ds.layout}"
            )
        with self.engine.begin() as conn:
            old = self._config(conn, required=False)
            if old is not None and Path(old.dataset) != data_dir:
                raise AnnotationError(
                    f"this store belongs to {old.dataset}, not {data_dir}; use a new --db for another dataset"
                )
            if old is not None and (old.labellers, old.reviewers) != (labellers, reviewers):
                raise AnnotationError(
                    f"this store was set up with {old.labellers} labellers and {old.reviewers} reviewers per "
                    f"sample; it cannot change to {labellers} and {reviewers}"
                )
            if old is None:
                cfg = {
                    "dataset": str(data_dir),
                    "labellers": labellers,
                    "reviewers": reviewers,
                    "kg_version": self.kg.version,
                }
                conn.execute(
                    sa.insert(T.project), [{"key": k, "value": json.dumps(v)} for k, v in cfg.items()]
                )
            have = set(conn.execute(sa.select(T.tasks.c.sample_id)).scalars())
            new = [
                {
                    "sample_id": r.id,
                    "trial": r.trial,
                    "action": r.action,
                    "rep": r.rep,
                    "start": r.start,
                    "end": r.end,
                    "created_at": utcnow(),
                }
                for r in ds.records
                if r.id not in have
            ]
            if new:
                conn.execute(sa.insert(T.tasks), new)
        return len(new)

    def config(self) -> ProjectConfig:
        with self.engine.connect() as conn:
            return self._config(conn)

    def _config(self, conn, required: bool = True) -> ProjectConfig | None:
        rows = dict(conn.execute(sa.select(T.project.c.key, T.project.c.value)).all())
        if not rows:
            if required:
                raise AnnotationError(f"{self.url}: no project yet; run `flexaqa annotate init --data DIR`")
            return None
        d = {k: json.loads(v) for k, v in rows.items()}
        return ProjectConfig(**d)

    def tasks(self) -> list[Task]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(T.tasks).order_by(T.tasks.c.sample_id)).all()
        return [Task(r.sample_id, r.trial, r.action, r.rep, r.start, r.end) for r in rows]

    # ------------------------------------------------------------------------------------------------ assign

    @retry_transient
    def assign(
        self, labellers: Sequence[str], reviewers: Sequence[str]
    ) -> dict[tuple[str, int], tuple[str, ...]]:
        """Assign every sample without assignments to labellers and reviewers (:func:`assign_balanced`)."""
        with self.engine.begin() as conn:
            cfg = self._config(conn)
            samples = list(
                conn.execute(sa.select(T.tasks.c.sample_id).order_by(T.tasks.c.sample_id)).scalars()
            )
            existing = self._assignments(conn)
            new = assign_balanced(
                samples,
                labellers,
                reviewers,
                n_labellers=cfg.labellers,
                n_reviewers=cfg.reviewers,
                existing=existing,
            )
            rows = [
                {"sample_id": s, "annotator": a, "stage": st, "created_at": utcnow()}
                for (s, st), people in new.items()
                for a in people
            ]
            if rows:
                conn.execute(sa.insert(T.assignments), rows)
        return new

    def assignments(self) -> dict[tuple[str, int], tuple[str, ...]]:
        """``(sample, stage) -> annotators`` assigned."""
        with self.engine.connect() as conn:
            return self._assignments(conn)

    def _assignments(
        self, conn, samples: Iterable[str] | None = None
    ) -> dict[tuple[str, int], tuple[str, ...]]:
        q = sa.select(T.assignments.c.sample_id, T.assignments.c.stage, T.assignments.c.annotator).order_by(
            T.assignments.c.id
        )
        out: dict[tuple[str, int], list[str]] = {}
        for chunk in _chunks(samples):
            qq = q if chunk is None else q.where(T.assignments.c.sample_id.in_(chunk))
            for s, st, a in conn.execute(qq):
                out.setdefault((s, st), []).append(a)
        return {k: tuple(v) for k, v in out.items()}

    # ------------------------------------------------------------------------------------------------ labels

    def submit(self, subs: Sequence[LabelSubmission], *, revise: bool = False) -> list[int]:
        """Store labels (stage 1) and reviews (stage 2) in one transaction; returns the new row ids.

        Every row is checked first: the sample is a task, the annotator is assigned to it at that stage, the
        slots are the action's, a stage-1 label has not been given before (unless ``revise``: the new row then
        replaces the current one), a review comes after all stage-1 labels and not from one of the sample's
        labellers. Any problem raises :class:`AnnotationError` listing every bad row; nothing is written.
        """
        if not subs:
            return []
        return self._submit(list(subs), revise)

    @retry_transient
    def _submit(self, subs: list[LabelSubmission], revise: bool) -> list[int]:
        kg = self.kg
        samples = sorted({s.sample_id for s in subs})
        with self.engine.begin() as conn:
            tasks = {}
            for chunk in _chunks(samples):
                for r in conn.execute(sa.select(T.tasks).where(T.tasks.c.sample_id.in_(chunk))):
                    tasks[r.sample_id] = r
            assigned = self._assignments(conn, samples)
            current = self._current(conn, samples)
            problems, rows, seen = [], [], {}
            for k, sub in enumerate(subs):
                where = sub.source or f"row {k + 1}"
                try:
                    rows.append(self._check(sub, tasks, assigned, current, seen, revise, kg))
                except (AnnotationError, KGError) as exc:
                    problems.append(f"{where}: {exc}")
                    continue
                seen[(sub.sample_id, sub.annotator, sub.stage)] = where
            if problems:
                more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
                raise AnnotationDataError(
                    f"{len(problems)} of {len(subs)} label(s) rejected, nothing written:\n  "
                    + "\n  ".join(problems[:20])
                    + more
                )
            ids = []
            try:
                for row in rows:
                    ids.append(conn.execute(sa.insert(T.labels).returning(T.labels.c.id), row).scalar_one())
            except sa.exc.IntegrityError as exc:
                if revise:
                    raise RevisionRace() from exc
                raise AnnotationDataError(
                    f"another writer labelled {row['sample_id']} as {row['annotator']} (stage {row['stage']}) at "
                    "the same moment; nothing written, use --revise to replace that label"
                ) from exc
        return ids

    def _check(self, sub, tasks, assigned, current, seen, revise, kg) -> dict:
        if sub.stage not in (1, 2):
            raise AnnotationError(f"stage must be 1 (label) or 2 (review), got {sub.stage!r}")
        if not sub.annotator or not str(sub.annotator).strip():
            raise AnnotationError("annotator name is empty")
        task = tasks.get(sub.sample_id)
        if task is None:
            raise AnnotationError(
                f"sample {sub.sample_id!r} is not in the dataset (no task; `annotate init` makes tasks)"
            )
        key = (sub.sample_id, sub.annotator, sub.stage)
        if key in seen:
            raise AnnotationError(
                f"{sub.annotator} labels {sub.sample_id} (stage {sub.stage}) twice in one submission "
                f"(also at {seen[key]})"
            )
        if sub.annotator not in assigned.get((sub.sample_id, sub.stage), ()):
            who = ", ".join(assigned.get((sub.sample_id, sub.stage), ())) or "nobody (run `annotate assign`)"
            raise AnnotationError(
                f"{sub.annotator} is not assigned to sample {sub.sample_id} at stage {sub.stage}; assigned: {who}"
            )
        if sub.repetition is not None and sub.repetition != task.rep:
            raise AnnotationError(
                f"repetition {sub.repetition} given for {sub.sample_id}, which is repetition {task.rep}"
            )
        if sub.score is not None and not 0 <= float(sub.score) <= 100:
            raise AnnotationError(f"score must be 0..100, got {sub.score}")
        act = kg.action(task.action)
        if sub.stage == 2 and sub.accept and sub.slots:
            raise AnnotationError("a review that accepts the stage-1 majority carries no slots of its own")
        slots = tuple(s.id for s in _resolve(act, sub.slots, kg))
        mine = current.get(key)
        if mine is not None and not revise:
            raise AnnotationError(
                f"{sub.annotator} already labelled {sub.sample_id} at stage {sub.stage} (label {mine.id}, "
                f"revision {mine.revision}); use --revise to replace it"
            )
        if revise and mine is None:
            raise AnnotationError(
                f"--revise: {sub.annotator} has no stage-{sub.stage} label of {sub.sample_id}"
            )
        verdict = "label"
        if sub.stage == 2:
            labellers = assigned.get((sub.sample_id, 1), ())
            if sub.annotator in labellers:
                raise AnnotationError(f"{sub.annotator} labelled {sub.sample_id} and cannot review it")
            stage1 = [current[(sub.sample_id, a, 1)] for a in labellers if (sub.sample_id, a, 1) in current]
            if len(stage1) < len(labellers) or not labellers:
                lacking = [a for a in labellers if (sub.sample_id, a, 1) not in current]
                raise AnnotationError(
                    f"review of {sub.sample_id} before its stage-1 labels are in: {len(stage1)} of "
                    f"{len(labellers)} labelled (waiting for {', '.join(lacking) or 'assignment'})"
                )
            verdict = "accept" if sub.accept else "vote"
            if sub.accept:
                slots, _ = majority([r.slots for r in stage1], [s.id for s in act.slots])

        return {
            "sample_id": sub.sample_id,
            "annotator": sub.annotator,
            "stage": sub.stage,
            "revision": 1 if mine is None else mine.revision + 1,
            "replaces": None if mine is None else mine.id,
            "verdict": verdict,
            "slots": json.dumps(list(slots)),
            "fkg_score": fkg_score(act, slots, kg=kg).score,
            "score": None if sub.score is None else float(sub.score),
            "feedback": sub.feedback or "",
            "repetition": sub.repetition,
            "source": sub.source or "",
            "created_at": utcnow(),
        }

    def _current(self, conn, samples: Iterable[str] | None = None) -> dict[tuple[str, str, int], LabelRow]:
        out: dict[tuple[str, str, int], LabelRow] = {}
        for row in self._rows(conn, samples):
            key = (row.sample_id, row.annotator, row.stage)
            if key not in out or row.revision > out[key].revision:
                out[key] = row
        return out

    def _rows(self, conn, samples: Iterable[str] | None = None) -> list[LabelRow]:
        q = sa.select(T.labels).order_by(T.labels.c.id)
        out = []
        for chunk in _chunks(samples):
            qq = q if chunk is None else q.where(T.labels.c.sample_id.in_(chunk))
            out.extend(_label_row(r) for r in conn.execute(qq))
        return out

    def history(self, sample_id: str | None = None) -> list[LabelRow]:
        """Every label row ever written (of one sample), oldest first, revisions included."""
        with self.engine.connect() as conn:
            return self._rows(conn, None if sample_id is None else [sample_id])

    def current_labels(self, stage: int | None = None) -> dict[tuple[str, str, int], LabelRow]:
        """``(sample, annotator, stage) -> LabelRow`` of the newest revision of each label."""
        with self.engine.connect() as conn:
            cur = self._current(conn)
        return {k: v for k, v in cur.items() if stage is None or k[2] == stage}

    def pending_reviews(self, reviewer: str) -> list[str]:
        """Samples assigned to ``reviewer`` whose stage-1 labels are all in and that they have not reviewed."""
        with self.engine.connect() as conn:
            assigned = self._assignments(conn)
            current = self._current(conn)
        out = []
        for (sid, stage), people in sorted(assigned.items()):
            if stage != 2 or reviewer not in people or (sid, reviewer, 2) in current:
                continue
            if all((sid, a, 1) in current for a in assigned.get((sid, 1), ())):
                out.append(sid)
        return out

    # ------------------------------------------------------------------------------------------------ segments

    @retry_transient
    def add_segments(
        self, trial: str, reps: Sequence[tuple[int, float, float | None, float]], *, kind: str, annotator: str
    ) -> int:
        """Append boundaries ``(rep, start, turn, end)`` (seconds) of a trial's repetitions, as a ``proposal``
        (the segmenter) or a ``correction`` (a person). Checks order and that the reps exist."""
        if kind not in ("proposal", "correction"):
            raise AnnotationError(f"segment kind must be proposal or correction, got {kind!r}")
        with self.engine.begin() as conn:
            known = dict(
                conn.execute(
                    sa.select(T.tasks.c.rep, T.tasks.c.sample_id).where(T.tasks.c.trial == trial)
                ).all()
            )
            if not known:
                raise AnnotationError(f"trial {trial!r} has no samples in this project")
            rows = []
            for rep, start, turn, end in reps:
                if kind == "correction" and rep not in known:
                    raise AnnotationError(f"trial {trial} has no repetition {rep}; it has {sorted(known)}")
                inner = [start, turn, end] if turn is not None else [start, end]
                if any(b <= a for a, b in itertools.pairwise(inner)) or start < 0:
                    raise AnnotationError(
                        f"trial {trial} rep {rep}: boundaries must be 0 <= start < turn < end, got "
                        f"start={start} turn={turn} end={end}"
                    )
                rows.append(
                    {
                        "trial": trial,
                        "rep": rep,
                        "start": start,
                        "turn": turn,
                        "end": end,
                        "kind": kind,
                        "annotator": annotator,
                        "created_at": utcnow(),
                    }
                )
            conn.execute(sa.insert(T.segments), rows)
        return len(rows)

    def segments(self, trial: str | None = None, kind: str = "correction") -> dict[tuple[str, int], dict]:
        """The newest boundaries of each ``(trial, rep)`` of ``kind``."""
        q = sa.select(T.segments).where(T.segments.c.kind == kind).order_by(T.segments.c.id)
        if trial is not None:
            q = q.where(T.segments.c.trial == trial)
        with self.engine.connect() as conn:
            return {(r.trial, r.rep): dict(r._mapping) for r in conn.execute(q)}

    # ------------------------------------------------------------------------------------------------ resolve

    def decisions(self) -> list[Decision]:
        """What :func:`decide` makes of every sample now (nothing is written)."""
        kg = self.kg
        with self.engine.connect() as conn:
            tasks = conn.execute(sa.select(T.tasks).order_by(T.tasks.c.sample_id)).all()
            assigned = self._assignments(conn)
            current = self._current(conn)
        by_sample: dict[str, list[LabelRow]] = {}
        for (s, _, _), row in current.items():
            by_sample.setdefault(s, []).append(row)
        out = []
        for t in tasks:
            rows = by_sample.get(t.sample_id, [])
            out.append(
                decide(
                    t.sample_id,
                    [r for r in rows if r.stage == 1],
                    [r for r in rows if r.stage == 2],
                    labellers=assigned.get((t.sample_id, 1), ()),
                    reviewers=assigned.get((t.sample_id, 2), ()),
                    slot_order=[s.id for s in kg.action(t.action).slots],
                )
            )
        return out

    @retry_transient
    def resolve(self) -> tuple[list[Decision], int]:
        """Record the decision of every sample that can be decided; returns all decisions and how many rows
        were written (a sample whose decision is unchanged gets no new row, so re-running writes nothing)."""
        decisions = self.decisions()
        kg = self.kg
        with self.engine.begin() as conn:
            latest = self._resolutions(conn)
            actions = dict(conn.execute(sa.select(T.tasks.c.sample_id, T.tasks.c.action)).all())
            rows = []
            for d in decisions:
                if d.status != "resolved":
                    continue
                old = latest.get(d.sample_id)
                if old is not None and tuple(old["slots"]) == d.slots and tuple(old["votes"]) == d.votes:
                    continue
                rows.append(
                    {
                        "sample_id": d.sample_id,
                        "slots": json.dumps(list(d.slots)),
                        "score": fkg_score(actions[d.sample_id], d.slots, kg=kg).score,
                        "method": d.method,
                        "votes": json.dumps(list(d.votes)),
                        "created_at": utcnow(),
                    }
                )
            if rows:
                conn.execute(sa.insert(T.resolutions), rows)
        return decisions, len(rows)

    def resolutions(self) -> dict[str, dict]:
        """The newest recorded decision of each resolved sample: ``{"slots", "score", "method", "votes"}``."""
        with self.engine.connect() as conn:
            return self._resolutions(conn)

    def _resolutions(self, conn) -> dict[str, dict]:
        out = {}
        for r in conn.execute(sa.select(T.resolutions).order_by(T.resolutions.c.id)):
            out[r.sample_id] = {
                "slots": tuple(json.loads(r.slots)),
                "score": r.score,
                "method": r.method,
                "votes": tuple(json.loads(r.votes)),
                "created_at": r.created_at,
            }
        return out

    # ------------------------------------------------------------------------------------------------ status

    def status(self) -> Status:
        with self.engine.connect() as conn:
            n_tasks = conn.execute(sa.select(sa.func.count()).select_from(T.tasks)).scalar_one()
            assigned = self._assignments(conn)
            current = self._current(conn)
            resolved = self._resolutions(conn)
        stage = {1: {"assigned": 0, "done": 0}, 2: {"assigned": 0, "done": 0}}
        people: dict[str, dict[str, int]] = {}
        for (s, st), names in assigned.items():
            for a in names:
                p = people.setdefault(
                    a, {"stage1_assigned": 0, "stage1_done": 0, "stage2_assigned": 0, "stage2_done": 0}
                )
                p[f"stage{st}_assigned"] += 1
                stage[st]["assigned"] += 1
                if (s, a, st) in current:
                    p[f"stage{st}_done"] += 1
                    stage[st]["done"] += 1
        blocked = [d for d in self.decisions() if d.status != "resolved"]
        return Status(
            n_tasks=n_tasks, stage=stage, resolved=len(resolved), annotators=people, blocked=blocked
        )


@contextlib.contextmanager
def _reachable(url: str):
    """Connection failures (server down, wrong host or user) as a one-line error naming the store."""
    try:
        yield
    except sa.exc.OperationalError as exc:
        raise AnnotationError(f"{url}: cannot open the store ({str(exc.orig).strip()})") from exc


def _resolve(act, slots, kg):
    return resolve_slots(act, slots, kg=kg)


def _label_row(r) -> LabelRow:
    return LabelRow(
        id=r.id,
        sample_id=r.sample_id,
        annotator=r.annotator,
        stage=r.stage,
        revision=r.revision,
        replaces=r.replaces,
        verdict=r.verdict,
        slots=tuple(json.loads(r.slots)),
        fkg_score=r.fkg_score,
        score=r.score,
        feedback=r.feedback,
        repetition=r.repetition,
        source=r.source,
        created_at=r.created_at,
    )


def _chunks(items: Iterable[str] | None):
    if items is None:
        yield None
        return
    items = list(items)
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]
