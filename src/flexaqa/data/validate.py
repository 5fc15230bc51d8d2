"""Check a dataset folder end to end and list every problem with the file it is in.

Native layout: files present, JSON/CSV/npy/mp4 readable and not truncated, frame counts consistent across views
and with pose, sEMG duration vs video duration, NaN/inf, channel counts vs the knowledge graph, unknown actions
and error codes, stored scores vs the FKG, keyframes inside the trial, duplicate ids, manifest vs annotations,
splits. Release layout: 103 readable JPEGs per view, skeleton and sEMG shape and values, ``Split_4`` rows.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flexaqa._io import require_complete
from flexaqa.data.base import CORE_NUM_FRAMES, read_csv_dicts
from flexaqa.data.native import FORMAT_NAME, MANIFEST_COLUMNS, STREAMS
from flexaqa.data.release import (
    SPLIT_DIR,
    SPLIT_FILES,
    ReleaseDataset,
    _parse_id,
    list_frames,
    read_emg_csv,
    read_skeleton_csv,
    read_split_mat,
    release_id,
    sample_dirs,
)
from flexaqa.data.schema import SKILL_LEVELS, Annotation, CorruptSampleError, DataError
from flexaqa.data.splits import load_splits, split_problems
from flexaqa.data.video import EncodedVideo
from flexaqa.errors import BusyError, IncompleteError, KGError
from flexaqa.kg import load_kg
from flexaqa.kg import score as fkg_score


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class _Report:
    def __init__(self):
        self.problems: list[Problem] = []

    def add(self, path, message: str) -> None:
        self.problems.append(Problem(str(path), message))


def validate_dataset(
    root: str | Path,
    *,
    duration_tol: float = 0.1,
    deep: bool = False,
    progress: bool = False,
) -> list[Problem]:
    """All problems found in the dataset at ``root`` (empty list = valid).

    ``duration_tol`` (seconds) bounds the disagreement between video, pose and sEMG durations. By default every
    mp4 is probed, its keyframes are decoded and so is a sample of its frames (:data:`SAMPLE_FRAMES` evenly spread,
    the last included),
    and each JPEG must end with its end-of-image marker; ``deep`` decodes every video frame and JPEG (slow).
    A folder whose writer did not finish is one problem naming the command that redoes it.
    """
    root = Path(root)
    rep = _Report()
    if not root.is_dir():
        rep.add(root, "is a file, not a dataset folder" if root.exists() else "no such dataset folder")
        return rep.problems

    try:
        require_complete(root, "dataset")
    except (IncompleteError, BusyError) as exc:
        rep.add(root, str(exc).removeprefix(f"{root}: "))
        return rep.problems
    if any((root / n).exists() for n in ("dataset.json", "manifest.csv", "trials")):
        layout = "native"
    elif any((root / f"A{i:02d}").is_dir() for i in range(1, 21)) or (root / "Skeleton").is_dir():
        layout = "release"
    else:
        rep.add(
            root,
            "neither a native dataset (dataset.json, manifest.csv, trials/) nor the release layout (A01..A20/, Skeleton/, EMG/)",
        )
        return rep.problems
    if layout == "native":
        _validate_native(root, rep, duration_tol, deep, progress)
    else:
        _validate_release(root, rep, progress, deep)
    return rep.problems


# ----------------------------------------------------------------------------------------------- native


def _json(path: Path, rep: _Report):
    if not path.is_file():
        rep.add(path, "file is missing")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        rep.add(path, f"not valid JSON ({exc})")
        return None


def _validate_native(root: Path, rep: _Report, tol: float, deep: bool, progress: bool) -> None:
    from tqdm import tqdm

    kg = load_kg()
    info = _json(root / "dataset.json", rep)
    if info is not None and info.get("format") != FORMAT_NAME:
        rep.add(root / "dataset.json", f"format must be {FORMAT_NAME!r}, got {info.get('format')!r}")
    manifest: list[dict] = []
    mpath = root / "manifest.csv"
    if not mpath.is_file():
        rep.add(mpath, "file is missing (run finalize_dataset)")
    else:
        try:
            manifest = read_csv_dicts(mpath)
        except DataError as exc:
            rep.add(mpath, str(exc))
        if manifest:
            miss = [c for c in MANIFEST_COLUMNS if c not in manifest[0]]
            if miss:
                rep.add(mpath, f"missing column(s) {', '.join(miss)}")
    subjects = {}
    if (root / "subjects.csv").is_file():
        try:
            for k, row in enumerate(read_csv_dicts(root / "subjects.csv"), start=2):
                if row.get("id") in subjects:
                    rep.add(root / "subjects.csv", f"row {k}: duplicate subject id {row.get('id')}")
                subjects[row.get("id")] = row
                if row.get("skill") and row.get("skill") not in SKILL_LEVELS:
                    rep.add(
                        root / "subjects.csv",
                        f"row {k}: skill must be one of {', '.join(SKILL_LEVELS)}, got {row.get('skill')!r}",
                    )
        except DataError as exc:
            rep.add(root / "subjects.csv", str(exc))
    else:
        rep.add(root / "subjects.csv", "file is missing")

    ids = Counter(r.get("sample_id") for r in manifest)
    for sid, n in ids.items():
        if n > 1:
            rep.add(mpath, f"duplicate sample id {sid} ({n} rows)")
    by_id = {r.get("sample_id"): r for r in manifest}
    for k, row in enumerate(manifest, start=2):
        try:
            act = kg.action(row.get("action", ""))
        except KGError as exc:
            rep.add(mpath, f"row {k} ({row.get('sample_id')}): {exc}")
            continue
        if str(row.get("class_index")) != str(act.index):
            rep.add(
                mpath,
                f"row {k} ({row.get('sample_id')}): class_index {row.get('class_index')} but {act.slug} is class {act.index}",
            )
        if subjects and row.get("subject") not in subjects:
            rep.add(mpath, f"row {k}: subject {row.get('subject')} is not in subjects.csv")
        if not (root / "trials" / str(row.get("trial")) / "trial.json").is_file():
            rep.add(
                root / "trials" / str(row.get("trial")), f"trial folder of {row.get('sample_id')} is missing"
            )

    trial_dirs = (
        sorted(p for p in (root / "trials").glob("*") if p.is_dir()) if (root / "trials").is_dir() else []
    )
    listed = {r.get("trial") for r in manifest}
    for tdir in tqdm(trial_dirs, desc="validate trials", disable=not progress, unit="trial"):
        if manifest and tdir.name not in listed:
            rep.add(tdir, "trial is not in manifest.csv (run finalize_dataset again)")
        _validate_trial(tdir, rep, kg, by_id, tol, deep, STREAMS)
    _validate_split_files(root, set(ids), rep)


def _validate_trial(tdir: Path, rep: _Report, kg, by_id: dict, tol: float, deep: bool, streams) -> None:
    """One trial folder: its files and streams, their durations against each other, and its repetitions."""
    meta = _json(tdir / "trial.json", rep)
    anns = _json(tdir / "annotations.json", rep)
    if meta is None:
        return
    try:
        act = kg.action(meta.get("action", ""))
    except KGError as exc:
        rep.add(tdir / "trial.json", str(exc))
        return
    durations, periods = _stream_durations(tdir, meta, act, rep, deep, streams)
    _check_durations(tdir, durations, periods, tol, rep)
    trial_len = max(durations.values()) if durations else None
    if anns is not None:
        _validate_repetitions(tdir / "annotations.json", anns, act, kg, by_id, trial_len, tol, rep)


def _stream_durations(tdir: Path, meta: dict, act, rep: _Report, deep: bool, streams):
    """Check the trial's videos and streams; ``(duration s, sample period s)`` of each one that reads."""
    durations: dict[str, float] = {}
    periods: dict[str, float] = {}  # a stream's duration is only known to within one sample period
    for v in meta.get("views", []):
        if not v.get("file"):
            continue
        path = tdir / v["file"]
        n = _check_video(path, v, rep, deep)
        if n is not None:
            durations[f"video {v['name']}"] = n / float(v["fps"])
            periods[f"video {v['name']}"] = 1.0 / float(v["fps"])
    for name in streams:
        spec = meta.get("streams", {}).get(name)
        if spec is None:
            continue
        arr = _check_npy(tdir / spec.get("file", f"{name}.npy"), spec, rep)
        if arr is None:
            continue
        if name == "pose" and arr.shape[1:] != (21, 3):
            rep.add(tdir / spec["file"], f"pose must be (T, 21, 3) FLEX-21 joints, got {arr.shape}")
        if name == "emg":
            want = len(act.emg_channels)
            if arr.ndim != 2 or arr.shape[1] != want:
                rep.add(
                    tdir / spec["file"],
                    f"sEMG of {act.name} must have {want} channels (columns), got shape {arr.shape}",
                )
        if name in ("pose", "emg"):
            durations[name] = len(arr) / float(spec["rate"])
            periods[name] = 1.0 / float(spec["rate"])
    return durations, periods


