"""Where the coach's video path loses accuracy: MediaPipe-on-render measures against the simulator's truth.

For each action of ``bench_coach.RENDERED_CASES`` the simulator's sets are rendered (flexaqa.synth.render), run
through MediaPipe and the coach's cleaning (the video path minus the codec), and compared frame by frame with the
simulator's ground-truth joints on the same frames:

* ``keypoints_2d``: MediaPipe's image landmarks against the true joints projected by the same camera, in torso
  lengths (image), and how often left and right are swapped. Large here = the renderer (a body MediaPipe
  mis-reads).
* ``features``: every feature of :mod:`flexaqa.pose_rules.features` from the video pose against the same feature from
  the true joints: bias (video - truth), MAE, correlation. Small 2D error but large 3D feature error = pose
  mapping / single-camera depth.
* ``rules``: the value of every rule of the action (its stat over its window, true repetitions, no view
  filtering, no widening) from video and from truth, and how often the decision differs. A rule on a feature
  with good 2D but bad depth = a measure this view cannot give.

    .venv/bin/python benchmarks/diag_coach_video.py [--view View-5] [--size 360x480] [--fps 15] [--tag before]

Writes ``benchmarks/results/coach_video_diag.json`` (one entry per ``--tag``) and ``coach_video_diag.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from bench_coach import RENDERED_CASES

from flexaqa._io import atomic_write_text
from flexaqa.coach import PoseSequence, Rep
from flexaqa.coach.pose import PoseEstimator, body_yaw, clean_pose, detect_view, estimate_pose
from flexaqa.kg import load_kg
from flexaqa.pose_rules.calibration import CHANGE_STATS
from flexaqa.pose_rules.features import FEATURES, compute_features
from flexaqa.pose_rules.rules import evaluate_rule, load_rules, widen
from flexaqa.skeleton import FLEX21_JOINTS, J

OUT = Path(__file__).with_name("results")
_LR = [(J[f"left_{n}"], J[f"right_{n}"]) for n in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]


def render_case(act, sim, *, view: str, size, fps: float):
    """``(gt joints (T, 21, 3), frames (T, H, W, 3), View)`` of a simulated set seen by ``view``."""
    from flexaqa.synth.kinematics import PROGRAMS
    from flexaqa.synth.render import make_view, render

    step = max(round(sim.fps / fps), 1)
    gt = sim.joints[::step]
    v = make_view(view, width=size[0], height=size[1], fps=sim.fps / step)
    frames = render(gt, v, equipment=act.equipment, load=sim.load_kg, bench=PROGRAMS[act.slug].bench)
    return gt, frames, v


def project(joints: np.ndarray, view) -> np.ndarray:
    """World joints ``(T, 21, 3)`` -> normalised image coordinates ``(T, 21, 2)`` (x right, y down)."""
    cam = view.camera
    c = joints @ cam.R.T + cam.t
    p = c[..., :2] / c[..., 2:3] * cam.K[0, 0] + cam.K[:2, 2]
    return p / np.array([view.width, view.height])


def keypoint_errors(gt_img: np.ndarray, pose: PoseSequence, size) -> dict:
    """Per-joint median 2D error in (image) torso lengths, and the share of frames with left/right swapped."""
    wh = np.asarray(size, float)
    a, b = gt_img * wh, pose.image * wh  # pixels
    mid = lambda x, n: 0.5 * (x[:, J[f"left_{n}"]] + x[:, J[f"right_{n}"]])  # noqa: E731
    torso = np.nanmedian(np.linalg.norm(mid(a, "shoulder") - mid(a, "hip"), axis=-1))
    err = np.linalg.norm(a - b, axis=-1) / torso  # (T, 21)
    ok = pose.present
    swap = []
    for li, ri in _LR:  # swapped if each landmark is nearer the other side's true joint
        d_same = np.linalg.norm(a[:, li] - b[:, li], axis=-1) + np.linalg.norm(a[:, ri] - b[:, ri], axis=-1)
        d_swap = np.linalg.norm(a[:, li] - b[:, ri], axis=-1) + np.linalg.norm(a[:, ri] - b[:, li], axis=-1)
        swap.append(d_swap < 0.7 * d_same)
    swap = np.asarray(swap)[:, ok]
    return {
        "torso_px": round(float(torso), 1),
        "median_error_torso": {
            n: round(float(np.nanmedian(err[ok, k])), 3) for k, n in enumerate(FLEX21_JOINTS)
        },
        "overall_median_torso": round(float(np.nanmedian(err[ok])), 3),
        "left_right_swapped_share": round(float(swap.any(0).mean()) if swap.size else 0.0, 3),
    }


def feature_errors(gt_f: dict, vid_f: dict) -> dict:
    """Per feature: bias (video - truth), MAE, RMSE, correlation over the frames where both are finite."""
    out = {}
    for n in FEATURES:
        a, b = gt_f[n], vid_f[n]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 5:
            out[n] = {"frames": int(ok.sum())}
            continue
        d = b[ok] - a[ok]
        corr = np.corrcoef(a[ok], b[ok])[0, 1] if a[ok].std() > 1e-9 and b[ok].std() > 1e-9 else np.nan
        out[n] = {
            "frames": int(ok.sum()),
            "unit": FEATURES[n].unit,
            "truth_range": round(float(np.ptp(a[ok])), 3),
            "bias": round(float(d.mean()), 3),
            "mae": round(float(np.abs(d).mean()), 3),
            "rmse": round(float(np.sqrt((d**2).mean())), 3),
            "corr": round(float(corr), 3),
        }
    return out


def true_reps(sim) -> list[Rep]:
    return [
        Rep(i, r.start, r.end, tuple(p for p in r.phases if p[0] != "preparation"))
        for i, r in enumerate(sim.reps)
    ]


def rule_values(rs, pose: PoseSequence, reps, feats, *, margin: bool = False) -> dict:
    """``{(slot, k): [(value, fired) per rep]}`` with every rule evaluated as on a 3D pose, no view filtering;
    ``margin`` widens the thresholds by the rules' ``monocular_margin`` as the coach does for one camera."""
    out = {}
    for slot, rules in rs.rules.items():
        for k, r in enumerate(rules):
            if margin:
                r = widen(r, rs.monocular_margin.get(r.unit, 0.0))
            vals = []
            for rep in reps:
                res = evaluate_rule(r, pose, rep, feats, view="3d", min_visibility=0.0, min_valid=0.5)
                vals.append((res.value if res.assessed else None, res.fired))
            out[(slot, k)] = vals
    return out


