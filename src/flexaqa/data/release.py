"""The official FLEX release layout, read and written exactly as the authors' baseline code expects it.

```
<root>/Split_4/split_4_{train,test}_list.mat       'consolidated_{train,test}_list': rows [class, index, score]
<root>/A01..A20/<idx:03d>/View-k/img_00001.JPG..img_00103.JPG
<root>/Skeleton/A%02d/%03d/skeleton_points.csv     one header row, 103 rows x 63 columns (21 joints x xyz)
<root>/EMG/A%02d/%03d/EMG.csv                       no header, one column per channel, one row per sample
```
Samples are named ``A16_007`` (class, index). The release has no subject, keystep, error or physiology data,
and 103 frames per view evenly spread over the repetition; when sEMG is present its length at 2000 Hz gives the
repetition's duration, otherwise frames are placed at the nominal 120 fps. Missing modalities are allowed and
listed by :meth:`ReleaseDataset.missing_report`.
"""

from __future__ import annotations

import importlib.util
import io
import re
from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_save, atomic_write_bytes, atomic_write_text, output_dir
from flexaqa.data._threads import default_threads, thread_map
from flexaqa.data.base import (
    CORE_NUM_FRAMES,
    DatasetSource,
    register_layout,
    times_to_frames,
    uniform_times,
    write_csv_text,
)
from flexaqa.data.schema import (
    CorruptSampleError,
    DataError,
    Sample,
    SampleRecord,
    Stream,
    Trial,
    View,
    check_modalities,
)
from flexaqa.data.splits import generate_splits
from flexaqa.data.video import output_size
from flexaqa.errors import require
from flexaqa.kg import load_kg
from flexaqa.skeleton import FLEX21_JOINTS, NUM_JOINTS
from flexaqa.timebase import CINEMA_FPS, EMG_HZ

SPLIT_DIR = "Split_4"
SPLIT_FILES = {
    "train": ("split_4_train_list.mat", "consolidated_train_list"),
    "test": ("split_4_test_list.mat", "consolidated_test_list"),
}
SKELETON_HEADER = ",".join(f"{j}_{c}" for j in FLEX21_JOINTS for c in "xyz")


def release_id(class_index: int, index: int) -> str:
    return f"A{int(class_index):02d}_{int(index):03d}"


def _parse_id(sid: str) -> tuple[int, int]:
    m = re.fullmatch(r"A(\d\d)_(\d+)", sid)
    if not m:
        raise DataError(f"not a release sample id: {sid!r} (expected like A16_007)")
    return int(m.group(1)), int(m.group(2))


def sample_dirs(root: Path, class_index: int, index: int) -> dict[str, Path]:
    c, i = f"A{class_index:02d}", f"{index:03d}"
    return {"video": root / c / i, "pose": root / "Skeleton" / c / i, "emg": root / "EMG" / c / i}


# ----------------------------------------------------------------------------------------------- writing


def write_release_sample(
    root: str | Path,
    class_index: int,
    index: int,
    *,
    frames: dict[str, np.ndarray] | None = None,
    skeleton: np.ndarray | None = None,
    emg: np.ndarray | None = None,
    quality: int = 90,
) -> str:
    """Write one sample: ``frames`` view -> ``(103, H, W, 3)`` uint8 JPEGs, ``skeleton`` ``(103, 21, 3)``,
    ``emg`` ``(N, C)``. Returns the sample id."""
    from PIL import Image

    root = Path(root)
    dirs = sample_dirs(root, class_index, index)
    for view, arr in (frames or {}).items():
        vdir = dirs["video"] / view
        vdir.mkdir(parents=True, exist_ok=True)
        for k, img in enumerate(np.asarray(arr, dtype=np.uint8), start=1):
            atomic_save(
                vdir / f"img_{k:05d}.JPG",
                lambda p, im=img: Image.fromarray(im).save(p, "JPEG", quality=quality),
                suffix=".JPG",
            )
    if skeleton is not None:
        sk = np.asarray(skeleton, dtype=float).reshape(len(skeleton), NUM_JOINTS * 3)
        body = "\n".join(",".join(f"{v:.6f}" for v in row) for row in sk)
        atomic_write_text(dirs["pose"] / "skeleton_points.csv", SKELETON_HEADER + "\n" + body + "\n")
    if emg is not None:
        e = np.asarray(emg, dtype=float)
        body = "\n".join(",".join(f"{v:.6g}" for v in row) for row in e.reshape(len(e), -1))
        atomic_write_text(dirs["emg"] / "EMG.csv", body + "\n")
    return release_id(class_index, index)


