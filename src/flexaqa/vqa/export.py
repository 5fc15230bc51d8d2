"""Export FLEX-VideoQA for VLM fine-tuning: LLaMA-Factory's ShareGPT-style JSON (with its ``dataset_info.json``
entry) and a plain JSONL, with the video of each sample referenced as a file or as sampled frames.

Written to ``out_dir``:

- ``flex_videoqa_<split>.json``: one conversation per sample, the four turns in order; the first user turn
  starts with one ``<video>`` tag per view, ``videos`` lists the views (a path, or a list of frame paths).
- ``dataset_info.json``: an entry ``flex_videoqa_<split>`` per split (merged into an existing file).
- ``flex_videoqa_<split>.jsonl``: one QA pair per line with its labels (action, slots, score) and the
  exported video references (``video_refs``).
- ``export_config.json``: the options used, and LLaMA-Factory's ``video_fps`` / ``video_maxlen`` to train with.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flexaqa._io import atomic_write_text, json_text
from flexaqa.data.video import EncodedVideo, write_mp4
from flexaqa.timebase import index_to_seconds, seconds_to_index
from flexaqa.vqa._records import QA, VQAError, iter_jsonl, write_jsonl
from flexaqa.vqa.dialogue import load_qa_set

DATASET_PREFIX = "flex_videoqa"
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class VideoOptions:
    """How the export refers to each sample's video.

    Args:
        mode: ``"file"``: the video file itself (LLaMA-Factory samples it at ``fps``, up to ``max_frames``);
            a sample that is a time window of a longer video is cut into ``<out_dir>/clips/`` with PyAV.
            ``"frames"``: a list of sampled frame images (from a frame folder, or extracted from a video file
            into ``<out_dir>/frames/`` with PyAV).
        views: which views to include, in order (default: every view of the sample, sorted by name).
        fps: frames per second to sample.
        max_frames: at most this many frames per video (spread evenly when the rate would give more).
        media_root: write paths relative to this folder (LLaMA-Factory's ``media_dir``); default absolute.
    """

    mode: str = "file"
    views: tuple[str, ...] | None = None
    fps: float = 2.0
    max_frames: int = 32
    media_root: str | None = None

    def __post_init__(self):
        if self.mode not in ("file", "frames"):
            raise VQAError(f"video mode must be 'file' or 'frames', got {self.mode!r}")
        if not self.fps > 0 or self.max_frames < 1:
            raise VQAError(
                f"frame sampling needs fps > 0 and max_frames >= 1, got {self.fps}, {self.max_frames}"
            )


def sample_frame_indices(
    n_frames: int,
    video_fps: float,
    *,
    fps: float,
    max_frames: int,
    start: float | None = None,
    end: float | None = None,
) -> np.ndarray:
    """Indices of the frames to keep: one every ``1 / fps`` seconds of the window ``[start, end)`` (default: the
    whole video), thinned evenly to ``max_frames``.

    >>> sample_frame_indices(103, 120.0, fps=60.0, max_frames=4).tolist()
    [0, 34, 68, 102]
    >>> sample_frame_indices(1200, 120.0, fps=2.0, max_frames=32, start=2.0, end=4.0).tolist()
    [240, 300, 360, 420]
    """
    if n_frames < 1:
        raise VQAError(f"a video needs at least one frame, got {n_frames}")
    t0 = 0.0 if start is None else float(start)
    t1 = float(index_to_seconds(n_frames, video_fps)) if end is None else float(end)
    i0 = int(np.clip(seconds_to_index(t0, video_fps, rounding="floor"), 0, n_frames - 1))
    i1 = int(np.clip(seconds_to_index(t1, video_fps, rounding="ceil") - 1, i0, n_frames - 1))
    if t1 <= t0:
        raise VQAError(f"empty time window [{t0}, {t1}) s")
    times = np.arange(t0, t1, 1.0 / fps)  # (K,)
    idx = np.unique(np.clip(seconds_to_index(times, video_fps, rounding="floor"), i0, i1))
    if len(idx) > max_frames:
        idx = np.unique(np.round(np.linspace(i0, i1, max_frames)).astype(np.int64))
    return np.atleast_1d(idx)


def _frame_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        raise VQAError(f"{folder}: a frame folder with no images ({', '.join(FRAME_SUFFIXES)})")
    return files


def _open(video: Path) -> EncodedVideo:
    return EncodedVideo(video, error=lambda p, message: VQAError(f"{p}: {message}"))


def _extract_frames(video: Path, indices: np.ndarray, dest: Path) -> list[Path]:
    """Decode ``video`` and save the frames at ``indices`` as JPEG files in ``dest`` (reused when present)."""
    names = [dest / f"img_{i + 1:05d}.jpg" for i in indices]
    if all(p.is_file() for p in names):
        return names
    from PIL import Image

    dest.mkdir(parents=True, exist_ok=True)
    with _open(video) as v:
        frames = v.get_frames(indices)  # (N, H, W, 3); a file with fewer frames raises VQAError
    for img, p in zip(frames, names, strict=True):
        Image.fromarray(img).save(p, quality=90)
    return names


def _cut_clip(video: Path, start: float, end: float, dest: Path) -> Path:
    """Re-encode the ``[start, end)`` seconds of ``video`` as an H.264 mp4 at ``dest``, at the video's own frame
    rate (reused when present)."""
    if dest.is_file():
        return dest
    with _open(video) as v:
        frames = (img for img, _ in v.iter_frames(start, None if end == float("inf") else end))
        return write_mp4(dest, frames, v.info.fps or 30.0)


def video_reference(qa: QA, options: VideoOptions, out_dir: Path) -> list[Any]:
    """The ``videos`` entry of one sample: per view a path, or a list of frame paths (absolute)."""
    views = options.views or tuple(sorted(qa.videos))
    if not views:
        raise VQAError(f"sample {qa.sample_id!r} has no video; the export needs at least one view")
    refs: list[Any] = []
    for view in views:
        if view not in qa.videos:
            raise VQAError(
                f"sample {qa.sample_id!r} has no view {view!r}; it has {', '.join(sorted(qa.videos))}"
            )
        path = Path(qa.videos[view]).resolve()
        if not path.exists():
            raise VQAError(f"sample {qa.sample_id!r}: video {path} does not exist")
        windowed = qa.start is not None or qa.end is not None
        if options.mode == "file":
            if path.is_dir():
                raise VQAError(f"{path}: a frame folder; export it with video mode 'frames'")
            if windowed:  # the video holds more than the sample: cut the sample's clip out
                start = qa.start or 0.0
                end = qa.end if qa.end is not None else float("inf")
                path = _cut_clip(
                    path, start, end, out_dir / "clips" / _safe(qa.sample_id) / f"{_safe(view)}.mp4"
                )
            refs.append(str(path))
            continue
        window = {"fps": options.fps, "max_frames": options.max_frames, "start": qa.start, "end": qa.end}
        if path.is_dir():
            files = _frame_files(path)
            refs.append([str(files[i]) for i in sample_frame_indices(len(files), qa.fps_of(view), **window)])
        else:
            n_frames = qa.frames_of(view)
            if n_frames is None and qa.end is not None:  # enough to reach the end of the window
                n_frames = seconds_to_index(qa.end, qa.fps_of(view), rounding="ceil") + 1
            if n_frames is None:
                raise VQAError(f"sample {qa.sample_id!r}: frames mode on a video file needs n_frames")
            idx = sample_frame_indices(n_frames, qa.fps_of(view), **window)
            dest = out_dir / "frames" / _safe(qa.sample_id) / _safe(view)
            refs.append([str(p) for p in _extract_frames(path, idx, dest)])
    return refs


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _relative(ref: Any, root: Path | None) -> Any:
    if isinstance(ref, list):
        return [_relative(r, root) for r in ref]
    if root is None:
        return ref
    try:
        return str(Path(ref).relative_to(root))
    except ValueError:
        raise VQAError(f"{ref} is not inside media_root {root}") from None


def export_qa_set(
    qa_dir: str | Path,
    out_dir: str | Path,
    *,
    options: VideoOptions | None = None,
    splits: Sequence[str] | None = None,
) -> dict[str, int]:
    """Export the QA set in ``qa_dir`` to ``out_dir``; returns the number of conversations per split."""
    options = options or VideoOptions()
    out_dir = Path(out_dir).resolve()
    root = Path(options.media_root).resolve() if options.media_root else None
    qas = load_qa_set(qa_dir)
    by_split: dict[str, dict[str, list[QA]]] = {}
    for qa in qas:
        by_split.setdefault(qa.split, {}).setdefault(qa.sample_id, []).append(qa)
    if splits is not None:
        unknown = set(splits) - set(by_split)
        if unknown:
            raise VQAError(f"{qa_dir}: no split(s) {sorted(unknown)}; it has {', '.join(sorted(by_split))}")
        by_split = {s: by_split[s] for s in splits}
    info: dict[str, Any] = {}
    counts = {}
    for split, samples in sorted(by_split.items()):
        conversations, lines = [], []
        for sample_id, turns in samples.items():
            turns = sorted(turns, key=lambda q: q.turn)
            videos = _relative(video_reference(turns[0], options, out_dir), root)
            tags = "<video>" * len(videos)
            messages = []
            for k, qa in enumerate(turns):
                messages.append({"role": "user", "content": (tags if k == 0 else "") + qa.question})
                messages.append({"role": "assistant", "content": qa.answer})
                lines.append({**qa.to_dict(), "video_refs": videos})
            conversations.append({"id": sample_id, "messages": messages, "videos": videos})
        name = f"{DATASET_PREFIX}_{split}"
        atomic_write_text(
            out_dir / f"{name}.json", json_text(conversations, indent=1, ensure_ascii=False) + "\n"
        )
        write_jsonl(out_dir / f"{name}.jsonl", lines)
        info[name] = dataset_info_entry(f"{name}.json")
        counts[split] = len(conversations)
    _merge_dataset_info(out_dir / "dataset_info.json", info)
    config = {
        "video": asdict(options),
        "llamafactory_args": {"video_fps": options.fps, "video_maxlen": options.max_frames},
        "splits": counts,
    }
    atomic_write_text(out_dir / "export_config.json", json_text(config, indent=2) + "\n")
    return counts


def dataset_info_entry(file_name: str) -> dict[str, Any]:
    """LLaMA-Factory's ``dataset_info.json`` entry for an OpenAI-style ShareGPT file with videos."""
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "videos": "videos"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
        },
    }