def _check_durations(tdir: Path, durations: dict, periods: dict, tol: float, rep: _Report) -> None:
    """Every stream lasts as long as the first one, within ``tol`` plus one sample period."""
    if not durations:
        return
    ref_name, ref = next(iter(durations.items()))
    for k, d in durations.items():
        allowed = tol + max(periods[k], periods[ref_name])
        if abs(d - ref) > allowed + 1e-9:
            rep.add(
                tdir / "trial.json",
                f"{k} lasts {d:.3f} s but {ref_name} lasts {ref:.3f} s (tolerance {tol} s plus one sample period)",
            )


def _validate_repetitions(where: Path, anns: dict, act, kg, by_id: dict, trial_len, tol: float, rep: _Report):
    """The repetitions of ``annotations.json``: ids, labels, scores, key frames, and the manifest's scores."""
    seen = set()
    for r in anns.get("reps", []):
        sid = r.get("sample_id")
        if sid in seen:
            rep.add(where, f"duplicate sample id {sid}")
        seen.add(sid)
        try:
            ann = Annotation.from_dict(r)
        except (KeyError, TypeError, ValueError) as exc:
            rep.add(where, f"{sid}: malformed repetition ({exc!r})")
            continue
        if ann.action != act.slug:
            rep.add(where, f"{sid}: action {ann.action!r} but the trial is {act.slug}")
        msg = ann.score_problem(kg)
        if msg:
            rep.add(where, f"{sid}: {msg}")
        for lab in ann.annotators:
            try:
                expected = fkg_score(act, lab.slots, kg=kg).score
            except KGError as exc:
                rep.add(where, f"{sid}: annotator {lab.annotator}: {exc}")
                continue
            if lab.score is not None and abs(lab.score - expected) > 0.01:
                rep.add(
                    where,
                    f"{sid}: annotator {lab.annotator}: score {lab.score:.2f} disagrees with the FKG score "
                    f"{expected:.2f} of their slots {list(lab.slots)}",
                )
            if lab.manual_score is not None and not 0 <= lab.manual_score <= 100:
                rep.add(
                    where, f"{sid}: annotator {lab.annotator}: manual score {lab.manual_score} is not 0..100"
                )
        for m in ann.keyframes.problems():
            rep.add(where, f"{sid}: {m}")
        if trial_len is not None and ann.keyframes.end > trial_len + tol:
            rep.add(
                where,
                f"{sid}: ends at {ann.keyframes.end:.3f} s, after the end of the recording ({trial_len:.3f} s)",
            )
        row = by_id.get(sid)
        if by_id and row is None:
            rep.add(where, f"{sid} is not in manifest.csv")
        elif (
            row is not None
            and ann.score is not None
            and row.get("score") not in (None, "")
            and abs(float(row["score"]) - ann.score) > 0.01
        ):
            rep.add(where, f"{sid}: score {ann.score} differs from manifest.csv ({row['score']})")