# The MAT-file v5 header's 116 bytes of free text (readers skip it), without scipy's "Created on: <time>".
MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: flexaqa".ljust(116, b" ")


def write_official_split(root: str | Path, train: Sequence[tuple], test: Sequence[tuple]) -> None:
    """Write ``Split_4/*.mat``; rows are ``(class, index, score)``. The files hold no creation time (scipy writes
    one into the MAT header's free text), so the same rows give the same bytes."""
    from scipy.io import savemat

    for name, rows in (("train", train), ("test", test)):
        fname, var = SPLIT_FILES[name]
        buf = io.BytesIO()
        savemat(buf, {var: np.asarray(rows, dtype=float).reshape(-1, 3)})
        data = buf.getvalue()
        atomic_write_bytes(Path(root) / SPLIT_DIR / fname, MAT_HEADER + data[len(MAT_HEADER) :])


def cut_repetition(
    trial: Trial, rep_index: int, *, num_frames: int = CORE_NUM_FRAMES, views: Sequence[str] | None = None
):
    """Cut repetition ``trial.reps[rep_index]`` out of an in-memory trial as the release stores it:
    ``num_frames`` frames per view evenly spread over the repetition, the skeleton at the same instants
    (``(num_frames, 21, 3)``) and sEMG at its native rate ``(N, C)``. Returns ``(frames, skeleton, emg)``."""
    ann = trial.reps[rep_index]
    t0, t1 = ann.keyframes.start, ann.keyframes.end
    times = uniform_times(t0, t1, num_frames)
    frames = {}
    for v in trial.views:
        if (views is None or v.name in views) and v.name in trial.frames:
            frames[v.name] = trial.frames[v.name][times_to_frames(times, v.fps, t0, t1)]
    skeleton = trial.pose.at(times) if trial.pose is not None else None
    emg = np.asarray(trial.emg.slice(t0, t1).data) if trial.emg is not None else None
    return frames, skeleton, emg


class ReleaseWriter:
    """Write trials into the release layout, numbering samples per class from ``first_index``; :meth:`close`
    writes ``Split_4`` (random 75/25 per class with ``seed``). One writer per output folder and process."""

    def __init__(
        self,
        root: str | Path,
        *,
        views: Sequence[str] = ("View-1", "View-2"),
        first_index: int = 1,
        quality: int = 90,
    ):
        self.root = Path(root)
        self.views = tuple(views)
        self.quality = quality
        self.next_index: dict[int, int] = defaultdict(lambda: first_index)
        self.rows: list[tuple[int, int, float]] = []

    def add_trial(self, trial: Trial) -> list[str]:
        c = load_kg().action(trial.action).index
        ids = []
        for k, ann in enumerate(trial.reps):
            frames, skel, emg = cut_repetition(trial, k, views=self.views)
            idx = self.next_index[c]
            self.next_index[c] += 1
            ids.append(
                write_release_sample(
                    self.root, c, idx, frames=frames, skeleton=skel, emg=emg, quality=self.quality
                )
            )
            score = ann.score if ann.score is not None else ann.fkg_score()
            self.rows.append((c, idx, float(score)))
        return ids

    def close(self, *, seed: int = 0, test_fraction: float = 0.25) -> None:
        recs = [SampleRecord(release_id(c, i), str(c), c, score=s) for c, i, s in self.rows]
        sp = generate_splits(recs, "random", seed=seed, test_fraction=test_fraction, val_fraction=0.0)
        test = set(sp["test"])
        write_official_split(
            self.root,
            [r for r in self.rows if release_id(r[0], r[1]) not in test],
            [r for r in self.rows if release_id(r[0], r[1]) in test],
        )


