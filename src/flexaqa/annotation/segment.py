"""Repetition boundaries: the pose segmenter (:func:`flexaqa.signal.segment.segment_pose`) proposes, a person
confirms or corrects. Corrections are what ``annotate export`` writes as keyframes."""

from __future__ import annotations

from pathlib import Path

from flexaqa.annotation.records import AnnotationError
from flexaqa.data.native import NativeDataset


def propose(
    store, trial: str, *, data_dir: str | Path | None = None
) -> list[tuple[int, float, float, float]]:
    """Segment ``trial``'s pose and store the result as a proposal; returns ``(rep, start, turn, end)`` s."""
    from flexaqa.signal.segment import segment_pose

    ds = NativeDataset(data_dir or store.config().dataset)
    tasks = [t for t in store.tasks() if t.trial == trial]
    if not tasks:
        raise AnnotationError(f"trial {trial!r} has no samples in this project")
    pose = ds.stream(trial, "pose")
    if pose is None:
        raise AnnotationError(f"trial {trial} has no pose stream to segment; correct boundaries with --rep")
    seg = segment_pose(pose.data, pose.rate, tasks[0].action)
    reps = [
        (i, pose.start + s, pose.start + m, pose.start + e)
        for i, (s, m, e) in enumerate(seg.times.tolist(), 1)
    ]
    if not reps:
        raise AnnotationError(f"trial {trial}: the segmenter found no repetition")
    store.add_segments(trial, reps, kind="proposal", annotator="segmenter")
    return reps


def accept_proposal(store, trial: str, *, annotator: str) -> int:
    """Confirm the newest proposal: each of the trial's repetitions takes the proposed repetition that overlaps
    it most. Raises :class:`AnnotationError` if a repetition overlaps none or two take the same one."""
    prop = sorted(store.segments(trial, kind="proposal").values(), key=lambda p: p["start"])
    if not prop:
        raise AnnotationError(
            f"trial {trial}: no proposal yet; run `annotate segment --trial {trial} --propose`"
        )
    tasks = [t for t in store.tasks() if t.trial == trial]
    rows, taken = [], {}
    for t in tasks:
        overlap = [max(0.0, min(t.end, p["end"]) - max(t.start, p["start"])) for p in prop]
        best = max(range(len(prop)), key=overlap.__getitem__)
        if overlap[best] <= 0:
            raise AnnotationError(
                f"{t.sample_id} [{t.start:.2f}, {t.end:.2f}] s overlaps no proposed repetition; correct it with --rep"
            )
        if best in taken:
            raise AnnotationError(
                f"{t.sample_id} and {taken[best]} both match proposed repetition {best + 1}; correct them with --rep"
            )
        taken[best] = t.sample_id
        p = prop[best]
        rows.append((t.rep, p["start"], p["turn"], p["end"]))
    return store.add_segments(trial, rows, kind="correction", annotator=annotator)
