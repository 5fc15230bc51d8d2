"""flexaqa's native dataset layout: one folder per trial (mp4 per view, ``.npy`` streams with their rates,
``annotations.json`` with keyframes) and a ``manifest.csv`` of samples. Field-by-field spec:
``docs/data-format.md``.

Writing is two steps so that many processes can write trials in parallel: :func:`write_trial` per trial, then
:func:`finalize_dataset` once, which scans ``trials/`` and writes ``manifest.csv``, ``subjects.csv``,
``dataset.json`` and the split files. A trial folder appears whole or not at all: it is written under
``.staging/`` and renamed into ``trials/`` (a writer killed midway leaves only a ``.staging/`` entry, which
:func:`finalize_dataset` removes).
"""

from __future__ import annotations

import datetime
import io
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from flexaqa._io import (
    atomic_write_bytes,
    atomic_write_text,
    clear_staging,
    json_text,
    publish_dir,
    staging_dir,
)
from flexaqa.data._threads import in_loader_worker, thread_map, usable_cores
from flexaqa.data.base import (
    DatasetSource,
    opt_float,
    opt_int,
    read_csv_dicts,
    register_layout,
    times_to_frames,
    uniform_times,
    write_csv_text,
)
from flexaqa.data.schema import (
    Annotation,
    CorruptSampleError,
    DataError,
    Sample,
    SampleRecord,
    Stream,
    Subject,
    Trial,
    View,
    check_modalities,
    sample_id,
    skill_of,
    trial_id,
)
from flexaqa.data.splits import PROTOCOLS, generate_splits, save_splits
from flexaqa.data.video import VideoHandles, write_mp4
from flexaqa.errors import require
from flexaqa.kg import load_kg
from flexaqa.timebase import seconds_to_index