def export_release(
    source,
    out: str | Path,
    *,
    views: Sequence[str] = ("View-1", "View-2"),
    size: int | tuple[int, int] | None = None,
    protocol: str = "random",
    seed: int = 0,
    quality: int = 90,
    progress: bool = True,
    force: bool = False,
) -> dict[str, str]:
    """Write a (native) dataset in the official release layout, e.g. to run the FLEX authors' baseline on it.

    Per sample: 103 frames per view evenly spread over the repetition (resized to ``size`` if given), the
    skeleton at the same instants, sEMG at its native rate; ``Split_4`` from ``protocol`` (val counts as train).
    Samples are numbered per class from 1 in record order. Returns source id -> release id, also written to
    ``out/flexaqa_ids.csv`` (the baseline code ignores that file). ``out`` must be new or empty (``force``
    clears it) and outside the source; it is locked while written and marked incomplete until the end.
    """

    sp = source.splits(protocol, seed=seed)
    inputs = [source.root] if getattr(source, "root", None) is not None else []
    with output_dir(out, mode="new", force=force, inputs=inputs) as out:
        return _export_release(source, out, sp, views, size, quality, progress)


def _export_release(source, out: Path, sp, views, size, quality, progress) -> dict[str, str]:
    from tqdm import tqdm

    test = set(sp["test"])
    listed = test | set(sp["train"]) | set(sp["val"])
    next_index: dict[int, int] = defaultdict(lambda: 1)
    mapping: dict[str, str] = {}
    train_rows, test_rows = [], []
    for rec in tqdm(source.records, desc="export release", unit="sample", disable=not progress):
        s = source.load(
            rec, modalities=("video", "pose", "emg"), views=views, num_frames=CORE_NUM_FRAMES, size=size
        )
        skeleton = None
        if s.pose is not None:
            t0, t1 = (rec.start, rec.end) if rec.start is not None else (s.pose.start, s.pose.end)
            skeleton = s.pose.data if rec.start is None else s.pose.at(uniform_times(t0, t1, CORE_NUM_FRAMES))
        idx = next_index[rec.class_index]
        next_index[rec.class_index] += 1
        mapping[rec.id] = write_release_sample(
            out,
            rec.class_index,
            idx,
            frames=s.video,
            skeleton=skeleton,
            emg=None if s.emg is None else s.emg.data,
            quality=quality,
        )
        if rec.id in listed and rec.score is not None:
            (test_rows if rec.id in test else train_rows).append((rec.class_index, idx, rec.score))
    write_official_split(out, train_rows, test_rows)
    atomic_write_text(out / "flexaqa_ids.csv", write_csv_text(("source_id", "release_id"), mapping.items()))
    return mapping


# ----------------------------------------------------------------------------------------------- reading


def read_split_mat(path: Path, var: str) -> np.ndarray:
    from scipy.io import loadmat

    try:
        arr = np.asarray(loadmat(str(path))[var], dtype=float)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptSampleError(
            path, f"expected a MATLAB file with variable {var!r} of rows [class, index, score] ({exc!r})"
        ) from exc
    if arr.size and (arr.ndim != 2 or arr.shape[1] != 3):
        raise CorruptSampleError(path, f"{var} must have rows [class, index, score], got shape {arr.shape}")
    return arr.reshape(-1, 3)


