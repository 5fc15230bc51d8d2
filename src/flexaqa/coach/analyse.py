"""From a pose sequence to the coach's report: repetitions, errors with evidence, FKG scores, coverage, feedback.

>>> from flexaqa.coach.synthetic import synthetic_set
>>> s = synthetic_set("squat", n_reps=2, errors=[(), ("AK44:ET056",)])
>>> rep = analyse_pose(s.pose, "squat", segmenter=s.segmenter, view="3d")
>>> [r["detected"] for r in rep["repetitions"]]
[[], ['AK44:ET056']]
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from flexaqa import __version__
from flexaqa.coach._types import NoRepetitionError
from flexaqa.coach.segment import signal_segmenter
from flexaqa.kg import load_kg, score
from flexaqa.pose_rules.calibration import video_margin, view_limit
from flexaqa.pose_rules.features import compute_features
from flexaqa.pose_rules.rules import RuleResult, RuleSet, evaluate_rule, load_rules, widen
from flexaqa.pose_rules.sequence import PoseSequence, Rep, Segmenter
from flexaqa.skeleton import FLEX21_JOINTS

SCHEMA_ID = "flexaqa.coach.report/1"
VIEW_ACCEPTS = {
    "front": {"front"},
    "side": {"side"},
    "oblique": {"front", "side"},
    "3d": {"front", "side", "3d"},
}
VIEW_CONFIDENCE = {"front": 1.0, "side": 1.0, "oblique": 0.75, "3d": 1.0}


def _spans(frames: list[int], t: np.ndarray) -> list[list[float]]:
    """Frame indices -> merged ``[t0, t1]`` time spans (s)."""
    if not frames:
        return []
    f = np.asarray(sorted(set(frames)))
    cuts = np.flatnonzero(np.diff(f) > 1)
    starts = np.concatenate([[f[0]], f[cuts + 1]])
    ends = np.concatenate([f[cuts], [f[-1]]])
    return [[round(float(t[a]), 4), round(float(t[b]), 4)] for a, b in zip(starts, ends, strict=False)]


def _evaluate_slot(rules, pose, rep, feats, view: str, rs: RuleSet) -> list[RuleResult]:
    out = []
    for r in rules:
        why = view_limit(r, view, rs.action)  # one camera cannot measure this feature from this view
        if why:
            out.append(RuleResult(r, False, reason=why))
            continue
        if view != "3d":  # single-camera pose: be more tolerant by the unit's (or the feature's) margin
            r = widen(r, video_margin(r, view, rs.monocular_margin.get(r.unit, 0.0), action=rs.action))
        ok = VIEW_ACCEPTS[view] & set(r.views)
        res = evaluate_rule(
            r,
            pose,
            rep,
            feats,
            view=next(iter(ok)) if ok else view,
            min_visibility=rs.min_visibility,
            min_valid=rs.min_valid,
        )
        res.confidence = round(res.confidence * VIEW_CONFIDENCE[view], 3)
        out.append(res)
    return out


def _evidence(res: RuleResult, t: np.ndarray) -> dict:
    r = res.rule
    d = {
        "feature": r.feature or r.stat,
        "stat": r.stat,
        "window": r.window,
        "test": r.op,
        "threshold": list(r.threshold),
        "unit": r.unit,
        "assessed": res.assessed,
    }
    if res.assessed:
        d.update(
            value=res.value,
            fired=res.fired,
            confidence=res.confidence,
            spans=_spans(res.frames, t),
            key_frame=res.key_frame,
            key_time=None if res.key_frame is None else round(float(t[res.key_frame]), 4),
        )
    else:
        d["reason"] = res.reason
    if r.note:
        d["note"] = r.note
    return d


def analyse_pose(
    pose: PoseSequence,
    action,
    *,
    segmenter: Segmenter | None = None,
    view: str = "3d",
    kg=None,
    rules: RuleSet | None = None,
    reps: list[Rep] | None = None,
    run=None,
) -> dict:
    """The coach's report (a JSON-ready dict, see ``coach/data/report.schema.json``) for ``pose``.

    ``segmenter`` defaults to :func:`flexaqa.coach.segment.signal_segmenter`; ``reps`` skips segmentation.
    ``view`` is the camera view (``front``, ``side``, ``oblique``) or ``3d`` for a true 3D pose: rules that
    need depth or width the view cannot give are reported as not assessed. ``run`` (a run folder or a
    :class:`~flexaqa.coach.model.RunModel`) adds a trained error-aware pose model: its slot probability is
    reported beside each rule decision, and it decides (``source: "model"``) the slots the rules cannot assess.
    Raises
    :class:`~flexaqa.coach.NoRepetitionError` (with the partial report) when no repetition is found.
    """
    if view not in VIEW_ACCEPTS:
        raise ValueError(f"view must be one of {sorted(VIEW_ACCEPTS)}, got {view!r}")
    kg = kg or load_kg()
    act = kg.action(action)
    rs = rules or load_rules(act, kg=kg)
    if reps is None:
        reps = (segmenter or signal_segmenter)(pose, act)
    report = _header(pose, act, view)
    if not reps:
        report["status"] = "failed"
        msg = (
            f"no complete repetition of {act.name} found in {pose.duration:.1f} s of pose; "
            "the video may be too short, or the movement not the one asked for"
        )
        report["problems"].append({"code": "no_repetition", "message": msg})
        report.update(_empty_sections(act, rs))
        raise NoRepetitionError(msg, report=report)
    feats = compute_features(pose.joints)
    rm, model_preds = None, [None] * len(reps)
    if run is not None:
        from flexaqa.coach.model import RunModel, load_run_model, predict_reps  # torch

        rm = run if isinstance(run, RunModel) else load_run_model(run, act, kg=kg)
        model_preds = predict_reps(rm, pose, reps)
    rep_out, detected_by_rep, assessed_by_rep = [], [], []
    by_model: set[str] = set()  # slots the trained model decided (the rules could not)
    for rep, mp in zip(reps, model_preds, strict=True):
        out, detected, assessed = _assess_rep(rep, mp, pose, feats, view, act, rs, kg, by_model)
        rep_out.append(out)
        detected_by_rep.append(detected)
        assessed_by_rep.append(assessed)
    report["repetitions"] = rep_out
    report["coverage"] = _coverage(act, rs, assessed_by_rep, rep_out)
    report["set"] = _set_summary(act, rep_out, detected_by_rep)
    report["feedback"] = _feedback(kg, act, rep_out, detected_by_rep, assessed_by_rep, by_model)
    report["thresholds"] = _threshold_table(rs)
    if rm is not None:
        _add_model_section(report, act, rm, by_model, model_preds)
    partial = [r for r in reps if r.partial is not None]
    if partial:
        report["warnings"].append(
            "partial repetition(s): "
            + ", ".join(f"{r.index + 1} ({100 * r.partial:.0f}% of the set's range)" for r in partial)
            + "; reported and scored like the others"
        )
    if report["coverage"]["share"] < 0.5:
        report["warnings"].append(
            f"only {100 * report['coverage']['share']:.0f}% of {act.name}'s error weight could be assessed from "
            "this video; the score leaves most errors unchecked"
        )
    return report


def _header(pose: PoseSequence, act, view: str) -> dict:
    """The report's first sections: schema, status, action, input and pose summary."""

    return {
        "schema": SCHEMA_ID,
        "flexaqa_version": __version__,
        "status": "ok",
        "problems": [],
        "warnings": [],
        "action": {
            "slug": act.slug,
            "name": act.name,
            "class_id": act.class_id,
            "total_weight": act.total_weight,
        },
        "input": {
            "source": pose.source,
            "frames": len(pose),
            "fps": round(pose.fps, 3),
            "duration": round(pose.duration, 3),
            "view": view,
        },
        "pose": pose_summary(pose),
    }


