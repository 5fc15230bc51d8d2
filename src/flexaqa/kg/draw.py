"""Draw one action's subgraph: action -> phases -> keysteps -> error slots, coloured by severity."""

from __future__ import annotations

from pathlib import Path

from flexaqa._io import atomic_save
from flexaqa._text import shorten
from flexaqa.kg._schema import Action, KnowledgeGraph

SEVERITY_COLOURS = {
    "joint_safety": "#c0392b",
    "stability_trajectory_force": "#e67e22",
    "posture_amplitude": "#f1c40f",
    "fine_control": "#3498db",
    "breathing": "#95a5a6",
}
PHASE_COLOURS = {"preparation": "#d5e8d4", "concentric": "#dae8fc", "eccentric": "#ffe6cc"}


def draw_action(kg: KnowledgeGraph, action: Action, out: str | Path) -> Path:
    """Render ``action`` as a left-to-right tree and save it to ``out`` (format from the suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    n = len(action.slots)
    fig_h = max(4.0, 0.32 * n + 1.2)
    fig, ax = plt.subplots(figsize=(15, fig_h))
    ax.set_xlim(-0.2, 4.6)
    ax.set_ylim(-1, n)
    ax.axis("off")
    box = {"boxstyle": "round,pad=0.3", "lw": 0.8}

    y_slot = {s.id: n - 1 - i for i, s in enumerate(action.slots)}
    y_ks, y_ph = {}, {}
    for p in action.phases:
        for ke in p.keysteps:
            ys = [y_slot[f"{ke.keystep}:{e}"] for e in ke.errors]
            y_ks[ke.keystep] = sum(ys) / len(ys)
        y_ph[p.name] = sum(y_ks[k.keystep] for k in p.keysteps) / len(p.keysteps)
    y_act = sum(y_ph.values()) / len(y_ph)

    def edge(x0, y0, x1, y1):
        ax.plot([x0, x1], [y0, y1], color="#999999", lw=0.7, zorder=0)

    ax.text(
        0,
        y_act,
        shorten(action.name, 24),
        ha="center",
        va="center",
        fontsize=10,
        weight="bold",
        bbox={**box, "fc": "#eeeeee"},
    )
    for p in action.phases:
        edge(0.35, y_act, 0.8, y_ph[p.name])
        ax.text(
            1.0,
            y_ph[p.name],
            p.name,
            ha="center",
            va="center",
            fontsize=9,
            bbox={**box, "fc": PHASE_COLOURS.get(p.name, "white")},
        )
        for ke in p.keysteps:
            edge(1.2, y_ph[p.name], 1.7, y_ks[ke.keystep])
            ax.text(
                1.85,
                y_ks[ke.keystep],
                ke.keystep,
                ha="center",
                va="center",
                fontsize=9,
                bbox={**box, "fc": "white"},
            )
            for e in ke.errors:
                y = y_slot[f"{ke.keystep}:{e}"]
                et = kg.errors[e]
                edge(2.0, y_ks[ke.keystep], 2.35, y)
                ax.text(
                    2.4,
                    y,
                    f"{e}  w={et.weight:<2}  {shorten(et.text, 80)}",
                    ha="left",
                    va="center",
                    fontsize=8,
                    bbox={**box, "fc": SEVERITY_COLOURS.get(et.severity, "white"), "alpha": 0.35},
                )
    handles = [
        Line2D([0], [0], marker="s", ls="", color=c, alpha=0.6, label=k.replace("_", " "))
        for k, c in SEVERITY_COLOURS.items()
    ]
    ax.legend(handles=handles, loc="lower left", fontsize=7, frameon=False, ncol=5)
    ax.set_title(
        f"{action.class_id} {action.name}: {n} error slots, total weight {action.total_weight}", fontsize=11
    )
    fig.tight_layout()
    try:
        return atomic_save(out, lambda tmp: fig.savefig(tmp, dpi=110))
    finally:
        plt.close(fig)