def read_official_split(
    root: str | Path, records: Sequence[SampleRecord] | None = None
) -> dict[str, list[str]]:
    """``{"train": ids, "val": [], "test": ids}`` from ``Split_4``; ids not among ``records`` raise."""
    root = Path(root)
    out = {"train": [], "val": [], "test": []}
    for name, (fname, var) in SPLIT_FILES.items():
        path = root / SPLIT_DIR / fname
        if not path.is_file():
            raise DataError(
                f"{path}: the official split is missing; use protocol 'random', 'cross_subject' or 'cross_skill'"
            )
        out[name] = [release_id(int(c), int(i)) for c, i, _ in read_split_mat(path, var)]
    if records is not None:
        known = {r.id for r in records}
        for name in ("train", "test"):
            unknown = [i for i in out[name] if i not in known]
            if unknown:
                raise DataError(
                    f"{root / SPLIT_DIR}: {name} list names sample {unknown[0]} that has no data folder"
                )
    return out


def read_skeleton_csv(path: Path) -> np.ndarray:
    """``skeleton_points.csv`` -> ``(T, 21, 3)``; raises naming the file when malformed."""
    try:
        arr = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, ValueError) as exc:
        raise CorruptSampleError(path, f"expected a header row then rows of 63 numbers ({exc})") from exc
    if arr.shape[1] != NUM_JOINTS * 3:
        raise CorruptSampleError(path, f"expected 63 columns (21 joints x xyz), got {arr.shape[1]}")
    return arr.reshape(len(arr), NUM_JOINTS, 3)


def read_emg_csv(path: Path) -> np.ndarray:
    """``EMG.csv`` -> ``(N, C)``; raises naming the file when malformed."""
    try:
        return np.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError) as exc:
        raise CorruptSampleError(
            path, f"expected rows of numbers, one column per sEMG channel, no header ({exc})"
        ) from exc


def list_frames(view_dir: Path) -> list[Path]:
    return sorted(view_dir.glob("img_*.JPG"))


JPEG_DECODERS = ("auto", "simplejpeg", "opencv", "pil")


def jpeg_decoder(name: str = "auto") -> str:
    """The JPEG decoder ``name`` stands for: ``auto`` is simplejpeg (libjpeg-turbo, extra ``fastjpeg``) when it
    is installed, else PIL; ``opencv`` needs ``cv2`` (it comes with MediaPipe). Raises for an unknown name or a
    decoder that is not installed."""
    if name not in JPEG_DECODERS:
        raise DataError(f"unknown JPEG decoder {name!r}; choose one of {', '.join(JPEG_DECODERS)}")
    if name == "auto":
        return "simplejpeg" if importlib.util.find_spec("simplejpeg") is not None else "pil"
    if name == "simplejpeg":
        require("simplejpeg", "fastjpeg", "decoding JPEG frames with simplejpeg")
    elif name == "opencv":
        require("cv2", "pose", "decoding JPEG frames with OpenCV")
    return name


def read_jpeg_frames(
    paths: Sequence[Path],
    size: int | tuple[int, int] | None = None,
    *,
    decoder: str = "auto",
    threads: int | None = None,
) -> np.ndarray:
    """Decode JPEGs -> ``(N, H, W, 3)`` uint8 RGB, resized like :func:`flexaqa.data.video.read_frames`.

    ``decoder`` (:func:`jpeg_decoder`): ``pil`` is the reference (Pillow; its draft mode lets libjpeg scale by
    1/2, 1/4 or 1/8 first, then a bilinear resize). ``simplejpeg`` and ``opencv`` let libjpeg-turbo scale in
    the DCT to the smallest of its M/8 sizes at least as large as ``size`` (5/8 for 640x360 to 224x224), then
    resize that with the same bilinear filter: the frames differ from PIL's by a few grey levels on average.
    ``threads`` reads that many files at once (``None``: one per core; the decoders release the GIL). A
    missing, truncated or undecodable file raises :class:`CorruptSampleError` naming it.
    """
    decoder = jpeg_decoder(decoder)
    one = partial(_read_jpeg, decoder=decoder, size=size)
    out = thread_map(one, paths, default_threads(len(paths)) if threads is None else threads)
    if not out:
        return np.zeros((0, 0, 0, 3), np.uint8)
    shapes = {a.shape for a in out}
    if len(shapes) > 1:
        raise CorruptSampleError(paths[0].parent, f"frames differ in size: {sorted(shapes)}")
    return np.stack(out)


