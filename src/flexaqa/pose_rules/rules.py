"""Error detectors as data: each FKG slot of an action maps to one or more threshold rules on a pose feature.

The rules live in ``pose_rules/data/rules.yaml``: a default rule per error type (``ET005``, or ``ET004@eccentric``
for one phase), per-action overrides keyed by slot (``AK44:ET056``), and the error types pose cannot reveal
with the reason. A rule reads a feature (:mod:`flexaqa.pose_rules.features`) over a *window* of a repetition,
reduces it with a *stat* and compares it with a threshold (``above``, ``below`` or ``outside [lo, hi]``).

Windows: ``start`` / ``end`` (first / last 12 % of the repetition; ``end`` at most the last 15 % of the last
phase, so a fast phase does not pull moving frames into it), ``turn`` (around the turning point),
``rep``, ``concentric``, ``eccentric``, ``concentric_early`` / ``eccentric_early`` (first half of the
phase); ``preparation`` means ``start``. Stats: ``mean``, ``min``, ``max``, ``extreme`` (the value farthest
outside the band), ``range``, ``rise`` (max - first), ``drop`` (first - min; with ``ref: rep`` "first" is the
repetition's start, not the window's), ``wobble`` (amplitude of the
1.5-5 Hz band, i.e. sway) and ``duration`` (seconds of the window; no feature), ``tempo_ratio`` (the window's duration over
the other moving phase's). With ``ref: rep`` the level stats (``mean``, ``min``, ``max``, ``extreme``) read the
feature's change from the repetition's start: the rule of a moving phase then judges what goes wrong in that
phase, and a fault already held from the set-up stays the set-up keystep's error.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from flexaqa.errors import reject_unknown_keys
from flexaqa.kg import PHASE_NAMES, load_kg
from flexaqa.pose_rules.features import FEATURES
from flexaqa.pose_rules.sequence import PoseRulesError, PoseSequence, Rep
from flexaqa.skeleton import J

RULES_PATH = Path(__file__).with_name("data") / "rules.yaml"
WINDOWS = (
    "start",
    "end",
    "turn",
    "rep",
    "preparation",
    "concentric",
    "eccentric",
    "concentric_early",
    "eccentric_early",
)
STATS = ("mean", "min", "max", "extreme", "range", "rise", "drop", "wobble", "duration", "tempo_ratio")
VIEWS = ("front", "side", "3d")
_FILE_KEYS = (
    "version",
    "confidence",
    "scales",
    "monocular_margin",
    "not_assessable",
    "errors",
    "actions",
    "video",
)
_RULE_KEYS = {"feature", "window", "stat", "above", "below", "outside", "scale", "views", "note", "ref"}


class RulesError(PoseRulesError):
    """The rules file breaks its format."""


@dataclass(frozen=True)
class Rule:
    """One threshold test on a feature over a window of a repetition."""

    feature: str | None  # None for stat == "duration"
    window: str
    stat: str
    op: str  # "above" | "below" | "outside"
    threshold: tuple[float, ...]  # (t,) or (lo, hi)
    scale: float  # how far beyond the threshold counts as certain (confidence 1)
    views: tuple[str, ...] = VIEWS
    note: str = ""
    ref: str = "window"  # rise/drop measured from the window's first frames, or from the repetition's ("rep")

    @property
    def joints(self) -> tuple[str, ...]:
        return FEATURES[self.feature].joints if self.feature else ()

    @property
    def unit(self) -> str:
        if self.feature:
            return FEATURES[self.feature].unit
        return "ratio" if self.stat == "tempo_ratio" else "s"

    def describe(self) -> str:
        what = self.feature or self.stat
        thr = (
            f"[{self.threshold[0]:g}, {self.threshold[1]:g}]"
            if self.op == "outside"
            else f"{self.threshold[0]:g}"
        )
        rel = " change from the rep start" if self.ref == "rep" and self.stat not in ("rise", "drop") else ""
        return f"{self.stat} {what}{rel} over {self.window} {self.op} {thr} {self.unit}"


@dataclass(frozen=True)
class RuleSet:
    """The detectors of one action: slot id -> rules (any firing means the error), and unassessable slots."""

    action: str
    rules: dict[str, tuple[Rule, ...]]
    skipped: dict[str, str]  # slot id -> why it cannot be assessed
    min_visibility: float = 0.5
    min_valid: float = 0.6
    monocular_margin: dict[str, float] = field(
        default_factory=dict
    )  # unit -> widening for single-camera pose


@dataclass
class RuleResult:
    """The outcome of one rule on one repetition."""

    rule: Rule
    assessed: bool
    fired: bool = False
    value: float | None = None
    confidence: float = 0.0
    frames: list[int] = field(
        default_factory=list
    )  # frame indices (of the sequence) that break the threshold
    key_frame: int | None = None
    reason: str = ""
    margin: float | None = None  # how far beyond the threshold (> 0: fired), in the rule's unit


def _parse_rule(raw: dict, where: str, scales: dict) -> Rule:
    if not isinstance(raw, dict):
        raise RulesError(f"{where}: a rule must be a mapping, got {raw!r}")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RulesError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_RULE_KEYS)}")
    ops = [k for k in ("above", "below", "outside") if k in raw]
    if len(ops) != 1:
        raise RulesError(f"{where}: give exactly one of above/below/outside, got {ops}")
    op = ops[0]
    thr = raw[op]
    thr = tuple(float(v) for v in thr) if op == "outside" else (float(thr),)
    if op == "outside" and (len(thr) != 2 or thr[0] >= thr[1]):
        raise RulesError(f"{where}: outside needs [lo, hi] with lo < hi, got {raw[op]!r}")
    stat = raw.get("stat", "extreme" if op == "outside" else ("max" if op == "above" else "min"))
    if stat not in STATS:
        raise RulesError(f"{where}: unknown stat {stat!r}; expected one of {STATS}")
    feature = raw.get("feature")
    if stat in ("duration", "tempo_ratio"):
        feature = None
    elif feature not in FEATURES:
        raise RulesError(f"{where}: unknown feature {feature!r}; features: {', '.join(sorted(FEATURES))}")
    window = raw.get("window", "")
    if window and window not in WINDOWS:
        raise RulesError(f"{where}: unknown window {window!r}; expected one of {WINDOWS}")
    views = tuple(raw.get("views", VIEWS))
    if set(views) - set(VIEWS):
        raise RulesError(f"{where}: unknown view(s) {sorted(set(views) - set(VIEWS))}; expected {VIEWS}")
    unit = FEATURES[feature].unit if feature else ("ratio" if stat == "tempo_ratio" else "s")
    scale = float(raw.get("scale", scales.get(unit, 1.0)))
    ref = raw.get("ref", "window")
    if ref not in ("window", "rep"):
        raise RulesError(f"{where}: ref must be 'window' or 'rep', got {ref!r}")
    return Rule(feature, window, stat, op, thr, scale, views, str(raw.get("note", "")), ref)


def _rules_of(raw, where: str, scales: dict) -> tuple[Rule, ...]:
    items = raw if isinstance(raw, list) else [raw]
    return tuple(
        _parse_rule(r, f"{where}[{i}]" if isinstance(raw, list) else where, scales)
        for i, r in enumerate(items)
    )


@lru_cache(maxsize=4)
def load_rules_file(path: str) -> dict:
    """The raw mapping of a rules file, its top-level sections checked (cached per path)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"{path}: cannot read the coach rules ({exc})") from exc
    for key in ("errors", "actions", "not_assessable", "scales"):
        if not isinstance(data, dict) or not isinstance(data.get(key), dict):
            raise RulesError(f"{path}: expected a mapping under {key!r}")
    check_rules_file(data, path)
    return data