FORMAT_NAME = "flexaqa-native"
FORMAT_VERSION = 1
STREAMS = ("pose", "emg", "heart_rate", "breath")
STREAM_UNITS = {"pose": "m", "emg": "mV", "heart_rate": "bpm", "breath": "a.u."}
MANIFEST_COLUMNS = (
    "sample_id",
    "trial",
    "subject",
    "skill",
    "action",
    "class_index",
    "rep",
    "start",
    "end",
    "duration",
    "score",
    "n_errors",
    "load_kg",
    "split",
)
FILE_COLUMNS = ("trial", "modality", "view", "path", "rate", "length")
SUBJECT_COLUMNS = ("id", "skill", "height_cm", "weight_kg", "age", "body_fat_pct")


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def write_trial(
    root: str | Path,
    trial: Trial,
    *,
    crf: int = 18,
    lossless: bool = False,
    stream_dtype=np.float32,
    extra_files: Mapping[str, str | bytes] | None = None,
) -> Path:
    """Write one trial under ``root/trials/<subject>-<class_id>/`` and return that folder.

    Video frames in ``trial.frames`` become ``video/<view>.mp4`` (H.264); streams become ``<name>.npy``
    (time on axis 0, ``stream_dtype``); ``reps`` become ``annotations.json``; ``extra_files`` (name -> text or
    bytes, e.g. the simulator's ``synth.json``) are written beside them. sEMG channel names default to the
    knowledge graph's channel labels of the action. The folder is written under ``root/.staging/`` and renamed
    into place when complete (replacing an older one), so a reader or a killed writer never sees half a trial.
    """
    kg = load_kg()
    act = kg.action(trial.action)
    tid = trial_id(trial.subject, act.class_id)
    tdir = Path(root) / "trials" / tid
    meta: dict = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "trial": tid,
        "subject": trial.subject,
        "action": act.slug,
        "class_id": act.class_id,
        "load_kg": trial.load_kg,
        "views": [],
        "streams": {},
    }
    # check everything before writing anything
    unknown = set(trial.frames) - {v.name for v in trial.views}
    if unknown:
        raise DataError(f"trial {tid}: frames given for {sorted(unknown)} but trial.views has no such view")
    if trial.pose is not None and np.shape(trial.pose.data)[1:] != (21, 3):
        raise DataError(
            f"trial {tid}: pose must be (T, 21, 3) FLEX-21 joints, got {np.shape(trial.pose.data)}"
        )
    labels = [c.label for c in act.emg_channels]
    if trial.emg is not None and (np.ndim(trial.emg.data) != 2 or np.shape(trial.emg.data)[1] != len(labels)):
        raise DataError(
            f"trial {tid}: sEMG must be (N, {len(labels)}) for {act.name} (channels {labels}), "
            f"got {np.shape(trial.emg.data)}"
        )
    reps = []
    for ann in trial.reps:
        d = ann.to_dict()
        d["action"] = act.slug
        d["sample_id"] = sample_id(trial.subject, act.class_id, ann.rep)
        reps.append(d)
    if len({r["sample_id"] for r in reps}) != len(reps):
        raise DataError(f"trial {tid}: repetition numbers are not unique: {[r['rep'] for r in reps]}")
    stage = staging_dir(root, tid)
    try:
        for view in trial.views:
            entry = view.to_dict()
            frames = trial.frames.get(view.name)
            if frames is not None:
                rel = f"video/{view.name}.mp4"
                write_mp4(stage / rel, frames, view.fps, crf=crf, lossless=lossless)
                entry.update(file=rel, n_frames=len(frames))
            else:
                entry.update(file=None, n_frames=None)
            meta["views"].append(entry)
        for name in STREAMS:
            s: Stream | None = getattr(trial, name)
            if s is None:
                continue
            data = np.asarray(s.data)
            names = list(s.names) or (labels if name == "emg" else [])
            atomic_write_bytes(stage / f"{name}.npy", _npy_bytes(data.astype(stream_dtype)))
            meta["streams"][name] = {
                "file": f"{name}.npy",
                "rate": s.rate,
                "start": s.start,
                "shape": list(data.shape),
                "dtype": np.dtype(stream_dtype).name,
                "unit": s.unit or STREAM_UNITS[name],
                "names": names,
            }
        atomic_write_text(stage / "annotations.json", json_text({"trial": tid, "reps": reps}, indent=1))
        for name, content in (extra_files or {}).items():
            atomic_write_bytes(stage / name, content.encode("utf-8") if isinstance(content, str) else content)
        atomic_write_text(stage / "trial.json", json_text(meta, indent=1))  # last: marks the trial complete
        publish_dir(stage, tdir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # gone already when published
    return tdir


def finalize_dataset(
    root: str | Path,
    *,
    name: str = "flex-native",
    description: str = "",
    subjects: Sequence[Subject] | None = None,
    make_splits: bool = True,
    seed: int = 0,
    parquet: bool = False,
) -> Path:
    """Scan ``root/trials/*`` (once every :func:`write_trial` has returned) and write ``manifest.csv``,
    ``subjects.csv``, ``loads.csv``, ``dataset.json`` and (``make_splits``) the seeded split files under
    ``splits/``. Returns the manifest path.

    ``subjects`` gives body metrics; subjects not listed get only the skill level their id implies.
    """
    kg = load_kg()
    root = Path(root)
    clear_staging(root)  # every writer has finished: what is left there was left by a killed one
    trial_dirs = sorted(p.parent for p in (root / "trials").glob("*/trial.json"))
    if not trial_dirs:
        raise DataError(f"{root}: no trials/*/trial.json to index; write trials with write_trial first")
    by_subject = {s.id: s for s in subjects or ()}
    rows, files = [], []
    loads: dict[tuple[str, str], float] = {}
    for tdir in trial_dirs:
        meta = _read_json(tdir / "trial.json")
        ann = _read_json(tdir / "annotations.json")
        act = kg.action(meta["action"])
        rel = f"trials/{tdir.name}"
        for v in meta["views"]:
            if v.get("file"):
                files.append(
                    (tdir.name, "video", v["name"], f"{rel}/{v['file']}", v["fps"], v.get("n_frames"))
                )
        for stream, spec in meta["streams"].items():
            files.append((tdir.name, stream, None, f"{rel}/{spec['file']}", spec["rate"], spec["shape"][0]))
        files.append((tdir.name, "annotations", None, f"{rel}/annotations.json", None, len(ann["reps"])))
        subj = meta["subject"]
        skill = by_subject[subj].skill if subj in by_subject else _skill_or_none(subj)
        if meta.get("load_kg") is not None:
            loads[(subj, act.slug)] = meta["load_kg"]
        for r in ann["reps"]:
            kf = r["keyframes"]
            rows.append(
                [
                    r["sample_id"],
                    meta["trial"],
                    subj,
                    skill,
                    act.slug,
                    act.index,
                    r["rep"],
                    kf["start"],
                    kf["end"],
                    kf["end"] - kf["start"],
                    r.get("score"),
                    len(r.get("slots", ())),
                    meta.get("load_kg"),
                    None,
                ]
            )
    records = [_record_from_row(dict(zip(MANIFEST_COLUMNS, r, strict=True))) for r in rows]
    if make_splits:
        for protocol in PROTOCOLS:
            try:
                save_splits(root, protocol, generate_splits(records, protocol, seed=seed), seed=seed)
            except DataError:
                if protocol == "random":
                    raise
        default = generate_splits(records, "random", seed=seed)
        where = {i: k for k, ids in default.items() for i in ids}
        for r in rows:
            r[-1] = where.get(r[0])
    atomic_write_text(root / "manifest.csv", write_csv_text(MANIFEST_COLUMNS, rows))
    if parquet:
        _write_parquet(root / "manifest.parquet", rows)
    subj_ids = sorted({r[2] for r in rows} | set(by_subject))
    subj_rows = []
    for sid in subj_ids:
        s = by_subject.get(sid) or Subject(sid, _skill_or_none(sid))
        subj_rows.append([s.id, s.skill, s.height_cm, s.weight_kg, s.age, s.body_fat_pct])
        for a, w in s.loads_kg.items():  # the trial's own load wins over the subject table
            loads.setdefault((s.id, kg.action(a).slug), w)
    atomic_write_text(root / "subjects.csv", write_csv_text(SUBJECT_COLUMNS, subj_rows))
    atomic_write_text(
        root / "loads.csv",
        write_csv_text(("subject", "action", "load_kg"), [(*k, w) for k, w in sorted(loads.items())]),
    )
    atomic_write_text(root / "files.csv", write_csv_text(FILE_COLUMNS, files))
    info = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "name": name,
        "description": description,
        "kg_version": kg.version,
        "n_trials": len(trial_dirs),
        "n_samples": len(rows),
        "split_seed": seed if make_splits else None,
        "created": datetime.date.today().isoformat(),
    }
    atomic_write_text(root / "dataset.json", json_text(info, indent=1))
    return root / "manifest.csv"