def _read_jpeg(path: Path, *, decoder: str, size) -> np.ndarray:
    """One frame ``(H, W, 3)`` uint8 RGB (see :func:`read_jpeg_frames`)."""
    from PIL import Image, UnidentifiedImageError

    try:
        if decoder == "pil":
            with Image.open(path) as im:
                if size is not None:
                    hw = output_size(size, im.height, im.width)
                    im.draft("RGB", (hw[1], hw[0]))  # let the JPEG decoder downscale by 2/4/8 first
                    im = im.resize((hw[1], hw[0]), Image.BILINEAR)
                return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
        data = path.read_bytes()
        img, hw = _decode_scaled(data, decoder, size)  # (h, w, 3) at a DCT scale at least the output size
        if img.shape[:2] != hw:
            img = np.asarray(Image.fromarray(img).resize((hw[1], hw[0]), Image.BILINEAR))
        return img
    except (OSError, ValueError, UnidentifiedImageError) as exc:
        raise CorruptSampleError(path, f"expected a readable JPEG frame ({exc})") from exc


def _decode_scaled(data: bytes, decoder: str, size) -> tuple[np.ndarray, tuple[int, int]]:
    """The JPEG ``data`` decoded at the smallest DCT scale at least as large as the output size, and that output
    size ``(height, width)``; truncated or invalid data raises ``ValueError``."""
    if decoder == "simplejpeg":
        import simplejpeg

        h, w = simplejpeg.decode_jpeg_header(data)[:2]
        hw = output_size(size, h, w) or (h, w)
        img = simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=hw[0], min_width=hw[1])  # strict
        return img, hw
    import cv2
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:  # reads the header only
        h, w = im.height, im.width
    hw = output_size(size, h, w) or (h, w)
    k = max((k for k in (1, 2, 4, 8) if h // k >= hw[0] and w // k >= hw[1]), default=1)
    flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flag.get(k, cv2.IMREAD_REDUCED_COLOR_8))
    if bgr is None:  # OpenCV answers None for truncated or invalid data
        raise ValueError("OpenCV cannot decode it (truncated?)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), hw


@register_layout
class ReleaseDataset(DatasetSource):
    """Reader of the official release layout (see module doc)."""

    layout = "release"
    #: the JPEG decoder of :func:`read_jpeg_frames` (``auto``: simplejpeg when installed, else PIL)
    jpeg_decoder: str = "auto"
    #: JPEG files read at once (``None``: one per core)
    read_threads: int | None = None

    @classmethod
    def detect(cls, root: Path) -> bool:
        return any((root / f"A{i:02d}").is_dir() for i in range(1, 21)) or (root / "Skeleton").is_dir()

    def official_splits(self) -> dict[str, list[str]]:
        """``Split_4``'s train and test lists (:func:`read_official_split`)."""
        return read_official_split(self.root, self.records)

    def __init__(self, root: str | Path):
        self.root = Path(root)
        kg = load_kg()
        keys: set[tuple[int, int]] = set()
        for c in range(1, 21):
            for base in (
                self.root / f"A{c:02d}",
                self.root / "Skeleton" / f"A{c:02d}",
                self.root / "EMG" / f"A{c:02d}",
            ):
                if base.is_dir():
                    keys.update((c, int(p.name)) for p in base.iterdir() if p.is_dir() and p.name.isdigit())
        scores: dict[tuple[int, int], float] = {}
        split_of: dict[tuple[int, int], str] = {}
        for name, (fname, var) in SPLIT_FILES.items():
            path = self.root / SPLIT_DIR / fname
            if path.is_file():
                for c, i, s in read_split_mat(path, var):
                    scores[(int(c), int(i))] = float(s)
                    split_of[(int(c), int(i))] = name
        self.records = [
            SampleRecord(
                release_id(c, i), kg.action(c).slug, c, score=scores.get((c, i)), split=split_of.get((c, i))
            )
            for c, i in sorted(keys)
        ]
        names = {
            p.name for c, i in sorted(keys)[:50] for p in sample_dirs(self.root, c, i)["video"].glob("View-*")
        }
        self.view_names = tuple(sorted(names))

    def missing_report(self) -> dict[str, list[str]]:
        """Sample ids lacking each modality (``video:View-k``, ``pose``, ``emg``, ``score``)."""
        out: dict[str, list[str]] = defaultdict(list)
        for r in self.records:
            c, i = _parse_id(r.id)
            d = sample_dirs(self.root, c, i)
            for v in self.view_names:
                if not (d["video"] / v).is_dir():
                    out[f"video:{v}"].append(r.id)
            if not (d["pose"] / "skeleton_points.csv").is_file():
                out["pose"].append(r.id)
            if not (d["emg"] / "EMG.csv").is_file():
                out["emg"].append(r.id)
            if r.score is None:
                out["score"].append(r.id)
        return dict(out)

    def load(
        self,
        key,
        *,
        modalities: Sequence[str] = ("video", "pose", "emg"),
        views: Sequence[str] | None = None,
        num_frames: int | None = None,
        size: int | tuple[int, int] | None = None,
    ) -> Sample:
        """Load one sample; ``num_frames`` picks evenly spread frames out of the stored ones (all by default)."""
        modalities = check_modalities(modalities)
        rec = self.record(key)
        c, i = _parse_id(rec.id)
        d = sample_dirs(self.root, c, i)
        sample = Sample(record=rec)
        missing = []
        emg = None
        if "emg" in modalities or "video" in modalities or "pose" in modalities:
            path = d["emg"] / "EMG.csv"
            if path.is_file():
                emg = read_emg_csv(path)
                if not np.isfinite(emg).all():
                    raise CorruptSampleError(path, "sEMG holds NaN or inf")
        duration = len(emg) / EMG_HZ if emg is not None and len(emg) else CORE_NUM_FRAMES / CINEMA_FPS
        if "emg" in modalities:
            if emg is None:
                missing.append("emg")
            else:
                labels = tuple(ch.label for ch in load_kg().action(c).emg_channels)
                sample.emg = Stream(emg, EMG_HZ, names=labels if len(labels) == emg.shape[1] else ())
        if "video" in modalities:
            for v in views or self.view_names:
                frames = list_frames(d["video"] / v)
                if not frames:
                    missing.append(f"video:{v}")
                    continue
                pick = (
                    np.arange(len(frames))
                    if not num_frames
                    else np.linspace(0, len(frames) - 1, num_frames).round().astype(int)
                )
                sample.video[v] = read_jpeg_frames(
                    [frames[k] for k in pick], size, decoder=self.jpeg_decoder, threads=self.read_threads
                )
                sample.frame_times[v] = pick * duration / len(frames)
                sample.views[v] = View(
                    v, len(frames) / duration, sample.video[v].shape[2], sample.video[v].shape[1]
                )
        if "pose" in modalities:
            path = d["pose"] / "skeleton_points.csv"
            if not path.is_file():
                missing.append("pose")
            else:
                sk = read_skeleton_csv(path)
                if not np.isfinite(sk).all():
                    raise CorruptSampleError(path, "skeleton holds NaN or inf")
                sample.pose = Stream(sk, len(sk) / duration, unit="m")
        for m in ("heart_rate", "breath"):
            if m in modalities:
                missing.append(m)
        sample.missing = tuple(missing)
        return sample