def _numbers(raw, where: str, keys=None) -> None:
    if not isinstance(raw, dict):
        raise RulesError(f"{where}: expected a mapping of numbers, got {raw!r}")
    if keys is not None:
        reject_unknown_keys(raw, keys, what=where, error=RulesError)
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise RulesError(f"{where}.{k}: expected a number >= 0, got {v!r}")


def check_rules_file(data: dict, path: str, kg=None) -> None:
    """Check a whole rules file against its format and the FKG, so a typo fails when the file is loaded, not when
    (or never, if no one asks for) the action it concerns: top-level keys, numbers, every rule of ``errors`` and
    ``actions``, error codes, action slugs and slot ids. The ``video:`` section is checked by
    :func:`flexaqa.pose_rules.calibration.load_video_calibration`."""
    kg = kg or load_kg()
    reject_unknown_keys(data, _FILE_KEYS, what=path, error=RulesError)
    units = sorted({f.unit for f in FEATURES.values()} | {"ratio", "s"})
    _numbers(data["scales"], f"{path}: scales", units)
    _numbers(data.get("monocular_margin") or {}, f"{path}: monocular_margin", units)
    _numbers(data.get("confidence") or {}, f"{path}: confidence", ("min_visibility", "min_valid"))
    scales = {str(k): float(v) for k, v in data["scales"].items()}
    reject_unknown_keys(data["not_assessable"], kg.errors, what=f"{path}: not_assessable", error=RulesError)
    for key, raw in data["errors"].items():
        code, _, phase = str(key).partition("@")
        if code not in kg.errors or (phase and phase not in PHASE_NAMES):
            raise RulesError(
                f"{path}: errors.{key}: expected an FKG error code (ET001) or code@phase with phase among "
                f"{PHASE_NAMES}"
            )
        _rules_of(raw, f"{path}: errors.{key}", scales)
    slugs = {a.slug: a for a in kg.actions}
    reject_unknown_keys(data["actions"], slugs, what=f"{path}: actions", error=RulesError)
    for slug, overrides in data["actions"].items():
        where = f"{path}: actions.{slug}"
        if not isinstance(overrides, dict):
            raise RulesError(f"{where}: expected a mapping of slot id -> rule(s), got {overrides!r}")
        act = slugs[slug]
        for slot in overrides:
            if slot not in {s.id for s in act.slots}:
                raise RulesError(f"{where}.{slot} is not a slot of {act.name}")
        for slot, raw in overrides.items():
            if isinstance(raw, dict) and "skip" in raw:
                if set(raw) != {"skip"} or not str(raw["skip"]).strip():
                    raise RulesError(f"{where}.{slot}: a skipped slot is {{skip: <the reason>}}, got {raw!r}")
            else:
                _rules_of(raw, f"{where}.{slot}", scales)