def _assess_rep(rep: Rep, mp, pose, feats, view: str, act, rs: RuleSet, kg, by_model: set[str]):
    """One repetition: every slot detected, clean or not assessed (rules first, then the trained model's
    probability ``mp`` where the rules cannot decide), and its FKG score range.

    Returns ``(the repetition's report entry, detected slot ids, assessed slot ids)``; slots the model decided
    are added to ``by_model``."""

    errors, not_assessed, detected, assessed_slots, clean = [], [], [], [], []
    probs = mp["probs"] if mp else {}
    for slot in act.slots:
        if slot.id in rs.skipped:
            if slot.id in probs:
                _model_decision(kg, slot, probs[slot.id], errors, clean, detected, assessed_slots)
                by_model.add(slot.id)
            continue
        results = _evaluate_slot(rs.rules[slot.id], pose, rep, feats, view, rs)
        done = [r for r in results if r.assessed]
        fired = [r for r in done if r.fired]
        if fired:
            detected.append(slot.id)
            assessed_slots.append(slot.id)
            et = kg.errors[slot.error]
            errors.append(
                {
                    "slot": slot.id,
                    "keystep": slot.keystep,
                    "error": slot.error,
                    "phase": slot.phase,
                    "weight": slot.weight,
                    "text": et.text,
                    "severity": et.severity,
                    "feedback": kg.feedback(slot.error, slot.keystep),
                    "confidence": max(r.confidence for r in fired),
                    "evidence": [_evidence(r, pose.t) for r in results],
                    "source": "rules",
                }
            )
            if slot.id in probs:
                errors[-1]["model_probability"] = probs[slot.id]
        elif done and len(done) == len(results):
            assessed_slots.append(slot.id)
            clean.append({"slot": slot.id, "confidence": min(r.confidence for r in done), "source": "rules"})
            if slot.id in probs:
                clean[-1]["model_probability"] = probs[slot.id]
        elif slot.id in probs:  # the rules cannot (fully) assess it: the trained model decides
            _model_decision(kg, slot, probs[slot.id], errors, clean, detected, assessed_slots)
            by_model.add(slot.id)
        elif done:  # some rules could run and none fired: only partly assessed -> count as not assessed
            not_assessed.append(
                {"slot": slot.id, "reason": "; ".join(r.reason for r in results if not r.assessed)}
            )
        else:
            not_assessed.append(
                {"slot": slot.id, "reason": "; ".join(dict.fromkeys(r.reason for r in results))}
            )
    res = score(act, detected, kg=kg)
    unassessed = [s for s in act.slots if s.id not in assessed_slots]
    worst = score(act, detected + [s.id for s in unassessed], kg=kg)
    weight = {s.id: s.weight for s in act.slots}
    w_assessed = sum(weight[s] for s in assessed_slots)
    out = {
        **rep.to_dict(),
        "score": round(res.score, 2),
        "penalty": res.penalty,
        "score_range": [round(worst.score, 2), round(res.score, 2)],
        "assessed_weight": w_assessed,
        "assessed_share": round(w_assessed / act.total_weight, 4),
        "detected": detected,
        "errors": errors,
        "clean": clean,
        "not_assessed": not_assessed,
    }
    if mp:
        out["model_score"] = mp["score"]
    return out, detected, set(assessed_slots)