SAMPLE_FRAMES = 8


def sample_frames(n: int, k: int = SAMPLE_FRAMES) -> list[int]:
    """``k`` frame indices evenly spread over ``n`` frames, the first and the last included."""
    return sorted({round(float(x)) for x in np.linspace(0, n - 1, min(k, n))})


def _check_video(path: Path, v: dict, rep: _Report, deep: bool) -> int | None:
    try:
        with EncodedVideo(path) as video:
            return _check_open_video(video, v, rep, deep)
    except CorruptSampleError as exc:
        rep.add(path, exc.expected)
    except DataError as exc:
        rep.add(path, str(exc))
    return None


def _check_open_video(video, v: dict, rep: _Report, deep: bool) -> int:
    info, path = video.info, video.path
    n = video.count_frames() if deep else info.n_frames
    if v.get("n_frames") is not None and n != int(v["n_frames"]):
        rep.add(path, f"holds {n} frames, trial.json says {v['n_frames']}")
    if (info.width, info.height) != (int(v.get("width", info.width)), int(v.get("height", info.height))):
        rep.add(path, f"is {info.width}x{info.height}, trial.json says {v.get('width')}x{v.get('height')}")
    if not deep and n > 0:
        video.count_keyframes()  # every keyframe: damage anywhere in them fails here, at one frame per GOP
        for i in sample_frames(n):  # and a few frames between keyframes, each decoded from its keyframe
            video.get_frames([i])
    return n