def _merge_dataset_info(path: Path, entries: dict[str, Any]) -> None:
    current: dict[str, Any] = {}
    if path.is_file():
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise VQAError(f"{path}: existing dataset_info.json is not valid JSON ({exc.msg})") from None
        if not isinstance(current, dict):
            raise VQAError(f"{path}: existing dataset_info.json must hold a JSON object")
    current.update(entries)
    atomic_write_text(path, json_text(current, indent=2) + "\n")


def load_export(out_dir: str | Path, split: str) -> tuple[list[dict], list[dict], Path | None]:
    """Read an export back: (ShareGPT conversations, JSONL rows, media root or None).

    Each JSONL row is a :class:`QA` record (``QA.from_dict`` reads it) plus ``video_refs``, the exported videos.
    """
    out_dir = Path(out_dir)
    name = f"{DATASET_PREFIX}_{split}"
    info = json.loads((out_dir / "dataset_info.json").read_text(encoding="utf-8"))
    if name not in info:
        raise VQAError(f"{out_dir}/dataset_info.json has no entry {name!r}")
    conversations = json.loads((out_dir / info[name]["file_name"]).read_text(encoding="utf-8"))
    rows = [obj for _, obj in iter_jsonl(out_dir / f"{name}.jsonl")]
    config = json.loads((out_dir / "export_config.json").read_text(encoding="utf-8"))
    root = config["video"].get("media_root")
    return conversations, rows, Path(root).resolve() if root else None
