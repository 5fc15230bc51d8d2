"""Derive which rule measures each single-camera view can see, from the camera geometry alone.

For every action, the simulator's 3D motion (clean sets of subjects N01 and A02, and N01 sets carrying each
slot's error) is filmed by the three phone cameras of the simulated room (``Phone-front``, ``Phone-side``,
``View-5`` = oblique; perspective pinhole, no noise), and the 2D keypoints are lifted back to the coach's pose
exactly as a 2D keypoint file is (:func:`flexaqa.coach.formats.lift.lift_2d`: image plane at one scale, no
depth). For every rule of the action, the largest change of its value (per repetition, true repetitions) between
the flattened and the true 3D pose, on clean repetitions and on those carrying the rule's own error (another
fault, such as toes turned out, can move the knees out of a side camera's image plane), is written to ``src/flexaqa/pose_rules/data/view_geometry.yaml``, separately
for level statistics and change statistics. :mod:`flexaqa.pose_rules.geometry` then calls a measure visible from
a view when that error is at most half the rules' single-camera margin: the geometry, not a pose estimator's
noise, decides what a view can see.

    PYTHONPATH=src python tools/derive_view_geometry.py [--out PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

VIEWS = {"front": "Phone-front", "side": "Phone-side", "oblique": "View-5"}
CHANGE = ("rise", "drop", "range", "wobble")

WHY = {  # the geometric reason, per feature, when flattening the depth breaks it (the verdict adds the number)
    "knee_angle": "the knee bends out of this camera's image plane (thigh and shin move along its line of sight)",
    "hip_angle": "the hip folds out of this camera's image plane (torso and thigh move along its line of sight)",
    "elbow_angle": "the elbow bends out of this camera's image plane (the forearm moves along its line of sight)",
    "torso_pitch": "a forward or backward lean moves the torso along this camera's line of sight",
    "neck_length": "the head's offset from the shoulders lies partly along this camera's line of sight",
    "head_up": "the head's height above the shoulders changes with a forward lean seen end-on",
    "head_forward": "the head moving forward is along this camera's line of sight",
    "knee_forward": "knees ahead of the toes is along this camera's line of sight",
    "knee_valgus": "knees moving inward or outward is along this camera's line of sight",
    "stance_ratio": "the stance width is along this camera's line of sight",
    "grip_ratio": "the grip width is along this camera's line of sight",
    "hand_height": "the hands' height relative to the shoulders mixes with their depth seen from this angle",
    "hand_forward": "the hands' forward position is along this camera's line of sight",
    "hand_asymmetry": "one hand lower than the other is confounded with the hands' depth from this angle",
    "upper_arm_flexion": "the upper arm's forward swing is along this camera's line of sight",
    "upper_arm_torso": "the arm-to-torso angle opens partly along this camera's line of sight",
    "elbow_flare": "elbows moving out to the sides is along this camera's line of sight",
    "forearm_tilt": "the forearm tilting forward or back is along this camera's line of sight",
    "elbow_height": "the elbows' height relative to the shoulders mixes with their depth from this angle",
    "shoulder_shift": "the shoulders moving forward is along this camera's line of sight",
    "hip_height": "the hips' height relative to the ankles mixes with their depth from this angle",
    "foot_height": "the feet's height relative to the hips mixes with their depth from this angle",
    "heel_lift": "the heel's height above the toe is foreshortened along this camera's line of sight",
    "hip_position": "the hips' height between knees and shoulders mixes with depth from this angle",
    "bar_to_legs": "the bar's distance from the legs is along this camera's line of sight",
    "hand_above_knee": "the hands' height above the knees mixes with depth from this angle",
}


def _sets(action: str):
    """Clean sets of two subjects, then sets carrying each slot that has a rule (three per set): a fault's own
    movement is what must be visible (a forward arm swing at the set-up is along a front camera's line of sight,
    though hanging arms are not)."""
    from flexaqa.coach.synthetic import synthetic_set
    from flexaqa.pose_rules.rules import load_rules

    slots = list(load_rules(action).rules)
    for subject in ("N01", "A02"):
        yield synthetic_set(action, n_reps=3, subject=subject, seed=1)
    for k in range(0, len(slots), 3):
        chunk = slots[k : k + 3]
        yield synthetic_set(action, n_reps=len(chunk), errors=[(s,) for s in chunk], subject="N01", seed=2)


def _flatten(s, camera: str):
    from flexaqa.coach.formats import synthetic as fx
    from flexaqa.coach.formats.lift import lift_2d
    from flexaqa.coach.formats.tables import load_tables

    t = load_tables()
    lay = t.layout("openpose_body25")
    px, _ = fx.project(fx.layout_points(s.pose.joints, lay.name), view=camera)
    p21, vis = lay.to_flex(px, np.ones(px.shape[:2]))
    pose, info = lift_2d(p21, vis, np.ones(len(px), bool), s.pose.t, t.body)
    return pose, info


def derive() -> dict:
    from flexaqa.kg import load_kg
    from flexaqa.pose_rules.features import compute_features
    from flexaqa.pose_rules.rules import evaluate_rule, load_rules

    kg = load_kg()
    out: dict = {}
    for act in kg.actions:
        rs = load_rules(act, kg=kg)
        rules = [(sid, r) for sid, rr in rs.rules.items() for r in rr if r.feature]
        err: dict = {v: {} for v in VIEWS}
        views_seen: dict = {v: [] for v in VIEWS}
        for s in _sets(act.slug):
            f3 = compute_features(s.pose.joints)
            for v, cam in VIEWS.items():
                flat, info = _flatten(s, cam)
                views_seen[v].append(info["view"])
                f2 = compute_features(flat.joints)
                for sid, r in rules:
                    key = "change" if (r.stat in CHANGE or r.ref == "rep") else "level"
                    for rep, errs in zip(s.reps, s.errors, strict=True):
                        if errs and sid not in errs:  # another slot's fault is not this rule's geometry
                            continue
                        a = evaluate_rule(r, s.pose, rep, f3)
                        b = evaluate_rule(r, flat, rep, f2)
                        if a.assessed and b.assessed:
                            d = abs(a.value - b.value)
                        elif a.assessed:
                            d = float("inf")
                        else:
                            continue
                        e = err[v].setdefault(r.feature, {"level": 0.0, "change": 0.0})
                        e[key] = max(e[key], d)
        out[act.slug] = {
            v: {f: [_r(e["level"]), _r(e["change"])] for f, e in sorted(err[v].items())} for v in VIEWS
        }
        print(act.slug, {v: sorted(set(views_seen[v])) for v in VIEWS})
    return out


def _r(x: float) -> float | str:
    return "inf" if not np.isfinite(x) else round(float(x), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="src/flexaqa/pose_rules/data/view_geometry.yaml")
    args = ap.parse_args()
    import yaml

    table = derive()
    head = (
        "# Generated by tools/derive_view_geometry.py (do not edit by hand): per action and single-camera view,\n"
        "# per feature its rules read, [level, change]: the largest change of a rule's value per repetition when the\n"
        "# simulator's 3D motion (subjects N01, A02; clean sets and a set per slot's error) is filmed by that view's phone camera and\n"
        "# lifted back from the 2D image alone (no depth). flexaqa.pose_rules.geometry calls a rule measurable from a\n"
        "# view when its error is at most half the single-camera margin (monocular_margin in rules.yaml).\n"
        "# Cameras: front = Phone-front, side = Phone-side, oblique = View-5 (flexaqa.synth.render).\n"
    )
    text = yaml.safe_dump(
        {"cameras": VIEWS, "why": WHY}, sort_keys=False, width=120, default_flow_style=False
    )
    text += yaml.safe_dump({"actions": table}, sort_keys=False, width=120, default_flow_style=None)
    Path(args.out).write_text(head + text, encoding="utf-8")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