def load_rules(action, *, path: str | Path | None = None, kg=None) -> RuleSet:
    """The :class:`RuleSet` of ``action`` (any key :meth:`KnowledgeGraph.action` accepts)."""
    kg = kg or load_kg()
    act = kg.action(action)
    path = str(path or RULES_PATH)
    data = load_rules_file(path)
    scales = {str(k): float(v) for k, v in data["scales"].items()}
    overrides = data["actions"].get(act.slug) or {}
    slot_ids = {s.id for s in act.slots}
    for key in overrides:
        if key not in slot_ids:
            raise RulesError(f"{path}: actions.{act.slug}.{key} is not a slot of {act.name}")
    rules: dict[str, tuple[Rule, ...]] = {}
    skipped: dict[str, str] = {}
    for s in act.slots:
        where = f"{path}: actions.{act.slug}.{s.id}"
        if s.id in overrides:
            raw = overrides[s.id]
            if isinstance(raw, dict) and "skip" in raw:
                skipped[s.id] = str(raw["skip"])
                continue
        elif s.error in data["not_assessable"]:
            skipped[s.id] = str(data["not_assessable"][s.error])
            continue
        else:
            raw = data["errors"].get(f"{s.error}@{s.phase}", data["errors"].get(s.error))
            where = f"{path}: errors.{s.error}"
            if raw is None:
                skipped[s.id] = "no pose detector for this error yet"
                continue
        rs = _rules_of(raw, where, scales)
        window = "start" if s.phase == "preparation" else s.phase
        rules[s.id] = tuple(r if r.window else _with_window(r, window) for r in rs)
    conf = data.get("confidence") or {}
    margin = {str(k): float(v) for k, v in (data.get("monocular_margin") or {}).items()}
    return RuleSet(
        act.slug,
        rules,
        skipped,
        float(conf.get("min_visibility", 0.5)),
        float(conf.get("min_valid", 0.6)),
        margin,
    )