def run(
    view: str,
    size,
    fps: float,
    *,
    actions=None,
    subject: str = "N01",
    planar: str = "side",
    seed: int = 1,
    progress: bool = True,
) -> dict:
    from flexaqa.synth.simulate import simulate_trial
    from flexaqa.synth.subjects import make_roster

    kg = load_kg()
    subj = make_roster([subject], 0)[0]
    feats_acc = defaultdict(lambda: defaultdict(list))  # action -> feature -> [(gt, vid) arrays]
    rules_acc = defaultdict(
        lambda: defaultdict(list)
    )  # action -> rule key -> [(gt, vid, gt_fired, vid_fired)]
    kp, views, ratios, pose_s, frames_n = defaultdict(list), defaultdict(list), defaultdict(list), 0.0, 0
    for action, slots in (actions or RENDERED_CASES).items():
        act = kg.action(action)
        rs = load_rules(act, kg=kg)
        for slot in (None, *slots):
            errs = [{}, {slot: 1.0}, {}] if slot else [{}, {}, {}]
            sim = simulate_trial(
                subj, act, reps=3, seed=seed, fps=30.0, with_signals=False, errors=errs, kg=kg
            )
            gt, frames, v = render_case(act, sim, view=view, size=size, fps=fps)
            t = np.arange(len(gt)) / v.fps
            timings: dict = {}
            with PoseEstimator() as est:
                raw = estimate_pose(
                    ((f, ti) for f, ti in zip(frames, t, strict=True)),
                    estimator=est,
                    timings=timings,
                )
            pose_s += timings["pose_s"]
            frames_n += len(frames)
            pose = clean_pose(raw, planar=planar)
            views[action].append(detect_view(pose))
            ratios[action].append(round(body_yaw(pose), 3))
            gt_pose = PoseSequence(t, gt, np.ones((len(t), 21)), np.ones(len(t), bool), source="truth")
            kp[action].append(keypoint_errors(project(gt, v), pose, size))
            gf, vf = compute_features(gt), compute_features(pose.joints)
            vf_ok = {n: np.where(pose.present, x, np.nan) for n, x in vf.items()}
            for n in FEATURES:
                feats_acc[action][n].append((gf[n], vf_ok[n]))
            reps = true_reps(sim)
            gv, vv = rule_values(rs, gt_pose, reps, gf), rule_values(rs, pose, reps, vf, margin=True)
            for key in gv:
                for (a, fa), (b, fb) in zip(gv[key], vv[key], strict=True):
                    rules_acc[action][key].append((a, b, fa, fb))
            if progress:
                print(
                    f"{action} {slot}: present {pose.present.mean():.2f} view {views[action][-1]} {ratios[action][-1]}",
                    flush=True,
                )
    res = {
        "view": view,
        "size": list(size),
        "fps": fps,
        "subject": subject,
        "seed": seed,
        "planar": planar,
        "per_action": {},
    }
    for action in feats_acc:
        rs = load_rules(action, kg=kg)
        fe = feature_errors(
            {n: np.concatenate([a for a, _ in v]) for n, v in feats_acc[action].items()},
            {n: np.concatenate([b for _, b in v]) for n, v in feats_acc[action].items()},
        )
        rules = {}
        for (slot, k), vals in rules_acc[action].items():
            r = rs.rules[slot][k]
            pairs = [(a, b) for a, b, _, _ in vals if a is not None and b is not None]
            d = np.array([b - a for a, b in pairs]) if pairs else np.zeros(0)
            rules[f"{slot}#{k}"] = {
                "rule": r.describe(),
                "views": list(r.views),
                "n": len(vals),
                "truth_fired": sum(fa for _, _, fa, _ in vals),
                "video_fired": sum(fb for _, _, _, fb in vals),
                "disagree": sum(fa != fb for _, _, fa, fb in vals),
                "value_bias": round(float(d.mean()), 3) if d.size else None,
                "value_mae": round(float(np.abs(d).mean()), 3) if d.size else None,
                "scale": r.scale,
            }
        k2 = kp[action]
        res["per_action"][action] = {
            "views_detected": views[action],
            "body_yaw": ratios[action],
            "keypoints_2d": {
                "overall_median_torso": round(float(np.mean([k["overall_median_torso"] for k in k2])), 3),
                "left_right_swapped_share": round(
                    float(np.mean([k["left_right_swapped_share"] for k in k2])), 3
                ),
                "torso_px": k2[0]["torso_px"],
                "median_error_torso": {
                    n: round(float(np.mean([k["median_error_torso"][n] for k in k2])), 3)
                    for n in FLEX21_JOINTS
                },
            },
            "features": fe,
            "rules": rules,
        }
    res["mediapipe_ms_per_frame"] = round(1000 * pose_s / max(frames_n, 1), 1)
    return res