def _check_npy(path: Path, spec: dict, rep: _Report):
    if not path.is_file():
        rep.add(path, "file listed in trial.json is missing")
        return None
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        rep.add(path, f"unreadable or truncated .npy ({exc})")
        return None
    if list(arr.shape) != list(spec.get("shape", arr.shape)):
        rep.add(path, f"shape {arr.shape}, trial.json says {tuple(spec['shape'])}")
    bad = np.count_nonzero(~np.isfinite(np.asarray(arr, dtype=float)))
    if bad:
        rep.add(path, f"{bad} NaN/inf value(s)")
    return arr


def _validate_split_files(root: Path, known: set[str], rep: _Report) -> None:
    for path in sorted((root / "splits").glob("*.json")) if (root / "splits").is_dir() else []:
        try:
            splits = load_splits(root, path.stem)
        except DataError as exc:
            rep.add(path, str(exc))
            continue
        for m in split_problems(splits or {}, known):
            rep.add(path, m)
        unlisted = sorted(known - {i for ids in (splits or {}).values() for i in ids} - {None})
        if unlisted:
            more = f" and {len(unlisted) - 3} more" if len(unlisted) > 3 else ""
            rep.add(
                path,
                f"{len(unlisted)} sample(s) in no split: {', '.join(unlisted[:3])}{more} (regenerate with --force)",
            )


# ----------------------------------------------------------------------------------------------- release


def _has_jpeg_end(path: Path) -> bool:
    """A complete JPEG ends with the EOI marker FF D9 (a cheap truncation check; ``deep`` decodes instead)."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(size - 16, 0))
        return b"\xff\xd9" in fh.read()


def _validate_release(root: Path, rep: _Report, progress: bool, deep: bool) -> None:
    """The official release layout: every sample's frames, skeleton and sEMG, then the split files."""
    from tqdm import tqdm

    kg = load_kg()
    try:
        ds = ReleaseDataset(root)
    except (DataError, CorruptSampleError) as exc:
        rep.add(getattr(exc, "path", root), getattr(exc, "expected", str(exc)))
        return
    if ds.records and not (root / "Skeleton").is_dir():
        rep.add(root / "Skeleton", "folder is missing: no sample has its skeleton (skeleton_points.csv)")
    if ds.records and not (root / SPLIT_DIR).is_dir():
        rep.add(root / SPLIT_DIR, "folder is missing: no sample has a score (the official train/test lists)")
    for r in tqdm(ds.records, desc="validate samples", disable=not progress, unit="sample"):
        _validate_release_sample(root, r.id, kg, rep, deep)
    _validate_release_splits(root, {r.id for r in ds.records}, rep)