def _write_parquet(path: Path, rows) -> None:
    pa = require("pyarrow", "parquet", "writing manifest.parquet")
    pq = require("pyarrow.parquet", "parquet", "writing manifest.parquet")
    cols = {c: [r[i] for r in rows] for i, c in enumerate(MANIFEST_COLUMNS)}
    pq.write_table(pa.table(cols), str(path))


def _skill_or_none(sid: str) -> str | None:
    try:
        return skill_of(sid)
    except DataError:
        return None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CorruptSampleError(path, "file is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptSampleError(path, f"expected valid JSON ({exc})") from exc


def _record_from_row(row: dict) -> SampleRecord:
    return SampleRecord(
        id=str(row["sample_id"]),
        action=str(row["action"]),
        class_index=int(row["class_index"]),
        subject=row.get("subject") or None,
        skill=row.get("skill") or None,
        trial=row.get("trial") or None,
        rep=opt_int(_s(row.get("rep"))),
        start=opt_float(_s(row.get("start"))),
        end=opt_float(_s(row.get("end"))),
        score=opt_float(_s(row.get("score"))),
        load_kg=opt_float(_s(row.get("load_kg"))),
        split=row.get("split") or None,
    )


def _s(v) -> str | None:
    return None if v is None else str(v)


def read_manifest(root: str | Path) -> list[SampleRecord]:
    """The sample records of a native dataset (``manifest.csv``, or ``manifest.parquet`` with pyarrow)."""
    root = Path(root)
    path = root / "manifest.csv"
    if path.is_file():
        rows = read_csv_dicts(path)
    elif (root / "manifest.parquet").is_file():
        pq = require("pyarrow.parquet", "parquet", "reading manifest.parquet")
        rows = pq.read_table(str(root / "manifest.parquet")).to_pylist()
        path = root / "manifest.parquet"
    else:
        raise DataError(
            f"{root}: no manifest.csv, so not a finished native dataset (its writer stopped before indexing the "
            "trials); write it again, e.g. `flexaqa synth --out DIR --force` or `flexaqa data tiny DIR --force`"
        )
    missing = [c for c in ("sample_id", "action", "class_index") if rows and c not in rows[0]]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(MANIFEST_COLUMNS)}"
        )
    out = []
    for k, row in enumerate(rows, start=2):
        try:
            out.append(_record_from_row(row))
        except (ValueError, TypeError) as exc:
            raise DataError(f"{path}: row {k}: {exc}") from exc
    return out