def widen(rule: Rule, margin: float) -> Rule:
    """``rule`` with its threshold moved ``margin`` further from normal (more tolerant), for noisier poses."""
    if margin <= 0:
        return rule
    t = rule.threshold
    thr = (
        (t[0] - margin, t[1] + margin)
        if rule.op == "outside"
        else (t[0] + margin if rule.op == "above" else t[0] - margin,)
    )
    return replace(rule, threshold=thr)


def _with_window(r: Rule, window: str) -> Rule:
    return Rule(r.feature, window, r.stat, r.op, r.threshold, r.scale, r.views, r.note, r.ref)


def window_frames(pose: PoseSequence, rep: Rep, window: str) -> np.ndarray:
    """Frame indices of ``window`` of ``rep``."""
    t = pose.t
    dur = rep.end - rep.start
    edge = max(0.12 * dur, 1.5 / max(pose.fps, 1e-9))
    if window in ("start", "preparation"):
        a, b = rep.start, rep.start + edge
    elif window == "end":
        last = rep.phases[-1] if rep.phases else None
        if last is not None:  # a fast last phase (lowering too quickly) must not pull moving frames in
            edge = min(edge, max(0.15 * (last[2] - last[1]), 1.5 / max(pose.fps, 1e-9)))
        a, b = rep.end - edge, rep.end
    elif window == "turn":
        a, b = rep.turn - 0.5 * edge, rep.turn + 0.5 * edge
    elif window == "rep":
        a, b = rep.start, rep.end
    else:
        name = window.replace("_early", "")
        span = rep.phase(name)
        if span is None:
            return np.zeros(0, np.int64)
        a, b = span
        if window.endswith("_early"):
            b = a + 0.5 * (b - a)
    return np.flatnonzero((t >= a - 1e-9) & (t <= b + 1e-9))


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    n = max(int(n), 1) | 1
    pad = np.pad(x, n // 2, mode="edge")
    return np.convolve(pad, np.ones(n) / n, mode="valid")


def evaluate_rule(
    rule: Rule,
    pose: PoseSequence,
    rep: Rep,
    feats: dict[str, np.ndarray],
    *,
    view: str = "3d",
    min_visibility: float = 0.5,
    min_valid: float = 0.6,
) -> RuleResult:
    """Apply ``rule`` to ``rep``; ``feats`` holds the per-frame features of the whole sequence."""
    if view not in rule.views:
        return RuleResult(
            rule, False, reason=f"needs a {' or '.join(v for v in rule.views)} view; this video is {view}"
        )
    idx = window_frames(pose, rep, rule.window)
    if idx.size == 0:
        return RuleResult(rule, False, reason=f"the repetition has no {rule.window} window")
    base = None
    if rule.stat in ("duration", "tempo_ratio"):
        value = float(pose.t[idx[-1]] - pose.t[idx[0]]) + 1.0 / max(pose.fps, 1e-9)
        if rule.stat == "tempo_ratio":  # this phase's duration over the other moving phase's
            other = [(a, b) for p, a, b in rep.phases if p != rule.window.replace("_early", "")]
            if not other or other[0][1] <= other[0][0]:
                return RuleResult(rule, False, reason="the repetition has no second phase to compare with")
            value /= other[0][1] - other[0][0]
        vis = 1.0
        sig = np.full(idx.size, value)
    else:
        jidx = [J[j] for j in rule.joints]
        vis_w = pose.visibility[np.ix_(idx, jidx)]  # (n, k)
        sig = feats[rule.feature][idx]
        valid = np.isfinite(sig) & (vis_w.min(axis=1) >= min_visibility)
        if valid.mean() < min_valid:
            hidden = [rule.joints[k] for k in np.flatnonzero(vis_w.mean(0) < min_visibility)]
            why = (
                f"joints not visible: {', '.join(hidden)}" if hidden else "too few frames with a usable pose"
            )
            return RuleResult(rule, False, reason=why)
        vis = float(np.clip(vis_w[valid].mean(), 0, 1) * min(1.0, valid.mean() / 0.9))
        sig = np.where(valid, sig, np.nan)
        full = feats[rule.feature]
        if rule.ref == "rep":
            b_idx = window_frames(pose, rep, "start")[:3]
            b_val = full[b_idx]
            if not np.isfinite(b_val).any():
                return RuleResult(rule, False, reason="no usable pose at the start of the repetition")
            base = float(np.nanmean(b_val))
            if rule.stat not in ("rise", "drop", "wobble"):  # a level read as its change from the start
                sig, full, base = sig - base, full - base, None
        value = _reduce(rule, sig, full, idx, pose.fps, base)
    lo_hi = rule.threshold
    if rule.op == "above":
        margin = value - lo_hi[0]
    elif rule.op == "below":
        margin = lo_hi[0] - value
    else:
        margin = max(lo_hi[0] - value, value - lo_hi[1])
    fired = bool(margin > 0)
    conf = float(vis * min(1.0, 0.5 + 0.5 * abs(margin) / max(rule.scale, 1e-9)))
    frames, key = _violating_frames(rule, sig, idx, value, fired, base)
    return RuleResult(
        rule, True, fired, round(float(value), 4), round(conf, 3), frames, key, margin=float(margin)
    )


def _reduce(rule: Rule, sig: np.ndarray, full: np.ndarray, idx: np.ndarray, fps: float, base=None) -> float:
    s = rule.stat
    first = sig[np.isfinite(sig)][:3]
    first = float(np.mean(first)) if first.size else np.nan
    if base is not None:
        first = base
    if s == "mean":
        return float(np.nanmean(sig))
    if s == "min":
        return float(np.nanmin(sig))
    if s == "max":
        return float(np.nanmax(sig))
    if s == "range":
        return float(np.nanmax(sig) - np.nanmin(sig))
    if s == "rise":
        return float(np.nanmax(sig) - first)
    if s == "drop":
        return float(first - np.nanmin(sig))
    if s == "wobble":  # amplitude of the 1.5-5 Hz part: a band-pass of two moving averages, RMS x sqrt(2)
        filled = np.where(np.isfinite(full), full, np.nanmean(full))
        resid = _moving_average(filled, round(0.1 * fps)) - _moving_average(filled, round(0.35 * fps))
        r = resid[idx][np.isfinite(sig)]
        return float(np.sqrt(2.0 * np.mean(r**2)))
    # extreme: the value farthest outside (or nearest to leaving) the band
    lo, hi = rule.threshold if rule.op == "outside" else (rule.threshold[0], rule.threshold[0])
    vmin, vmax = float(np.nanmin(sig)), float(np.nanmax(sig))
    return vmin if (lo - vmin) > (vmax - hi) else vmax


def _violating_frames(rule: Rule, sig: np.ndarray, idx: np.ndarray, value: float, fired: bool, base=None):
    if not fired or rule.stat in ("duration", "tempo_ratio", "mean", "wobble", "range"):
        key = int(idx[len(idx) // 2]) if idx.size else None
        if rule.stat in ("range", "wobble", "mean") and np.isfinite(sig).any() and fired:
            ref = np.nanmedian(sig)
            key = int(idx[int(np.nanargmax(np.abs(sig - ref)))])
        return ([int(i) for i in idx] if fired else []), key
    if rule.stat in ("rise", "drop"):
        if base is None:
            base = sig[np.isfinite(sig)][:3].mean()
        dev = (sig - base) if rule.stat == "rise" else (base - sig)
        bad = dev > rule.threshold[0]
        score = dev
    elif rule.op == "outside":
        lo, hi = rule.threshold
        bad = (sig < lo) | (sig > hi)
        score = np.maximum(lo - sig, sig - hi)
    elif rule.op == "above":
        bad, score = sig > rule.threshold[0], sig
    else:
        bad, score = sig < rule.threshold[0], -sig
    bad = np.where(np.isfinite(sig), bad, False)
    key = int(idx[int(np.nanargmax(np.where(np.isfinite(score), score, -np.inf)))])
    return [int(i) for i in idx[bad]], key
