"""Tiny self-describing datasets in both layouts, for tests, the demo and bug reports.

Every array encodes where it came from, so a reader can be checked exactly:

- video frame ``i`` of a view: two grey blocks at the top left hold ``i % 256`` and ``i // 256``;
- pose at time ``t``: joint ``j`` is ``(t, j / 10, 1 + 0.01 * j)`` metres;
- sEMG channel ``c`` at time ``t``: ``(c + 1) * t`` plus a burst in the middle of each repetition;
- heart rate ``80 + t`` bpm at 10 Hz, breath ``sin(2 pi 0.3 t)`` at 50 Hz.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flexaqa._io import output_dir
from flexaqa.data.native import finalize_dataset, write_trial
from flexaqa.data.release import ReleaseWriter
from flexaqa.data.schema import (
    Annotation,
    AnnotatorLabel,
    Keyframes,
    PhaseSpan,
    Stream,
    Subject,
    Trial,
    View,
    sample_id,
    skill_of,
)
from flexaqa.data.video import moving_blob_video
from flexaqa.errors import UsageError
from flexaqa.kg import load_kg
from flexaqa.timebase import CINEMA_FPS, EMG_HZ, PHONE_FPS

HEART_HZ = 10.0
BREATH_HZ = 50.0
REP_START, REP_LEN, REP_GAP = 0.1, 0.5, 0.1  # seconds


def encoded_frames(n: int, height: int, width: int) -> np.ndarray:
    """``(n, H, W, 3)`` uint8 frames whose frame index is written in two grey 16x16 blocks at the top left:
    block 0 holds ``i % 256``, block 1 ``i // 256`` (uniform luma blocks survive JPEG; needs W >= 32, H >= 16)."""
    if height < 16 or width < 32:
        raise ValueError(f"encoded frames need at least 16x32 pixels, got {height}x{width}")
    f = moving_blob_video(n, height, width)
    idx = np.arange(n)
    f[:, :16, :16] = (idx % 256)[:, None, None, None]
    f[:, :16, 16:32] = (idx // 256)[:, None, None, None]
    return f


def decode_frame_index(frames: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encoded_frames` on full-size ``(..., H, W, 3)`` frames -> frame indices."""
    f = np.asarray(frames).astype(float)
    lo = np.rint(f[..., 4:12, 4:12, :].mean(axis=(-3, -2, -1))).astype(int)
    hi = np.rint(f[..., 4:12, 20:28, :].mean(axis=(-3, -2, -1))).astype(int)
    return lo + 256 * hi


def pose_at(t: np.ndarray) -> np.ndarray:
    """The tiny pose at times ``t`` -> ``(len(t), 21, 3)``."""
    t = np.asarray(t, dtype=float)
    j = np.arange(21)
    out = np.empty((len(t), 21, 3))
    out[..., 0] = t[:, None]
    out[..., 1] = j / 10.0
    out[..., 2] = 1.0 + 0.01 * j
    return out


def tiny_trial(
    subject: str,
    action: str,
    *,
    reps: int = 3,
    size: tuple[int, int] = (32, 32),
    views: Sequence[View] | None = None,
    rep_len: float = REP_LEN,
    seed: int = 0,
) -> Trial:
    """A short trial of ``reps`` repetitions (``rep_len`` s each, 0.1 s apart) with all modalities and annotations."""
    kg = load_kg()
    act = kg.action(action)
    rng = np.random.default_rng([seed, act.index, sum(map(ord, subject))])
    h, w = size
    views = tuple(
        views or (View("View-1", CINEMA_FPS, w, h, "cinema"), View("View-5", PHONE_FPS, w, h, "phone"))
    )
    duration = REP_START + reps * (rep_len + REP_GAP)
    frames = {v.name: encoded_frames(round(duration * v.fps), h, w) for v in views}
    t_pose = np.arange(round(duration * CINEMA_FPS)) / CINEMA_FPS
    n_emg = round(duration * EMG_HZ)
    t_emg = np.arange(n_emg) / EMG_HZ
    n_ch = len(act.emg_channels)
    emg = t_emg[:, None] * np.arange(1, n_ch + 1)[None, :]  # (N, C)
    anns = []
    for k in range(reps):
        t0 = REP_START + k * (rep_len + REP_GAP)
        t1 = t0 + rep_len
        burst = (t_emg >= t0 + 0.4 * rep_len) & (t_emg < t0 + 0.6 * rep_len)
        emg[burst] += 0.5
        n_err = int(rng.integers(0, 4))
        chosen = sorted(rng.choice(len(act.slots), size=n_err, replace=False).tolist())
        slots = tuple(act.slots[i].id for i in chosen)
        edges = np.linspace(t0, t1, len(act.phase_names) + 1)
        kf = Keyframes(
            t0,
            t1,
            tuple(
                PhaseSpan(p, float(a), float(b))
                for p, a, b in zip(act.phase_names, edges[:-1], edges[1:], strict=True)
            ),
        )
        raw = (
            AnnotatorLabel("ann1", slots, 1),
            AnnotatorLabel("ann2", slots[:-1] if slots else slots, 1),
            AnnotatorLabel("ann3", slots, 1),
            AnnotatorLabel("rev1", slots, 2),
        )
        fb = tuple(kg.feedback(s.split(":")[1], s.split(":")[0]) for s in slots)
        ann = Annotation(act.slug, k + 1, kf, slots, None, raw, fb)
        ann.score = round(ann.fkg_score(kg), 4)
        anns.append(ann)
    return Trial(
        subject=subject,
        action=act.slug,
        views=views,
        frames=frames,
        pose=Stream(pose_at(t_pose), CINEMA_FPS, unit="m"),
        emg=Stream(emg, EMG_HZ, names=tuple(c.label for c in act.emg_channels), unit="mV"),
        heart_rate=Stream(80 + np.arange(int(duration * HEART_HZ)) / HEART_HZ, HEART_HZ, unit="bpm"),
        breath=Stream(np.sin(2 * np.pi * 0.3 * np.arange(int(duration * BREATH_HZ)) / BREATH_HZ), BREATH_HZ),
        load_kg=float(20 + 2.5 * rng.integers(0, 20)),
        reps=tuple(anns),
    )


@dataclass
class TinyDataset:
    """A tiny dataset on disk and the values a reader must find in it."""

    root: Path
    layout: str
    trials: list[Trial]
    sample_ids: list[str]
    scores: dict[str, float] = field(default_factory=dict)
    subjects: list[Subject] = field(default_factory=list)


def make_tiny_dataset(
    root: str | Path,
    *,
    layout: str = "native",
    subjects: Sequence[str] = ("P01", "P02", "A01", "A02", "N01", "N02", "N03", "N04"),
    actions: Sequence[str] = ("squat", "dumbbell-bent-over-row"),
    reps: int = 3,
    size: tuple[int, int] = (32, 32),
    seed: int = 0,
    lossless: bool = True,
    force: bool = False,
) -> TinyDataset:
    """Write a tiny dataset in the ``native`` or official ``release`` layout under ``root``.

    Defaults: 8 subjects of all three skill levels x 2 actions x 3 repetitions = 48 samples, 32x32 frames.
    The release layout keeps only View-1 (as 103 JPEGs per sample); its ids are ``A16_001``... in trial order.
    ``root`` must be new or empty (``force`` clears it); duplicate subjects or actions are refused.
    """

    if layout not in ("native", "release"):
        raise UsageError(f"layout must be 'native' or 'release', got {layout!r}")
    if reps < 1:
        raise UsageError(f"reps must be at least 1 (repetitions per trial), got {reps}")
    for what, names in (("subjects", subjects), ("actions", actions)):
        if not names:
            raise UsageError(f"give at least one of the {what}")
        twice = sorted({n for n in names if list(names).count(n) > 1})
        if twice:
            raise UsageError(f"{what} lists {twice[0]} more than once; give each once")
    with output_dir(root, mode="new", force=force) as out:
        return _make_tiny(out, layout, subjects, actions, reps, size, seed, lossless)


def _make_tiny(root: Path, layout, subjects, actions, reps, size, seed, lossless) -> TinyDataset:
    rng = np.random.default_rng(seed)
    subj = [
        Subject(
            s,
            skill_of(s),
            height_cm=float(165 + rng.integers(0, 25)),
            weight_kg=float(60 + rng.integers(0, 30)),
            age=float(20 + rng.integers(0, 20)),
        )
        for s in subjects
    ]
    trials = [tiny_trial(s.id, a, reps=reps, size=size, seed=seed) for s in subj for a in actions]
    for t in trials:
        next(s for s in subj if s.id == t.subject).loads_kg[t.action] = t.load_kg
    if layout == "native":
        for t in trials:
            write_trial(root, t, lossless=lossless)
        finalize_dataset(
            root, name="flexaqa-tiny", description="tiny synthetic dataset", subjects=subj, seed=seed
        )

        kg = load_kg()
        ids = [sample_id(t.subject, kg.action(t.action).class_id, a.rep) for t in trials for a in t.reps]
    else:
        w = ReleaseWriter(root, views=("View-1",))
        ids = [i for t in trials for i in w.add_trial(t)]
        w.close(seed=seed)
    scores = dict(zip(ids, [a.score for t in trials for a in t.reps], strict=True))
    return TinyDataset(root, layout, trials, ids, scores, subj)
