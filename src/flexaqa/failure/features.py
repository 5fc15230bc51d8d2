"""Per-repetition measurements of a trial and the features early failure prediction reads from repetitions
``1..k``: scores and errors so far, sEMG fatigue markers (median-frequency slope, envelope growth) and tempo
slowdown. numpy/scipy only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flexaqa.data import open_dataset
from flexaqa.data.schema import trial_id
from flexaqa.failure.labels import FailureError, FailureRule, reference_score, rep_failures
from flexaqa.kg import load_kg
from flexaqa.kg.scoring import resolve_slots


@dataclass
class TrialReps:
    """One trial's repetitions, in order. Arrays are ``(R,)``: ``scores`` (annotated or predicted),
    ``max_weights`` (heaviest error weight, 0 = flawless), ``n_errors``, ``durations`` and ``concentric`` (s),
    ``mdf`` (mean median frequency of the channels, Hz; NaN without sEMG) and ``amplitude`` (mean sEMG RMS)."""

    id: str
    action: str
    subject: str | None
    scores: np.ndarray
    max_weights: np.ndarray
    n_errors: np.ndarray
    durations: np.ndarray
    concentric: np.ndarray
    mdf: np.ndarray
    amplitude: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def emg_markers(emg, fs: float) -> tuple[float, float]:
    """Median frequency (Hz, mean over channels) and RMS amplitude (mean over channels) of one repetition's
    band-passed sEMG ``(N, C)``."""
    from flexaqa.signal import bandpass, spectral_frequencies  # scipy

    x = np.asarray(emg, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if len(x) < 64:
        return float("nan"), float("nan")
    y = bandpass(x - x.mean(0), fs, 20.0, min(450.0, 0.45 * fs))
    mdf, _ = spectral_frequencies(y, fs)
    return float(np.nanmean(mdf)), float(np.sqrt((y**2).mean(0)).mean())


def _weights(action, slots: Sequence[str]) -> tuple[int, int]:
    kg = load_kg()
    found = resolve_slots(kg.action(action), slots, kg=kg)
    return max((s.weight for s in found), default=0), len(found)


def _concentric(phases) -> float:
    for p in phases:
        name, a, b = (p.name, p.start, p.end) if hasattr(p, "name") else p
        if name == "concentric":
            return float(b - a)
    return float("nan")


def trial_reps_from_sim(sim) -> TrialReps:
    """Measurements of a :class:`~flexaqa.synth.SimTrial`'s kept repetitions (annotated scores and votes)."""
    reps = [r for r in sim.reps if not r.dropped]
    w = [_weights(sim.action, r.vote) for r in reps]
    mk = [
        emg_markers(sim.emg[int(r.start * sim.emg_rate) : int(r.end * sim.emg_rate)], sim.emg_rate)
        for r in reps
    ]
    return TrialReps(
        trial_id(sim.subject.id, sim.action.class_id),
        sim.action.slug,
        sim.subject.id,
        np.array([r.score for r in reps], float),
        np.array([a for a, _ in w], float),
        np.array([b for _, b in w], float),
        np.array([r.end - r.start for r in reps], float),
        np.array([_concentric(r.phases) for r in reps], float),
        np.array([m[0] for m in mk]),
        np.array([m[1] for m in mk]),
    )


def trial_reps_from_source(
    source, *, ids: Sequence[str] | None = None, progress: bool = False
) -> list[TrialReps]:
    """Measurements of every trial of a dataset (a folder or an opened reader), optionally only samples ``ids``.

    Scores come from the records, error weights from the annotated slots (readers without slots, such as the
    official release layout, give 0), durations from the keyframes, fatigue markers from each repetition's sEMG.
    """
    from tqdm import tqdm

    source = open_dataset(source) if not hasattr(source, "load") else source
    keep = None if ids is None else set(ids)
    trials: dict[str, list] = {}
    for rec in source.records:
        if keep is None or rec.id in keep:
            trials.setdefault(rec.trial or rec.id, []).append(rec)
    out = []
    for tid, recs in tqdm(trials.items(), desc="trials", unit="trial", disable=not progress):
        recs = sorted(recs, key=lambda r: (r.rep or 0, r.id))
        rows = []
        for rec in recs:
            s = source.load(rec, modalities=("emg",))
            ann = s.annotation
            weight, n_err = _weights(rec.action, ann.slots) if ann is not None else (0, 0)
            dur = ann.keyframes.duration if ann is not None else (rec.duration or np.nan)
            con = _concentric(ann.keyframes.phases) if ann is not None else np.nan
            mdf, amp = emg_markers(s.emg.data, s.emg.rate) if s.emg is not None else (np.nan, np.nan)
            score = rec.score if rec.score is not None else (ann.score if ann is not None else np.nan)
            rows.append((score, weight, n_err, dur, con, mdf, amp))
        a = np.array(rows, dtype=float)  # (R, 7)
        if np.isnan(a[:, 0]).any():
            raise FailureError(f"{source.root}: trial {tid} has repetitions without a score")
        out.append(TrialReps(tid, recs[0].action, recs[0].subject, *a.T))
    return out


FEATURE_NAMES: tuple[str, ...] = (
    "k",
    "remaining",
    "score_last",
    "score_mean",
    "score_min",
    "score_slope",
    "score_last_minus_first",
    "margin_last",
    "weight_last",
    "weight_max",
    "heavy_fraction",
    "failed_fraction",
    "errors_mean",
    "errors_last",
    "mdf_slope_pct",
    "mdf_ratio",
    "amp_slope_pct",
    "amp_ratio",
    "tempo_ratio",
    "tempo_slope_pct",
    "concentric_ratio",
)


def _slope_pct(v: np.ndarray) -> float:
    """Least-squares slope per repetition as a percentage of the first value (0 with fewer than 2 values)."""
    v = v[np.isfinite(v)]
    if len(v) < 2 or v[0] == 0:
        return 0.0
    return float(100.0 * np.polyfit(np.arange(len(v)), v, 1)[0] / abs(v[0]))


def _ratio(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    return float(v[-1] / v[0]) if len(v) >= 2 and v[0] != 0 else 1.0


def trial_features(trial: TrialReps, k: int, rule: FailureRule) -> np.ndarray:
    """``(len(FEATURE_NAMES),)`` features from repetitions ``1..k`` of ``trial`` (nothing after k is read)."""
    if not 1 <= k <= len(trial):
        raise FailureError(f"{trial.id}: k must be in 1..{len(trial)}, got {k}")
    s, w = trial.scores[:k], trial.max_weights[:k]
    heavy = rule.error_weight if rule.error_weight is not None else 9
    ref = reference_score(trial.scores, k, rule)
    drop = rule.drop if rule.drop is not None else 15.0
    f = [
        k,
        len(trial) - k,
        s[-1],
        s.mean(),
        s.min(),
        float(np.polyfit(np.arange(k), s, 1)[0]) if k >= 2 else 0.0,
        s[-1] - s[0],
        s[-1] - (ref - drop),
        w[-1],
        w.max(),
        float((w >= heavy).mean()),
        float(rep_failures(s, w, rule, k=k).mean()),
        trial.n_errors[:k].mean(),
        trial.n_errors[k - 1],
        _slope_pct(trial.mdf[:k]),
        _ratio(trial.mdf[:k]),
        _slope_pct(trial.amplitude[:k]),
        _ratio(trial.amplitude[:k]),
        _ratio(trial.durations[:k]),
        _slope_pct(trial.durations[:k]),
        _ratio(trial.concentric[:k]),
    ]
    return np.asarray(f, dtype=float)