def read_subjects(root: str | Path) -> dict[str, Subject]:
    """Subjects of a native dataset with their body metrics and per-action loads."""
    root = Path(root)
    subjects: dict[str, Subject] = {}
    if (root / "subjects.csv").is_file():
        for row in read_csv_dicts(root / "subjects.csv"):
            subjects[row["id"]] = Subject(
                id=row["id"],
                skill=row.get("skill") or None,
                height_cm=opt_float(row.get("height_cm")),
                weight_kg=opt_float(row.get("weight_kg")),
                age=opt_float(row.get("age")),
                body_fat_pct=opt_float(row.get("body_fat_pct")),
            )
    if (root / "loads.csv").is_file():
        for row in read_csv_dicts(root / "loads.csv"):
            s = subjects.setdefault(row["subject"], Subject(row["subject"], _skill_or_none(row["subject"])))
            if row.get("load_kg"):
                s.loads_kg[row["action"]] = float(row["load_kg"])
    return subjects


@register_layout
class NativeDataset(DatasetSource):
    """Reader of the native layout. ``records`` come from ``manifest.csv``; :meth:`load` cuts one repetition
    out of its trial (video frames by seeking in the mp4, streams by time)."""

    layout = "native"
    #: open mp4 handles kept per reader (:class:`~flexaqa.data.video.VideoHandles`; 0: open per read); each
    #: holds its decoder's reference frames (3.6 MB measured at 640x360; more in proportion to the pixels)
    open_videos: int = 4
    #: threads decoding a sample's video: views concurrently, then slice threads per view (``None``: one per
    #: core, one in a DataLoader worker; 1: everything in the calling thread)
    decode_threads: int | None = None

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (root / "dataset.json").is_file() or (root / "manifest.csv").is_file()

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.info = _read_json(self.root / "dataset.json") if (self.root / "dataset.json").is_file() else {}
        self.records = read_manifest(self.root)
        self._trials: dict[str, dict] = {}
        self._anns: dict[str, dict[str, Annotation]] = {}
        if (self.root / "files.csv").is_file():
            views = {
                r["view"] for r in read_csv_dicts(self.root / "files.csv") if r.get("modality") == "video"
            }
        else:
            views = set()
        if not views:  # no video files: the views the trials declare
            views = {v["name"] for r in self.records[:1] for v in self.trial_meta(r.trial)["views"]}
        self.view_names = tuple(sorted(views))
        self._videos = VideoHandles(self.open_videos, threads=None)

    def missing_report(self) -> dict[str, list[str]]:
        """Sample ids whose trial lacks each modality (``video:View-k``, ``pose``, ``emg``, ...): not recorded,
        or listed in ``trial.json`` but its file is gone."""
        out: dict[str, list[str]] = {}
        for r in self.records:
            meta = self.trial_meta(r.trial)
            tdir = self.trial_dir(r.trial)
            have = {
                f"video:{v['name']}" for v in meta["views"] if v.get("file") and (tdir / v["file"]).is_file()
            }
            have |= {m for m, spec in meta["streams"].items() if (tdir / spec["file"]).is_file()}
            for m in [*(f"video:{v}" for v in self.view_names), *STREAMS]:
                if m not in have:
                    out.setdefault(m, []).append(r.id)
        return out

    @property
    def subjects(self) -> dict[str, Subject]:
        return read_subjects(self.root)

    def trial_dir(self, trial: str) -> Path:
        return self.root / "trials" / trial

    def trial_meta(self, trial: str) -> dict:
        if trial not in self._trials:
            self._trials[trial] = _read_json(self.trial_dir(trial) / "trial.json")
        return self._trials[trial]

    def annotation(self, key) -> Annotation:
        rec = self.record(key)
        if rec.trial not in self._anns:
            path = self.trial_dir(rec.trial) / "annotations.json"
            data = _read_json(path)
            try:
                self._anns[rec.trial] = {r["sample_id"]: Annotation.from_dict(r) for r in data["reps"]}
            except (KeyError, TypeError, ValueError) as exc:
                raise CorruptSampleError(
                    path, f"expected reps with rep, keyframes, slots, score ({exc!r})"
                ) from exc
        anns = self._anns[rec.trial]
        if rec.id not in anns:
            raise CorruptSampleError(
                self.trial_dir(rec.trial) / "annotations.json", f"no repetition {rec.id}"
            )
        return anns[rec.id]

    def views(self, trial: str) -> dict[str, View]:
        return {v["name"]: View.from_dict(v) for v in self.trial_meta(trial)["views"]}

    def stream(self, trial: str, name: str, *, mmap: bool = True) -> Stream | None:
        """The whole-trial stream ``name`` (``pose``/``emg``/``heart_rate``/``breath``) or ``None`` if absent."""
        spec = self.trial_meta(trial)["streams"].get(name)
        if spec is None:
            return None
        path = self.trial_dir(trial) / spec["file"]
        if not path.is_file():
            raise CorruptSampleError(path, f"{name} file listed in trial.json is missing")
        try:
            data = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise CorruptSampleError(path, f"expected a .npy array of shape {spec['shape']} ({exc})") from exc
        if list(data.shape) != list(spec["shape"]):
            raise CorruptSampleError(
                path, f"expected shape {tuple(spec['shape'])} as trial.json says, got {data.shape}"
            )
        return Stream(
            data,
            rate=spec["rate"],
            start=spec.get("start", 0.0),
            names=spec.get("names", ()),
            unit=spec.get("unit", ""),
        )

    def video_path(self, trial: str, view: str) -> Path | None:
        for v in self.trial_meta(trial)["views"]:
            if v["name"] == view:
                return self.trial_dir(trial) / v["file"] if v.get("file") else None
        raise DataError(
            f"trial {trial} has no view {view!r}; it has {[v['name'] for v in self.trial_meta(trial)['views']]}"
        )

    def load(
        self,
        key,
        *,
        modalities: Sequence[str] = ("video", "pose", "emg"),
        views: Sequence[str] | None = None,
        num_frames: int | None = None,
        size: int | tuple[int, int] | None = None,
    ) -> Sample:
        """Load one repetition. Video: every frame of the repetition, or ``num_frames`` evenly spread, per view,
        resized to ``size``. Streams are cut to the repetition's keyframes. Absent modalities go to
        ``sample.missing``; unreadable or inconsistent files raise :class:`CorruptSampleError`."""
        modalities = check_modalities(modalities)
        rec = self.record(key)
        ann = self.annotation(rec)
        t0, t1 = ann.keyframes.start, ann.keyframes.end
        all_views = self.views(rec.trial)
        sample = Sample(record=rec, annotation=ann, views=all_views)
        missing = []
        if "video" in modalities:
            jobs = []
            for name in views or self.view_names:
                if name not in all_views:
                    missing.append(f"video:{name}")
                    continue
                path = self.video_path(rec.trial, name)
                if path is None:
                    missing.append(f"video:{name}")
                    continue
                fps = all_views[name].fps
                if num_frames:
                    idx = times_to_frames(uniform_times(t0, t1, num_frames), fps, t0, t1)
                else:
                    i0 = seconds_to_index(t0, fps, rounding="ceil")
                    idx = np.arange(i0, max(seconds_to_index(t1, fps, rounding="ceil"), i0 + 1))
                jobs.append((name, path, idx, fps))
                sample.frame_times[name] = idx / fps
            sample.video.update(self._read_views(jobs, size))
        for name in ("pose", "emg", "heart_rate", "breath"):
            if name not in modalities:
                continue
            s = self.stream(rec.trial, name)
            if s is None:
                missing.append(name)
                continue
            cut = s.slice(t0, t1)
            if len(cut) == 0 and name in ("heart_rate", "breath") and len(s):
                # a slow signal (e.g. 1 Hz heart rate) may have no sample inside a short repetition: take the
                # last sample at or before its start
                i = int(np.clip(np.floor((t0 - s.start) * s.rate), 0, len(s) - 1))
                cut = Stream(s.data[i : i + 1], s.rate, s.start + i / s.rate, s.names, s.unit)
            cut.data = np.array(cut.data)  # copy out of the memory map
            if cut.data.size and not np.isfinite(cut.data).all():
                path = self.trial_dir(rec.trial) / f"{name}.npy"
                raise CorruptSampleError(
                    path, f"{name} of {rec.id} holds NaN or inf in [{t0:.3f}, {t1:.3f}] s"
                )
            if len(cut) == 0:
                path = self.trial_dir(rec.trial) / f"{name}.npy"
                raise CorruptSampleError(
                    path, f"{name} has no samples in {rec.id}'s interval [{t0:.3f}, {t1:.3f}] s"
                )
            setattr(sample, name, cut)
        sample.missing = tuple(missing)
        return sample

    def _read_views(self, jobs: list, size) -> dict[str, np.ndarray]:
        """``{view: frames}`` of ``jobs`` ``(view, path, indices, fps)`` on :attr:`decode_threads` threads: the
        views concurrently (PyAV releases the GIL), each through a kept handle, the threads left over as the
        decoders' slice threads."""
        total = self.decode_threads or (1 if in_loader_worker() else usable_cores())
        threads = max(1, min(len(jobs), total))
        per_file = max(1, total // threads)
        self._videos.size = self.open_videos

        def read(job):
            name, path, idx, fps = job
            with self._videos.video(path, threads=per_file) as video:
                return name, video.get_frames(idx, size=size, fps=fps)

        return dict(thread_map(read, jobs, threads))
