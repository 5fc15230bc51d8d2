"""Tiny synthetic VideoQA inputs that carry their expected values: samples with known slots and FKG scores,
placeholder videos (or frame folders) on disk, and noisy model predictions for the KG-coach answerer.

The videos are placeholders (a few bytes, or tiny frame files): they stand in for real recordings wherever
only paths matter (building, exporting, checking references).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from flexaqa.kg import KnowledgeGraph, load_kg, score
from flexaqa.timebase import CINEMA_FPS
from flexaqa.vqa._records import QASource

VIEWS = ("View-1", "View-2")


def make_sources(
    root: str | Path,
    n_samples: int = 8,
    *,
    seed: int = 0,
    splits: Sequence[str] = ("train", "test"),
    views: Sequence[str] = VIEWS,
    frames: int = 0,
    flawless_every: int = 4,
    kg: KnowledgeGraph | None = None,
) -> list[QASource]:
    """``n_samples`` annotated samples over all actions, with placeholder media under ``root``.

    Every ``flawless_every``-th sample has no error; the others 1-4 random slots of their action. ``score``
    holds the FKG score of the slots. With ``frames > 0`` each view is a folder of that many frame files
    (``img_00001.jpg``...); otherwise a placeholder ``.mp4`` file.
    """
    kg = kg or load_kg()
    rng = np.random.default_rng(seed)
    root = Path(root)
    out = []
    for i in range(n_samples):
        act = kg.actions[i % len(kg.actions)]
        if flawless_every and i % flawless_every == 0:
            slots: tuple[str, ...] = ()
        else:
            k = int(rng.integers(1, 5))
            picked = np.sort(rng.choice(len(act.slots), size=k, replace=False))
            slots = tuple(act.slots[j].id for j in picked)
        sample_id = f"{act.class_id}/{i:03d}"
        videos = {}
        for view in views:
            if frames:
                folder = root / act.class_id / f"{i:03d}" / view
                folder.mkdir(parents=True, exist_ok=True)
                for f in range(frames):
                    (folder / f"img_{f + 1:05d}.jpg").write_bytes(b"\xff\xd8placeholder\xff\xd9")
                videos[view] = str(folder)
            else:
                path = root / act.class_id / f"{i:03d}" / f"{view}.mp4"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"placeholder video\n")
                videos[view] = str(path)
        out.append(
            QASource(
                sample_id=sample_id,
                action=act.slug,
                split=splits[i % len(splits)],
                slots=slots,
                score=score(act, slots, kg=kg).score,
                videos=videos,
                fps=CINEMA_FPS,
                n_frames=frames or 103,
                subject=f"S{i % 5 + 1:02d}",
            )
        )
    return out


def make_predictions(
    sources: Sequence[QASource],
    *,
    seed: int = 0,
    action_accuracy: float = 0.9,
    slot_flip: float = 0.05,
    score_noise: float | None = None,
    kg: KnowledgeGraph | None = None,
) -> list[dict]:
    """Noisy predictions (``sample_id``, ``action``, ``slots``, ``score``) as a trained model would give them.

    The action is right with probability ``action_accuracy`` (else another action, with random slots); each
    slot of the predicted action is flipped with probability ``slot_flip``. ``score`` is the FKG score of the
    predicted slots, plus Gaussian noise of ``score_noise`` points when given (a separate regressor).
    """
    kg = kg or load_kg()
    rng = np.random.default_rng(seed)
    preds = []
    for src in sources:
        true_act = kg.action(src.action)
        if rng.random() < action_accuracy:
            act = true_act
            mask = np.array([s.id in src.slots for s in act.slots])
        else:
            others = [a for a in kg.actions if a.slug != true_act.slug]
            act = others[int(rng.integers(len(others)))]
            mask = rng.random(len(act.slots)) < 0.1
        mask = mask ^ (rng.random(len(act.slots)) < slot_flip)
        slots = [s.id for s, m in zip(act.slots, mask, strict=True) if m]
        value = score(act, slots, kg=kg).score
        if score_noise:
            value = float(np.clip(value + rng.normal(0.0, score_noise), 0.0, 100.0))
        preds.append(
            {"sample_id": src.sample_id, "action": act.slug, "slots": slots, "score": round(value, 4)}
        )
    return preds