def _add_model_section(report: dict, act, rm, by_model: set[str], model_preds: list) -> None:
    """What the trained model decided, and the warnings that say so."""
    report["coverage"]["by_model"] = [s.id for s in act.slots if s.id in by_model]
    report["model"] = {**rm.describe(), "decided_slots": report["coverage"]["by_model"]}
    if by_model:
        w = sum(s.weight for s in act.slots if s.id in by_model)
        report["warnings"].append(
            f"{len(by_model)} slot(s) ({w} of {act.total_weight} error weight) that the rules cannot assess "
            f"were decided by the trained model alone ({rm.run}): their errors are model predictions, with "
            "the model's probability as confidence, not measured evidence"
        )
    if any(m is None for m in model_preds):
        report["warnings"].append("the trained model could not score repetitions with under 2 pose frames")


def _model_decision(kg, slot, p: float, errors, clean, detected, assessed_slots) -> None:
    """A slot the rules cannot assess, decided by the model's probability ``p`` (trained on every slot)."""
    from flexaqa.coach.model import THRESHOLD, model_evidence  # torch: only with a --run model

    assessed_slots.append(slot.id)
    if p >= THRESHOLD:
        detected.append(slot.id)
        et = kg.errors[slot.error]
        errors.append(
            {
                "slot": slot.id,
                "keystep": slot.keystep,
                "error": slot.error,
                "phase": slot.phase,
                "weight": slot.weight,
                "text": et.text,
                "severity": et.severity,
                "feedback": kg.feedback(slot.error, slot.keystep),
                "confidence": p,
                "evidence": [model_evidence(p)],
                "source": "model",
                "model_probability": p,
            }
        )
    else:
        clean.append(
            {"slot": slot.id, "confidence": round(1 - p, 4), "source": "model", "model_probability": p}
        )


def pose_summary(pose: PoseSequence) -> dict:
    """Frames with a person, lost spans, filled frames and mean visibility per joint."""
    n = max(len(pose), 1)
    lost = ~pose.present
    vis = np.where(pose.present[:, None], pose.visibility, 0.0)
    return {
        "frames_with_person": int(pose.present.sum()),
        "share_with_person": round(float(pose.present.sum()) / n, 4),
        "lost_spans": _spans([int(i) for i in np.flatnonzero(lost)], pose.t),
        "gap_spans": _spans([int(i) for i in np.flatnonzero(pose.flag("gap"))], pose.t),
        "jump_frames": [int(i) for i in np.flatnonzero(pose.flag("jump"))],
        "filled_frames": int(pose.flag("filled").sum()),
        "joint_visibility": {j: round(float(vis[:, k].mean()), 3) for k, j in enumerate(FLEX21_JOINTS)},
    }


def _empty_sections(act, rs: RuleSet) -> dict:
    cov = _coverage(act, rs, [], [])
    return {
        "repetitions": [],
        "coverage": cov,
        "set": {"n_reps": 0, "score_mean": None, "score_min": None, "score_max": None, "errors": []},
        "feedback": {"fix": [], "went_well": []},
        "thresholds": _threshold_table(rs),
    }