def _validate_release_sample(root: Path, sample_id: str, kg, rep: _Report, deep: bool) -> None:
    c, i = _parse_id(sample_id)
    d = sample_dirs(root, c, i)
    counts = {}
    for vdir in sorted(d["video"].glob("View-*")) if d["video"].is_dir() else []:
        counts[vdir.name] = _validate_release_frames(vdir, rep, deep)
    if len(set(counts.values())) > 1:
        rep.add(d["video"], f"views hold different numbers of frames: {counts}")
    sk_path = d["pose"] / "skeleton_points.csv"
    if sk_path.is_file():
        try:
            sk = read_skeleton_csv(sk_path)
            if counts and len(sk) != next(iter(counts.values())):
                rep.add(sk_path, f"{len(sk)} skeleton rows but {next(iter(counts.values()))} video frames")
            if not np.isfinite(sk).all():
                rep.add(sk_path, f"{np.count_nonzero(~np.isfinite(sk))} NaN/inf value(s)")
        except CorruptSampleError as exc:
            rep.add(exc.path, exc.expected)
    emg_path = d["emg"] / "EMG.csv"
    if emg_path.is_file():
        try:
            emg = read_emg_csv(emg_path)
            want = len(kg.action(c).emg_channels)
            if emg.shape[1] != want:
                rep.add(emg_path, f"{emg.shape[1]} columns, but {kg.action(c).name} has {want} sEMG channels")
            if not np.isfinite(emg).all():
                rep.add(emg_path, f"{np.count_nonzero(~np.isfinite(emg))} NaN/inf value(s)")
        except CorruptSampleError as exc:
            rep.add(exc.path, exc.expected)


def _validate_release_frames(vdir: Path, rep: _Report, deep: bool) -> int:
    """One view's JPEG frames: their count, numbering and readability; returns the count."""
    from PIL import Image, UnidentifiedImageError

    frames = list_frames(vdir)
    if len(frames) != CORE_NUM_FRAMES:
        rep.add(vdir, f"holds {len(frames)} frames, expected {CORE_NUM_FRAMES} (img_00001.JPG ..)")
    expected = [f"img_{k:05d}.JPG" for k in range(1, len(frames) + 1)]
    if [p.name for p in frames] != expected:
        rep.add(vdir, "frame files are not numbered img_00001.JPG .. contiguously")
    for p in frames:
        try:
            with Image.open(p) as im:
                if deep:
                    im.load()
                elif im.format != "JPEG":
                    raise OSError(f"a {im.format} image, not a JPEG")
            if not deep and not _has_jpeg_end(p):
                raise OSError("no end-of-image marker")
        except (OSError, UnidentifiedImageError, SyntaxError) as exc:
            rep.add(p, f"unreadable or truncated JPEG ({exc})")
    return len(frames)


def _validate_release_splits(root: Path, known: set[str], rep: _Report) -> None:
    """The split files: known samples, listed once, scores within 0..100."""
    seen: dict[str, str] = {}
    for name, (fname, var) in SPLIT_FILES.items():
        path = root / SPLIT_DIR / fname
        if not path.is_file():
            continue
        try:
            rows = read_split_mat(path, var)
        except CorruptSampleError as exc:
            rep.add(exc.path, exc.expected)
            continue
        for c, i, s in rows:
            if not (1 <= c <= 20) or c != int(c):
                rep.add(path, f"class {c} is not an action index 1..20")
                continue
            sid = release_id(int(c), int(i))
            if sid in seen:
                rep.add(path, f"sample {sid} is listed twice ({seen[sid]} and {name})")
            seen[sid] = name
            if sid not in known:
                rep.add(path, f"sample {sid} has no data folder")
            if not (0.0 <= s <= 100.0) or not np.isfinite(s):
                rep.add(path, f"sample {sid}: score {s} outside 0..100")