CAMERA_VIEW = {
    "Phone-front": "front",
    "Phone-side": "side",
    "View-5": "oblique",
}  # the view each camera gives


def _errors_per_action(d: dict) -> dict:
    """``{feature: (level error, change error)}`` of one action's results: the level error is the worst of the
    frames' MAE and of the level-rule values' MAE on the feature; the change error the worst MAE of the
    change-rule values (rise, drop, range, wobble), or the frames' error with the bias removed where the action
    has no such rule."""
    level, change = defaultdict(float), {}
    for r in d["rules"].values():
        stat, n = r["rule"].split()[:2]
        if n not in FEATURES or r["value_mae"] is None:
            continue
        if stat in CHANGE_STATS:
            change[n] = max(change.get(n, 0.0), r["value_mae"])
        else:
            level[n] = max(level[n], r["value_mae"])
    out = {}
    for n, f in d["features"].items():
        if "mae" not in f:
            continue
        sd = float(np.sqrt(max(f["rmse"] ** 2 - f["bias"] ** 2, 0.0)))
        out[n] = (max(f["mae"], level[n]), change.get(n, sd))
    return out


def suggest_calibration(all_res: dict, *, factor: float = 2.0, majority: float = 0.75) -> dict:
    """The ``video:`` section (without ``why``) that the ``calib_*`` runs support.

    A feature is measurable from a view for an action when ``factor`` times its level error
    (:func:`_errors_per_action`) stays within the rules' monocular margin for its unit, so that the margin it is
    given covers twice its error; where only its change error does, ``feature.change`` is measurable (rise, drop,
    range and wobble rules, where a constant bias cancels). The default list (for the actions not calibrated)
    keeps what holds in at least ``majority`` of the calibrated actions; each calibrated action lists its
    differences as add/drop. ``margin`` widens a measurable feature's
    thresholds by ``factor`` times its worst error over the actions where it is measurable (between a quarter of
    the unit's margin and the unit's margin), ``feature.change`` by the worst change error, and
    ``feature.<stat>`` by one change statistic's own worst error where that is clearly smaller (with values
    from 30+ repetitions the floor halves)."""
    margin = load_rules("squat").monocular_margin
    unit = lambda n: margin.get(FEATURES[n].unit, 0.0)  # noqa: E731
    clip = lambda m, n, lo=0.25: round(min(max(m, lo * unit(n)), unit(n)), 3)  # noqa: E731
    measurable, actions, widen_by = {}, defaultdict(dict), {}
    for tag, res in all_res.items():
        view = CAMERA_VIEW.get(res["view"])
        if not tag.startswith("calib") or view is None:
            continue
        err = {a: _errors_per_action(d) for a, d in res["per_action"].items()}
        ok = {}
        for a, e in err.items():
            lv = {n for n, (le, _) in e.items() if factor * le <= unit(n)}
            ch = {f"{n}.change" for n, (_, ce) in e.items() if n not in lv and factor * ce <= unit(n)}
            ok[a] = lv | ch
        names = [*FEATURES, *(f"{n}.change" for n in FEATURES)]
        default = {n for n in names if sum(n in s for s in ok.values()) >= majority * len(ok)}
        lvl_worst, chg_worst = defaultdict(float), defaultdict(float)
        for a, s in ok.items():
            for n in s:
                base = n.removesuffix(".change")
                if n == base:
                    lvl_worst[n] = max(lvl_worst[n], err[a][n][0])
                chg_worst[base] = max(chg_worst[base], err[a][base][1])
        widen_by[view] = {
            n: clip(factor * lvl_worst[n], n) for n in sorted(lvl_worst, key=list(FEATURES).index)
        }
        for n in sorted(chg_worst, key=list(FEATURES).index):
            widen_by[view][f"{n}.change"] = clip(factor * chg_worst[n], n)
        # one change statistic alone where its error is clearly below the feature's changes (a sway's
        # amplitude errs far less than a lean's drop)
        stat_worst, stat_n = defaultdict(float), defaultdict(int)
        for a, d in res["per_action"].items():
            for r in d["rules"].values():
                stat, n = r["rule"].split()[:2]
                if (
                    stat in CHANGE_STATS
                    and (n in ok[a] or f"{n}.change" in ok[a])
                    and r["value_mae"] is not None
                ):
                    stat_worst[f"{n}.{stat}"] = max(stat_worst[f"{n}.{stat}"], r["value_mae"])
                    stat_n[f"{n}.{stat}"] += r["n"]
        for key in sorted(stat_worst):
            n = key.split(".")[0]
            m = clip(factor * stat_worst[key], n, 0.125 if stat_n[key] >= 30 else 0.25)
            if m < 0.8 * widen_by[view][f"{n}.change"]:
                widen_by[view][key] = m
        order = {n: k for k, n in enumerate(names)}
        measurable[view] = sorted(default, key=order.get)
        for a, s in ok.items():
            ex = {}
            if s - default:
                ex["add"] = sorted(s - default, key=order.get)
            if default - s:
                ex["drop"] = sorted(default - s, key=order.get)
            if ex:
                actions[a][view] = ex
    return {"measurable": measurable, "actions": dict(actions), "margin": widen_by}