def _coverage(act, rs: RuleSet, assessed_by_rep: list[set], rep_out: list[dict]) -> dict:
    n = len(assessed_by_rep)
    everywhere = set.intersection(*assessed_by_rep) if assessed_by_rep else set()
    anywhere = set.union(*assessed_by_rep) if assessed_by_rep else set()
    reasons: dict[str, str] = dict(rs.skipped)
    for r in rep_out:
        for na in r["not_assessed"]:
            reasons.setdefault(na["slot"], na["reason"])

    kg = load_kg()
    not_assessed = []
    for s in act.slots:
        if s.id in everywhere:
            continue
        not_assessed.append(
            {
                "slot": s.id,
                "keystep": s.keystep,
                "error": s.error,
                "weight": s.weight,
                "text": kg.errors[s.error].text,
                "reason": reasons.get(s.id, "not assessed"),
                "assessed_in_reps": sum(s.id in a for a in assessed_by_rep),
            }
        )
    w_all = sum(s.weight for s in act.slots if s.id in everywhere)
    return {
        "total_weight": act.total_weight,
        "assessed_weight": w_all,
        "share": round(w_all / act.total_weight, 4) if n else 0.0,
        "assessed": [s.id for s in act.slots if s.id in everywhere],
        "partly_assessed": [s.id for s in act.slots if s.id in anywhere - everywhere],
        "not_assessed": not_assessed,
        "detectors": len(rs.rules),
    }


def _set_summary(act, rep_out: list[dict], detected_by_rep: list[list[str]]) -> dict:
    scores = [r["score"] for r in rep_out]
    count = Counter(s for d in detected_by_rep for s in d)
    w = {s.id: s.weight for s in act.slots}
    n = len(rep_out)
    errs = sorted(
        ({"slot": s, "reps": c, "share_of_reps": round(c / n, 4), "weight": w[s]} for s, c in count.items()),
        key=lambda e: (-e["weight"] * e["reps"], e["slot"]),
    )
    return {
        "n_reps": n,
        "score_mean": round(float(np.mean(scores)), 2),
        "score_min": round(float(np.min(scores)), 2),
        "score_max": round(float(np.max(scores)), 2),
        "score_range_mean": [
            round(float(np.mean([r["score_range"][0] for r in rep_out])), 2),
            round(float(np.mean(scores)), 2),
        ],
        "penalty_mean": round(float(np.mean([r["penalty"] for r in rep_out])), 2),
        "errors": errs,
    }


def _feedback(kg, act, rep_out, detected_by_rep, assessed_by_rep, by_model=frozenset()) -> dict:
    n = len(rep_out)
    count = Counter(s for d in detected_by_rep for s in d)
    slots = {s.id: s for s in act.slots}
    fix = []
    for sid, c in count.items():
        s = slots[sid]
        fix.append(
            {
                "slot": sid,
                "error": s.error,
                "keystep": s.keystep,
                "phase": s.phase,
                "weight": s.weight,
                "text": kg.errors[s.error].text,
                "cue": kg.feedback(s.error, s.keystep),
                "reps": [r["index"] for r, d in zip(rep_out, detected_by_rep, strict=False) if sid in d],
                "frequency": round(c / n, 4),
                "priority": round(s.weight * c / n, 3),
            }
        )
    fix.sort(key=lambda f: (-f["priority"], -f["weight"], f["slot"]))
    always = set.intersection(*assessed_by_rep) if assessed_by_rep else set()
    good = [slots[s] for s in always if s not in count]
    good.sort(key=lambda s: (-s.weight, s.id))
    by_error: dict[str, list] = {}  # one line per error type: two keysteps sharing an error say it once
    for s in good:
        by_error.setdefault(s.error, []).append(s)
    went_well = [
        {
            "slot": ss[0].id,
            "slots": [s.id for s in ss],
            "error": ss[0].error,
            "keystep": ss[0].keystep,
            "weight": ss[0].weight,
            "text": f"No sign of \u201c{kg.errors[ss[0].error].text.rstrip('.')}\u201d in any of the {n} repetition(s)"
            + (" (trained model only)." if all(s.id in by_model for s in ss) else "."),
        }
        for ss in by_error.values()
    ]
    return {"fix": fix, "went_well": went_well}


def _threshold_table(rs: RuleSet) -> list[dict]:
    return [
        {
            "slot": sid,
            "rule": r.describe(),
            "feature": r.feature or r.stat,
            "window": r.window,
            "stat": r.stat,
            "test": r.op,
            "threshold": list(r.threshold),
            "unit": r.unit,
            "views": list(r.views),
        }
        for sid, rules in rs.rules.items()
        for r in rules
    ]
