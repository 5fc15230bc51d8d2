"""How much the stage-1 annotators agree: per error type and overall, and on scores.

Items are the (sample, slot) pairs of every sample whose assigned labellers have all labelled it; each
annotator's rating of an item is 1 (marked) or 0. Per error type (``ETyyy``, over every slot of that error)
and overall:

- ``fleiss_kappa`` (statsmodels), ``krippendorff_alpha`` (``krippendorff``, nominal),
- ``disagreement``: the share of annotator pairs that disagree on an item (``1 - P_o`` of Fleiss),
- ``prevalence``: the share of ratings that mark the error.

Scores (the FKG score of each annotator's slots, and manual scores when given): Krippendorff's alpha
(interval) and the ICC (pingouin). When labellers rotate over samples, raters are identified by their
position in the sample's assignment, so ICC1 (one-way random) is the one to read.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_save, atomic_write_text, json_text
from flexaqa.annotation.records import AnnotationError
from flexaqa.data.base import write_csv_text
from flexaqa.kg import load_kg


@dataclass
class AgreementRow:
    error: str  # ETyyy, or "overall"
    text: str
    n_items: int
    n_marked: int  # ratings that mark the error
    prevalence: float
    disagreement: float
    fleiss_kappa: float | None
    krippendorff_alpha: float | None


@dataclass
class AgreementReport:
    n_samples: int
    n_raters_per_sample: int
    annotators: list[str]
    rows: list[AgreementRow]  # overall first, then error types by code
    scores: dict[str, dict]  # "fkg" (and "manual") -> {"krippendorff_alpha", "icc1", "icc1k", "icc2", ...}
    disputed: list[dict] = field(default_factory=list)  # slots annotators split on most

    def row(self, error: str) -> AgreementRow:
        for r in self.rows:
            if r.error == error:
                return r
        raise KeyError(error)

    def to_dict(self) -> dict:
        return {
            "n_samples": self.n_samples,
            "n_raters_per_sample": self.n_raters_per_sample,
            "annotators": self.annotators,
            "rows": [asdict(r) for r in self.rows],
            "scores": self.scores,
            "disputed": self.disputed,
        }


def _fleiss(ratings: np.ndarray) -> float | None:
    """Fleiss' kappa of binary ``ratings`` ``(items, raters)``; ``None`` when undefined (one category only)."""
    from statsmodels.stats.inter_rater import fleiss_kappa

    pos = ratings.sum(axis=1)
    table = np.stack([ratings.shape[1] - pos, pos], axis=1)
    if len(table) == 0 or table[:, 1].sum() in (0, table.sum()):
        return None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = float(fleiss_kappa(table, method="fleiss"))
    return None if not np.isfinite(k) else k


def _alpha(data: np.ndarray, level: str) -> float | None:
    """Krippendorff's alpha of ``data`` ``(raters, items)`` with NaN for missing ratings."""
    import krippendorff

    values = data[np.isfinite(data)]
    if values.size == 0 or np.unique(values).size < 2:
        return None
    a = float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
    return None if not np.isfinite(a) else a


# pingouin >= 0.6 names (McGraw & Wong) and the older Shrout & Fleiss names, both to ours
_ICC_NAMES = {
    "ICC(1,1)": "icc1",
    "ICC(A,1)": "icc2",
    "ICC(C,1)": "icc3",
    "ICC(1,k)": "icc1k",
    "ICC(A,k)": "icc2k",
    "ICC(C,k)": "icc3k",
    "ICC1": "icc1",
    "ICC2": "icc2",
    "ICC3": "icc3",
    "ICC1k": "icc1k",
    "ICC2k": "icc2k",
    "ICC3k": "icc3k",
}


