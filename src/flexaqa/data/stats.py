"""Dataset statistics of the paper's Figures 7 and 8: samples per action, mean duration and score per action,
the overall score distribution, the 20 most frequent error types and the load per subject and action.

:func:`compute_stats` returns a JSON-ready dict; :func:`write_stats` also draws the PNGs (matplotlib, Agg).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_save, atomic_write_text, json_text
from flexaqa._text import shorten
from flexaqa.data.base import open_dataset
from flexaqa.data.release import _parse_id, sample_dirs
from flexaqa.kg import load_kg
from flexaqa.kg.scoring import parse_error_token
from flexaqa.timebase import CINEMA_FPS, EMG_HZ


def _release_duration(root: Path, rec_id: str) -> float | None:
    c, i = _parse_id(rec_id)
    path = sample_dirs(root, c, i)["emg"] / "EMG.csv"
    if not path.is_file():
        return None
    with open(path, "rb") as fh:
        n = sum(1 for line in fh if line.strip())
    return n / EMG_HZ


def compute_stats(root: str | Path, *, top_k: int = 20) -> dict:
    """Figure 7/8 statistics of the dataset at ``root`` (either layout)."""
    kg = load_kg()
    ds = open_dataset(root)
    by_action: dict[str, list] = defaultdict(list)
    errors: Counter = Counter()
    for r in ds.records:
        dur = (
            r.duration
            if r.duration is not None
            else (_release_duration(ds.root, r.id) if ds.layout == "release" else None)
        )
        by_action[r.action].append((dur, r.score))
    if ds.layout == "native":
        for rec in ds.records:
            for tok in ds.annotation(rec).slots:
                errors[parse_error_token(tok)[1]] += 1
    order = [a.slug for a in kg.actions if a.slug in by_action]
    per_action = {}
    for slug in order:
        durs = np.array([d for d, _ in by_action[slug] if d is not None], dtype=float)
        scores = np.array([s for _, s in by_action[slug] if s is not None], dtype=float)
        per_action[slug] = {
            "class_index": kg.action(slug).index,
            "samples": len(by_action[slug]),
            "mean_duration_s": float(durs.mean()) if durs.size else None,
            "mean_duration_frames": float(durs.mean() * CINEMA_FPS) if durs.size else None,
            "mean_score": float(scores.mean()) if scores.size else None,
            "std_score": float(scores.std()) if scores.size else None,
        }
    all_scores = np.array([r.score for r in ds.records if r.score is not None], dtype=float)
    hist, edges = (
        np.histogram(all_scores, bins=20, range=(0, 100))
        if all_scores.size
        else (np.zeros(20), np.linspace(0, 100, 21))
    )
    loads: dict[str, dict[str, float]] = defaultdict(dict)
    for r in ds.records:
        if r.subject and r.load_kg is not None:
            loads[r.subject][r.action] = r.load_kg
    if ds.layout == "native":
        for sid, s in ds.subjects.items():
            for a, w in s.loads_kg.items():
                loads[sid].setdefault(a, w)
    return {
        "root": str(ds.root),
        "layout": ds.layout,
        "samples": len(ds),
        "subjects": len({r.subject for r in ds.records if r.subject}),
        "per_action": per_action,
        "score": {
            "count": int(all_scores.size),
            "mean": float(all_scores.mean()) if all_scores.size else None,
            "std": float(all_scores.std()) if all_scores.size else None,
            "min": float(all_scores.min()) if all_scores.size else None,
            "max": float(all_scores.max()) if all_scores.size else None,
            "histogram": {"edges": edges.tolist(), "counts": np.asarray(hist).astype(int).tolist()},
        },
        "top_errors": [
            {"code": code, "text": kg.errors[code].text, "count": n} for code, n in errors.most_common(top_k)
        ],
        "loads_kg": {s: dict(sorted(v.items())) for s, v in sorted(loads.items())},
    }


def write_stats(root: str | Path, out: str | Path) -> list[Path]:
    """Write ``stats.json`` and the Figure 7/8 PNGs into ``out``; returns the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = compute_stats(root)
    out = Path(out)
    written = [atomic_write_text(out / "stats.json", json_text(st, indent=1) + "\n")]
    pa = st["per_action"]
    labels = [f"A{v['class_index']:02d}" for v in pa.values()]

    def save(fig, name):
        written.append(
            atomic_save(out / name, lambda p: fig.savefig(p, dpi=120, bbox_inches="tight"), suffix=".png")
        )
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.bar(labels, [v["samples"] for v in pa.values()], color="#4C72B0")
    ax.set(title="(a) Samples per action", xlabel="action", ylabel="samples")
    save(fig, "fig7a_samples_per_action.png")

    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.bar(
        labels, [v["mean_duration_frames"] or 0 for v in pa.values()], color="#55A868", label="mean duration"
    )
    ax.set(
        title="(b) Mean duration and score per action",
        xlabel="action",
        ylabel="mean duration (frames at 120 fps)",
    )
    ax2 = ax.twinx()
    ax2.plot(
        labels,
        [np.nan if v["mean_score"] is None else v["mean_score"] for v in pa.values()],
        "o-",
        color="#C44E52",
        label="mean score",
    )
    ax2.set(ylabel="mean score", ylim=(0, 100))
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, loc="lower right", framealpha=0.9)
    save(fig, "fig7b_duration_score_per_action.png")

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
    h = st["score"]["histogram"]
    a1.bar(
        h["edges"][:-1],
        h["counts"],
        width=np.diff(h["edges"]),
        align="edge",
        color="#8172B2",
        edgecolor="white",
    )
    a1.set(title="(c) Score distribution", xlabel="score", ylabel="samples")
    top = st["top_errors"]
    a2.barh(
        [f"{t['code']} {shorten(t['text'], 32)}" for t in top][::-1],
        [t["count"] for t in top][::-1],
        color="#CCB974",
    )
    a2.set(title=f"Top {len(top)} error types", xlabel="occurrences")
    save(fig, "fig7c_scores_and_errors.png")

    loads = st["loads_kg"]
    subjects = sorted(loads, key=lambda sid: ({"P": 0, "A": 1, "N": 2}.get(sid[:1], 3), sid))  # experts first
    actions = list(pa)
    grid = np.full((len(actions), len(subjects)), np.nan)
    for j, s in enumerate(subjects):
        for i, a in enumerate(actions):
            grid[i, j] = loads[s].get(a, np.nan)
    fig, ax = plt.subplots(figsize=(max(6, 0.3 * len(subjects) + 2), 6))
    if not subjects:  # the release layout records no subjects or loads
        ax.text(
            0.5, 0.5, "no subject loads in this dataset", ha="center", va="center", transform=ax.transAxes
        )
        ax.set_axis_off()
        save(fig, "fig8_loads.png")
        return written
    im = ax.imshow(grid, aspect="auto", cmap="Blues")
    ax.set_xticks(range(len(subjects)), subjects, rotation=90, fontsize=7)
    ax.set_yticks(range(len(actions)), labels, fontsize=7)
    ax.set(title="Load per subject and action (kg)", xlabel="subject", ylabel="action")
    fig.colorbar(im, ax=ax, label="kg")
    save(fig, "fig8_loads.png")
    return written
