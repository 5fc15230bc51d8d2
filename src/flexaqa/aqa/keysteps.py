"""The ``keysteps`` pose feature: how far each of the coach's keystep rules is from its threshold.

Every error the coach checks from a body pose has rules in ``pose_rules/data/rules.yaml``, thresholds derived
from the FKG keystep standards ("until the arms are extended", "thighs parallel to the floor"...). For one
repetition this feature evaluates every rule of the action on the sample's 3D pose and its annotated phases and
keeps, per rule, the signed margin in units of the rule's scale (``> 0``: the standard is broken, clipped to
±``CLIP``) and whether the rule could be assessed (``1``/``0``; an unassessed rule's margin is ``0``). The
width is ``2 x`` the action's rule count, so it differs between actions (models are trained per action).

Numpy only (:mod:`flexaqa.pose_rules` is numpy); no MediaPipe and no video.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from flexaqa.kg import load_kg
from flexaqa.pose_rules.features import compute_features
from flexaqa.pose_rules.rules import RULES_PATH, evaluate_rule, load_rules
from flexaqa.pose_rules.sequence import PoseSequence, Rep

CLIP = 5.0  # margins beyond ±5 scales carry no more information


@lru_cache(maxsize=1)
def rules_digest() -> str:
    """Short hash of the shipped rules file: part of the feature's cache config, so edited rules re-extract."""
    return hashlib.sha256(RULES_PATH.read_bytes()).hexdigest()[:12]


@lru_cache(maxsize=32)
def _rules(action_slug: str):
    rs = load_rules(action_slug)
    return tuple((slot, r) for slot in sorted(rs.rules) for r in rs.rules[slot]), rs


def rule_names(action) -> list[str]:
    """The rule behind each margin column, ``"AK04:ET008 min elbow_angle over end below 150 deg"``."""
    rules, _ = _rules(load_kg().action(action).slug)
    return [f"{slot} {r.describe()}" for slot, r in rules]


def keystep_margins(
    joints: np.ndarray,
    t: np.ndarray,
    action,
    start: float,
    end: float,
    phases: list[tuple[str, float, float]],
) -> np.ndarray:
    """``(2 R,)`` float32: the ``R`` rule margins of ``action`` then their assessed flags.

    Args:
        joints: ``(T, 21, 3)`` FLEX-21 joints in metres (+z up), NaN where unknown.
        t: ``(T,)`` seconds of the frames.
        start, end: the repetition's start and end (s, same clock as ``t``).
        phases: the moving phases ``(name, t0, t1)`` in time order (``concentric``/``eccentric``); with none,
            the rules that read a phase window are reported as unassessed.
    """
    rules, rs = _rules(load_kg().action(action).slug)
    joints = np.asarray(joints, dtype=float)
    finite = np.isfinite(joints).all(axis=2)  # (T, 21)
    pose = PoseSequence(t, joints, finite.astype(float), finite.any(axis=1), source="sample")
    rep = Rep(0, float(start), float(end), tuple(phases))
    feats = compute_features(joints, {r.feature for _, r in rules if r.feature})
    out = np.zeros(2 * len(rules), dtype=np.float32)
    for k, (_, rule) in enumerate(rules):
        res = evaluate_rule(rule, pose, rep, feats, min_visibility=rs.min_visibility, min_valid=rs.min_valid)
        if res.assessed and res.margin is not None and np.isfinite(res.margin):
            out[k] = np.clip(res.margin / max(rule.scale, 1e-9), -CLIP, CLIP)
            out[len(rules) + k] = 1.0
    return out


def sample_keystep_margins(sample) -> np.ndarray:
    """:func:`keystep_margins` of a loaded :class:`flexaqa.data.Sample`: its pose and annotated keyframes.

    Only the keyframes (repetition and phase boundaries) are read from the annotation, never its errors or
    score. Without keyframes the repetition is the whole pose stream and phase rules count as unassessed.
    """
    stream = sample.pose
    t = stream.start + np.arange(len(stream)) / stream.rate
    kf = sample.annotation.keyframes if sample.annotation is not None else None
    if kf is None:
        return keystep_margins(stream.data, t, sample.record.action, t[0], t[-1], [])
    moving = sorted((p.start, p.end, p.name) for p in kf.phases if p.name != "preparation")
    phases = [(name, a, b) for a, b, name in moving]
    return keystep_margins(stream.data, t, sample.record.action, kf.start, kf.end, phases)


def rule_slot_mask(features: np.ndarray, action) -> np.ndarray:
    """``(N, S)`` 0/1 over ``action.slots``: the slots the coach rules detect, from ``(N, >= 2 R)`` features that
    start with :func:`keystep_margins` (``--pose keysteps`` or ``keysteps+stats``). A slot is detected when
    any of its rules' margins is positive, as in the coach; slots without rules are never detected."""
    act = load_kg().action(action)
    rules, _ = _rules(act.slug)
    col = {s.id: j for j, s in enumerate(act.slots)}
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] < 2 * len(rules):
        raise ValueError(
            f"{act.slug}: expected (N, >= {2 * len(rules)}) keystep features, got {features.shape}; "
            "extract them with --pose keysteps"
        )
    out = np.zeros((len(features), len(act.slots)), dtype=np.float32)
    for k, (slot, _) in enumerate(rules):
        out[:, col[slot]] = np.maximum(out[:, col[slot]], features[:, k] > 0)
    return out