def _icc(scores: np.ndarray) -> dict:
    """ICC of ``scores`` ``(items, raters)`` (complete) with pingouin."""
    import pandas as pd
    import pingouin as pg

    n, k = scores.shape
    if n < 2 or k < 2 or np.ptp(scores) == 0:
        return {}
    df = pd.DataFrame(
        {"item": np.repeat(np.arange(n), k), "rater": np.tile(np.arange(k), n), "score": scores.ravel()}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pg.intraclass_corr(data=df, targets="item", raters="rater", ratings="score")
    out = {}
    for _, r in res.iterrows():
        key = _ICC_NAMES.get(str(r["Type"]), str(r["Type"]).lower())
        out[key] = float(r["ICC"])
        out[f"{key}_ci95"] = [float(x) for x in r["CI95"]]
    return out


def agreement_report(store, *, top: int = 10) -> AgreementReport:
    """Agreement of the current stage-1 labels in ``store`` (samples labelled by all their labellers)."""
    kg = load_kg()
    tasks = {t.sample_id: t for t in store.tasks()}
    assigned = store.assignments()
    current = store.current_labels(stage=1)
    complete = []
    for sid in sorted(tasks):
        who = assigned.get((sid, 1), ())
        if who and all((sid, a, 1) in current for a in who):
            complete.append((sid, who))
    if not complete:
        raise AnnotationError("no sample has all its stage-1 labels yet: nothing to measure agreement on")
    k = len(complete[0][1])
    annotators = sorted({a for _, who in complete for a in who})
    col = {a: i for i, a in enumerate(annotators)}
    # one entry per (sample, slot): error code, slot id, the k ratings, the ratings by annotator
    codes, slot_ids, ratings, by_rater = [], [], [], []
    fkg = np.zeros((len(complete), k))
    manual = np.full((len(complete), k), np.nan)
    for i, (sid, who) in enumerate(complete):
        labs = [current[(sid, a, 1)] for a in who]
        for j, lab in enumerate(labs):
            fkg[i, j] = lab.fkg_score
            if lab.score is not None:
                manual[i, j] = lab.score
        for slot in kg.action(tasks[sid].action).slots:
            marks = [float(slot.id in lab.slots) for lab in labs]
            codes.append(slot.error)
            slot_ids.append((tasks[sid].action, slot.id))
            ratings.append(marks)
            row = np.full(len(annotators), np.nan)
            for a, m in zip(who, marks, strict=True):
                row[col[a]] = m
            by_rater.append(row)
    codes_a = np.array(codes)
    ratings_a = np.array(ratings)  # (items, k)
    by_rater_a = np.array(by_rater).T  # (raters, items)
    pos = ratings_a.sum(axis=1)
    pair_dis = pos * (k - pos) / (k * (k - 1) / 2)  # share of disagreeing pairs per item

    def row(name: str, text: str, mask: np.ndarray) -> AgreementRow:
        r = ratings_a[mask]
        return AgreementRow(
            error=name,
            text=text,
            n_items=int(mask.sum()),
            n_marked=int(r.sum()),
            prevalence=float(r.mean()),
            disagreement=float(pair_dis[mask].mean()),
            fleiss_kappa=_fleiss(r),
            krippendorff_alpha=_alpha(by_rater_a[:, mask], "nominal"),
        )

    rows = [row("overall", "every error slot", np.ones(len(codes_a), bool))]
    for code in sorted(set(codes)):
        rows.append(row(code, kg.errors[code].text, codes_a == code))
    scores = {"fkg": _score_agreement(fkg, complete, annotators)}
    if np.isfinite(manual).all():
        scores["manual"] = _score_agreement(manual, complete, annotators)
    disputed: dict[tuple[str, str], list[int]] = {}
    for (act, sid), p in zip(slot_ids, pos, strict=True):
        d = disputed.setdefault((act, sid), [0, 0])
        d[0] += 1
        d[1] += int(0 < p < k)
    worst = sorted(disputed.items(), key=lambda kv: (-kv[1][1], -kv[1][1] / kv[1][0], kv[0]))
    top_rows = [
        {
            "action": act,
            "slot": sid,
            "error": kg.errors[sid.split(":")[1]].text,
            "n_items": n,
            "n_split": s,
            "split_rate": s / n,
        }
        for (act, sid), (n, s) in worst[:top]
        if s
    ]
    return AgreementReport(len(complete), k, annotators, rows, scores, top_rows)


def _score_agreement(scores: np.ndarray, complete, annotators) -> dict:
    col = {a: i for i, a in enumerate(annotators)}
    data = np.full((len(annotators), len(complete)), np.nan)
    for i, (_, who) in enumerate(complete):
        for j, a in enumerate(who):
            data[col[a], i] = scores[i, j]
    out = {
        "krippendorff_alpha": _alpha(data, "interval"),
        "mean": float(scores.mean()),
        "mean_abs_pair_difference": float(
            np.mean(
                [abs(scores[:, a] - scores[:, b]).mean() for a in range(scores.shape[1]) for b in range(a)]
            )
        ),
    }
    out.update(_icc(scores))
    return out


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def markdown(rep: AgreementReport) -> str:
    lines = [
        f"# Stage-1 agreement: {rep.n_samples} samples, {rep.n_raters_per_sample} labellers each "
        f"({', '.join(rep.annotators)})",
        "",
        "| error | n items | marked | prevalence | pairwise disagreement | Fleiss' kappa | Krippendorff's alpha |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rep.rows:
        name = "**overall**" if r.error == "overall" else f"{r.error} {r.text}"
        lines.append(
            f"| {name} | {r.n_items} | {r.n_marked} | {r.prevalence:.3f} | {r.disagreement:.4f} | "
            f"{_fmt(r.fleiss_kappa)} | {_fmt(r.krippendorff_alpha)} |"
        )
    lines += [
        "",
        "| scores | Krippendorff's alpha (interval) | ICC1 | ICC1k | ICC2 | mean abs pair difference |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in rep.scores.items():
        lines.append(
            f"| {name} | {_fmt(s.get('krippendorff_alpha'))} | {_fmt(s.get('icc1'))} | {_fmt(s.get('icc1k'))} | "
            f"{_fmt(s.get('icc2'))} | {s['mean_abs_pair_difference']:.2f} |"
        )
    lines += [
        "",
        "Most disputed slots (samples where the labellers split):",
        "",
        "| action | slot | error | split / items |",
        "|---|---|---|---:|",
    ]
    lines += [
        f"| {d['action']} | {d['slot']} | {d['error']} | {d['n_split']} / {d['n_items']} |"
        for d in rep.disputed
    ]
    return "\n".join(lines) + "\n"


def write_agreement(rep: AgreementReport, out: str | Path) -> list[Path]:
    """``agreement.json``, ``agreement.csv``, ``agreement.md`` and ``agreement.png`` under ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    paths = [
        atomic_write_text(out / "agreement.json", json_text(rep.to_dict(), indent=1)),
        atomic_write_text(
            out / "agreement.csv",
            write_csv_text(list(asdict(rep.rows[0])), [list(asdict(r).values()) for r in rep.rows]),
        ),
        atomic_write_text(out / "agreement.md", markdown(rep)),
    ]
    rows = [r for r in rep.rows if r.error != "overall" and r.n_marked]
    fig, ax = plt.subplots(figsize=(max(6, 0.28 * len(rows)), 4))
    x = np.arange(len(rows))
    for off, key, label in (
        (-0.2, "fleiss_kappa", "Fleiss' kappa"),
        (0.2, "krippendorff_alpha", "Krippendorff's alpha"),
    ):
        ax.bar(
            x + off, [np.nan if getattr(r, key) is None else getattr(r, key) for r in rows], 0.4, label=label
        )
    overall = rep.rows[0].fleiss_kappa
    if overall is not None:
        ax.axhline(overall, color="k", lw=0.8, ls="--", label=f"overall kappa {overall:.2f}")
    ax.set_xticks(x, [r.error for r in rows], rotation=90, fontsize=7)
    ax.set_ylabel("agreement")
    ax.set_ylim(min(-0.1, ax.get_ylim()[0]), 1.0)
    ax.set_title(f"Stage-1 agreement per error type ({rep.n_samples} samples)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(atomic_save(out / "agreement.png", lambda p: fig.savefig(p, dpi=120)))
    plt.close(fig)
    return paths
