"""From the data layer's samples to :class:`QASource` records.

A native flexaqa dataset (``flexaqa.data``) stores whole trials; each sample is one repetition, a time window of
the trial's videos, with its annotated slots. The official FLEX release has no error annotations, so it cannot
give evaluation answers and is refused with a clear message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flexaqa.data.base import open_dataset
from flexaqa.data.splits import get_splits
from flexaqa.vqa._records import QASource, VQAError


def sources_from_dataset(
    root: str | Path,
    *,
    protocol: str | None = None,
    seed: int = 0,
    views: Sequence[str] | None = None,
) -> list[QASource]:
    """One :class:`QASource` per sample of the dataset at ``root``.

    Args:
        root: dataset folder (native layout).
        protocol: split protocol of :func:`flexaqa.data.splits.get_splits`; default: each record's stored
            split, or the ``random`` protocol when records carry none. Samples outside every split are skipped.
        seed: seed of a generated split.
        views: views to reference (default: every view of the trial that has a video file).
    """
    ds = open_dataset(root)
    if ds.layout != "native":
        raise VQAError(
            f"{root}: the {ds.layout} layout carries no error annotations (keystep:error slots), which the "
            "evaluation and scoring answers are built from; convert or annotate it into the native layout"
        )
    split_of = {r.id: r.split for r in ds.records}
    if protocol is not None or any(s is None for s in split_of.values()):
        splits = get_splits(ds, protocol or "random", seed=seed, save=False)
        split_of = {sid: name for name, ids in splits.items() for sid in ids}
    out = []
    for rec in ds.records:
        if split_of.get(rec.id) is None:
            continue
        ann = ds.annotation(rec)
        videos, view_fps, view_frames = {}, {}, {}
        for meta in ds.trial_meta(rec.trial)["views"]:
            name = meta["name"]
            if (views is not None and name not in views) or not meta.get("file"):
                continue
            videos[name] = str(ds.video_path(rec.trial, name))
            view_fps[name] = float(meta["fps"])
            if meta.get("n_frames") is not None:
                view_frames[name] = int(meta["n_frames"])
        if views is not None and set(views) - set(videos):
            missing = ", ".join(sorted(set(views) - set(videos)))
            raise VQAError(f"{root}: sample {rec.id} has no video for view(s) {missing}")
        first = next(iter(view_fps), None)
        out.append(
            QASource(
                sample_id=rec.id,
                action=rec.action,
                split=str(split_of[rec.id]),
                slots=tuple(ann.slots),
                score=ann.score if ann.score is not None else rec.score,
                videos=videos,
                fps=view_fps[first] if first else 120.0,
                n_frames=view_frames.get(first) if first else None,
                subject=rec.subject,
                start=ann.keyframes.start,
                end=ann.keyframes.end,
                view_fps=view_fps,
                view_frames=view_frames,
            )
        )
    if not out:
        raise VQAError(f"{root}: no samples in any split")
    return out