def to_markdown(all_res: dict) -> str:
    lines = ["# Coach video path: MediaPipe-on-render against the simulator's truth", ""]
    lines += [
        "Per configuration (tag): 2D keypoint error (image torso lengths; renderer), per-feature error "
        "(video - truth; mapping and single-camera depth) and per-rule value error and decision disagreement "
        "on true repetitions (video decisions with the rules' monocular margin, as the coach applies it; no "
        "view filtering). Written by `benchmarks/diag_coach_video.py`.",
        "",
    ]
    for tag, res in all_res.items():
        how = {
            True: "image + world depth, per-frame scale",
            "always": "image + world depth, per-sequence scale",
            "side": "image + world depth (per-sequence scale) if the view is side, else world landmarks",
        }.get(res.get("planar", False), "world landmarks")
        how += f"; subject {res.get('subject', 'N01')} seed {res.get('seed', 1)}"
        lines += [f"## {tag}: {res['view']} {res['size'][0]}x{res['size'][1]} @ {res['fps']} fps, {how}", ""]
        lines += [f"MediaPipe {res['mediapipe_ms_per_frame']} ms/frame.", ""]
        lines += ["| action | views detected | 2D error (torso) | L/R swapped |", "|---|---|---|---|"]
        for a, d in res["per_action"].items():
            k = d["keypoints_2d"]
            lines.append(
                f"| {a} | {', '.join(sorted(set(d['views_detected'])))} | {k['overall_median_torso']} | "
                f"{k['left_right_swapped_share']} |"
            )
        lines += ["", "Features (video - truth): bias / MAE / correlation, per action", ""]
        acts = list(res["per_action"])
        lines += ["| feature | unit | " + " | ".join(acts) + " |", "|---|---|" + "---|" * len(acts)]
        for n in FEATURES:
            cells = []
            for a in acts:
                f = res["per_action"][a]["features"].get(n, {})
                cells.append(f"{f['bias']:+.2f} / {f['mae']:.2f} / {f['corr']:.2f}" if "mae" in f else "-")
            lines.append(f"| {n} | {FEATURES[n].unit} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Rules (true repetitions; truth: thresholds as written, video: + monocular margin): fired, disagreements",
            "",
        ]
        lines += ["| action | rule | test | views | truth | video | disagree | value bias | MAE |"]
        lines += ["|---|---|---|---|---|---|---|---|---|"]
        for a, d in res["per_action"].items():
            for key, r in d["rules"].items():
                lines.append(
                    f"| {a} | {key} | {r['rule']} | {','.join(r['views'])} | {r['truth_fired']}/{r['n']} | "
                    f"{r['video_fired']}/{r['n']} | {r['disagree']} | {r['value_bias']} | {r['value_mae']} |"
                )
        lines.append("")
    cal = suggest_calibration(all_res)
    if cal["measurable"]:
        import yaml

        lines += [
            "## Suggested `video:` calibration (from the `calib_*` runs)",
            "",
            "A feature is measurable from a view when twice its error is within the rules' monocular margin; "
            "`feature.change` when only its changes are (`suggest_calibration`). Applied in `rules.yaml` for the "
            "side view; front and oblique keep the earlier fit (MAE within the margin; the stricter one would "
            "cut the oblique squat's assessed weight from over 30 % to 21 %).",
            "",
            "```yaml",
            yaml.safe_dump({"video": cal}, sort_keys=False, default_flow_style=None, width=110).rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--view", default="View-5")
    ap.add_argument("--size", default="360x480", help="WIDTHxHEIGHT")
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument(
        "--tag", default=None, help="name of this configuration in the results (default: derived)"
    )
    ap.add_argument("--actions", default=None, help="comma-separated subset of the actions")
    ap.add_argument(
        "--planar",
        default="side",
        choices=("side", "always", "never"),
        help="clean_pose(planar=...): image x, y at one scale + world depth (default: for a side view)",
    )
    ap.add_argument("--subject", default="N01", help="simulated subject (calibration: N01)")
    ap.add_argument("--seed", type=int, default=1, help="simulation seed (calibration: 1)")
    args = ap.parse_args()
    size = tuple(int(x) for x in args.size.lower().split("x"))
    tag = args.tag or f"{args.view}_{args.size}_{args.fps:g}fps"
    acts = None
    if args.actions:
        acts = {a: RENDERED_CASES[a] for a in args.actions.split(",")}
    t0 = time.perf_counter()
    res = run(
        args.view, size, args.fps, actions=acts, planar=args.planar, subject=args.subject, seed=args.seed
    )
    res["seconds"] = round(time.perf_counter() - t0, 1)
    path = OUT / "coach_video_diag.json"
    all_res = json.loads(path.read_text()) if path.is_file() else {}
    all_res[tag] = res
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(all_res, indent=2))
    atomic_write_text(OUT / "coach_video_diag.md", to_markdown(all_res))
    print(to_markdown({tag: res}))


if __name__ == "__main__":
    main()
