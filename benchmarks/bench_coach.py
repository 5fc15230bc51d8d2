"""Benchmark the coach: error detection P/R/F1 per error type on simulated poses, pipeline throughput on 720p
video (frames/s, share taken by pose estimation) and the streaming API's per-frame latency.

    .venv/bin/python benchmarks/bench_coach.py [--quick]

Writes ``benchmarks/results/coach.json`` and ``benchmarks/results/coach.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_write_text
from flexaqa.coach import PoseSequence, Rep, analyse_pose
from flexaqa.coach.pose import clean_pose
from flexaqa.coach.rules import load_rules
from flexaqa.kg import load_kg

OUT = Path(__file__).with_name("results")


def _prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * p * r / (p + r) if p + r and np.isfinite(p) and np.isfinite(r) else float("nan")
    return round(p, 3), round(r, 3), round(f, 3)


def _tally(counts, true: set, pred: set, assessed: set):
    for s in assessed:
        c = counts[s.split(":")[1]]
        c["tp"] += s in true and s in pred
        c["fp"] += s not in true and s in pred
        c["fn"] += s in true and s not in pred
        c["tn"] += s not in true and s not in pred


def _table(counts):
    rows = {}
    for et, c in sorted(counts.items()):
        p, r, f = _prf(c["tp"], c["fp"], c["fn"])
        rows[et] = {**c, "precision": p, "recall": r, "f1": f}
    tot = {k: sum(c[k] for c in counts.values()) for k in ("tp", "fp", "fn", "tn")}
    p, r, f = _prf(tot["tp"], tot["fp"], tot["fn"])
    return rows, {**tot, "precision": p, "recall": r, "f1": f}


def detection_coach_synthetic(trials: int, noise: float) -> dict:
    """The slots of :data:`flexaqa.coach.synthetic.SYNTH_SLOTS` (simulator signature and keystep rule agree), one
    error per faulty repetition, with pose jitter and the video pipeline's cleaning, true repetitions."""
    from flexaqa.coach.synthetic import SYNTH_SLOTS, synthetic_set

    counts = defaultdict(lambda: defaultdict(int))
    for action, slots in SYNTH_SLOTS.items():
        for k in range(trials):
            for slot in slots:
                s = synthetic_set(action, n_reps=2, errors=[(), (slot,)], noise=noise, seed=k)
                pose = clean_pose(s.pose)  # the smoothing the video pipeline applies
                rep = analyse_pose(pose, action, segmenter=s.segmenter)
                for r, true in zip(rep["repetitions"], s.errors, strict=False):
                    # score only the synthesised error types: the others cannot be present by construction
                    assessed = {
                        x for x in SYNTH_SLOTS[action] if x not in {n["slot"] for n in r["not_assessed"]}
                    }
                    _tally(counts, set(true), set(r["detected"]), assessed)
    rows, total = _table(counts)
    return {"noise_m": noise, "trials": trials, "per_error": rows, "total": total}


def detection_simulator(n_subjects: int, severity: float) -> dict:
    """flexaqa.synth's simulator: for every action and every slot the coach can assess, a clean and a faulty
    repetition of several subjects, with the simulator's true repetitions."""
    from flexaqa.synth.simulate import simulate_trial
    from flexaqa.synth.subjects import make_subject, subject_ids

    kg = load_kg()
    counts = defaultdict(lambda: defaultdict(int))
    per_action = {}
    subjects = [
        make_subject(sid, np.random.default_rng(i)) for i, sid in enumerate(subject_ids()[:n_subjects])
    ]
    for act in kg.actions:
        rs = load_rules(act, kg=kg)
        a_counts = defaultdict(lambda: defaultdict(int))
        for si, subj in enumerate(subjects):
            for slot in rs.rules:
                try:
                    tr = simulate_trial(
                        subj,
                        act,
                        reps=2,
                        seed=si,
                        fps=30.0,
                        with_signals=False,
                        errors=[{}, {slot: severity}],
                        kg=kg,
                    )
                except Exception as exc:
                    per_action.setdefault(act.slug, {}).setdefault("skipped", []).append(f"{slot}: {exc}")
                    continue
                n = len(tr.joints)
                pose = PoseSequence(
                    np.arange(n) / tr.fps, tr.joints, np.ones((n, 21)), np.ones(n, bool), source="synth"
                )
                reps = [
                    Rep(i, r.start, r.end, tuple(p for p in r.phases if p[0] != "preparation"))
                    for i, r in enumerate(tr.reps)
                ]
                rep = analyse_pose(pose, act, reps=reps, kg=kg, rules=rs)
                for r, sim in zip(rep["repetitions"], tr.reps, strict=False):
                    assessed = set(rs.rules) - {x["slot"] for x in r["not_assessed"]}
                    _tally(counts, set(sim.true), set(r["detected"]), assessed)
                    _tally(a_counts, set(sim.true), set(r["detected"]), assessed)
        per_action.setdefault(act.slug, {})["total"] = _table(a_counts)[1]
    rows, total = _table(counts)
    return {
        "subjects": n_subjects,
        "severity": severity,
        "per_error": rows,
        "total": total,
        "per_action": per_action,
    }


RENDERED_CASES = {
    "squat": ("AK44:ET056", "AK44:ET039", "AK45:ET052", "AK44:ET033"),
    "barbell-biceps-curl": ("AK08:ET015", "AK08:ET023", "AK09:ET018", "AK08:ET005"),
    "standing-barbell-overhead-press": ("AK04:ET015", "AK04:ET008", "AK05:ET018", "AK04:ET016"),
    "dumbbell-lateral-raise": ("AK20:ET028", "AK20:ET027", "AK20:ET022", "AK15:ET018"),
}


def detection_rendered(*, size=(360, 480), fps: float = 15.0, view: str = "View-5") -> dict:
    """The whole video path on simulator renderings (flexaqa.synth.render, the phone view): MediaPipe ->
    cleaning -> flexaqa.signal segmentation -> rules. Per action, one clean set and one set per listed error
    (3 repetitions, the error in the middle one). Repetitions are matched to the truth by time overlap."""
    import tempfile

    from flexaqa.coach._types import CoachError
    from flexaqa.coach.pipeline import coach_video
    from flexaqa.data.video import write_mp4
    from flexaqa.synth.kinematics import PROGRAMS
    from flexaqa.synth.render import make_view, render
    from flexaqa.synth.simulate import simulate_trial
    from flexaqa.synth.subjects import make_roster

    kg = load_kg()
    subj = make_roster(["N01"], 0)[0]
    counts = defaultdict(lambda: defaultdict(int))
    n_true = n_found = n_matched = 0
    per_case = []
    tmp = Path(tempfile.mkdtemp(prefix="coach-render-"))
    try:
        for action, slots in RENDERED_CASES.items():
            act = kg.action(action)
            for slot in (None, *slots):
                errs = [{}, {slot: 1.0}, {}] if slot else [{}, {}, {}]
                sim = simulate_trial(
                    subj, act, reps=3, seed=1, fps=30.0, with_signals=False, errors=errs, kg=kg
                )
                step = round(30.0 / fps)
                frames = render(
                    sim.joints[::step], make_view(view, width=size[0], height=size[1], fps=fps),
                    equipment=act.equipment, load=sim.load_kg, bench=PROGRAMS[act.slug].bench,
                )  # fmt: skip
                path = write_mp4(tmp / "clip.mp4", frames, fps)
                try:
                    rep = coach_video(path, act).report
                except CoachError as exc:
                    per_case.append({"action": action, "slot": slot, "error": str(exc)})
                    n_true += 3
                    continue
                found = rep["repetitions"]
                n_true += len(sim.reps)
                n_found += len(found)
                case = {
                    "action": action,
                    "slot": slot,
                    "reps_true": len(sim.reps),
                    "reps_found": len(found),
                    "detected": [],
                }
                for r in found:
                    ov = [max(0.0, min(r["end"], t.end) - max(r["start"], t.start)) for t in sim.reps]
                    k = int(np.argmax(ov))
                    if ov[k] <= 0:
                        continue
                    n_matched += 1
                    assessed = {x for x in r["detected"]} | {c["slot"] for c in r["clean"]}
                    _tally(counts, set(sim.reps[k].true), set(r["detected"]), assessed)
                    case["detected"].append(r["detected"])
                per_case.append(case)
    finally:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    rows, total = _table(counts)
    return {
        "view": view, "size": list(size), "fps": fps,
        "repetitions": {"true": n_true, "found": n_found, "matched": n_matched},
        "per_error": rows, "total": total, "cases": per_case,
    }  # fmt: skip


def throughput(n_frames: int) -> dict:
    """Decode + MediaPipe + cleaning + analysis on a 1280x720 clip of a real person (a panned photograph)."""
    from PIL import Image

    from flexaqa.coach._types import CoachError
    from flexaqa.coach.pipeline import iter_video
    from flexaqa.coach.pose import detect_view, estimate_pose
    from flexaqa.coach.synthetic import sample_photo
    from flexaqa.data.video import write_mp4

    big = np.asarray(Image.fromarray(sample_photo()).resize((1280, 1500)))
    frames = np.stack([big[100 + 2 * i : 820 + 2 * i] for i in range(n_frames)])  # (T, 720, 1280, 3)
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="coach-bench-")) / "clip_720p.mp4"
    write_mp4(tmp, frames, 30)
    out = {
        "frames": n_frames,
        "size": [1280, 720],
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
    }
    try:
        for width in (None, 640):
            timings: dict = {}
            t0 = time.perf_counter()
            pairs = ((f, t) for f, t, _ in iter_video(tmp, max_width=width))
            raw = estimate_pose(pairs, timings=timings)
            pose = clean_pose(raw)
            # a photograph holds no repetition; the analysis up to segmentation still runs
            with contextlib.suppress(CoachError):
                analyse_pose(pose, "squat", view=detect_view(pose))
            total = time.perf_counter() - t0
            out[f"pose_width_{width or 1280}"] = {
                "total_s": round(total, 3),
                "fps": round(n_frames / total, 1),
                "pose_s": round(timings["pose_s"], 3),
                "pose_share": round(timings["pose_s"] / total, 3),
                "pose_only_fps": round(n_frames / timings["pose_s"], 1),
            }
    finally:
        tmp.unlink(missing_ok=True)
        tmp.parent.rmdir()
    return out


def streaming_latency() -> dict:
    """Per-call latency of Coach.update_pose (pose given) and Coach.update (MediaPipe on a 720p frame)."""
    from flexaqa.coach import Coach
    from flexaqa.coach.synthetic import panned_photo_video, synthetic_set

    s = synthetic_set("squat", n_reps=6, fps=30.0)
    coach = Coach("squat", view="3d")
    lat = []
    for i, t in enumerate(s.pose.t):
        a = time.perf_counter()
        coach.update_pose(s.pose.joints[i], None, t)
        lat.append(time.perf_counter() - a)
    lat = np.asarray(lat) * 1000
    out = {
        "update_pose_ms": {
            "median": round(float(np.median(lat)), 3),
            "p95": round(float(np.percentile(lat, 95)), 3),
            "max": round(float(lat.max()), 3),
            "frames": len(lat),
            "reps_reported": coach.n_reps,
        }
    }
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        return out
    from PIL import Image

    frames = panned_photo_video(40, step=2)
    frames = np.stack([np.asarray(Image.fromarray(f).resize((1280, 720))) for f in frames])
    coach = Coach("squat")
    lat = []
    for i, f in enumerate(frames):
        a = time.perf_counter()
        coach.update(f, i / 30)
        lat.append(time.perf_counter() - a)
    coach.close()
    lat = np.asarray(lat[1:]) * 1000  # the first call loads the model
    out["update_720p_frame_ms"] = {
        "median": round(float(np.median(lat)), 2),
        "p95": round(float(np.percentile(lat, 95)), 2),
        "frames": len(lat),
    }
    return out


def to_markdown(res: dict) -> str:
    lines = [
        "# Coach benchmark",
        "",
        f"Machine: {res['machine']}; load average after the run: {res.get('load_average')}",
        "",
    ]
    for key, title in (
        (
            "detection_coach_synthetic",
            "Detection on SYNTH_SLOTS (simulator via synthetic_set, 1 cm jitter + cleaning)",
        ),
        ("detection_simulator", "Detection on flexaqa.synth simulated poses"),
        ("detection_rendered", "Full video path (MediaPipe) on flexaqa.synth renderings, phone view"),
    ):
        d = res.get(key)
        if not d or "per_error" not in d:
            continue
        if "repetitions" in d:
            lines += [f"Repetitions: {d['repetitions']}", ""]
        t = d["total"]
        lines += [
            f"## {title}",
            "",
            f"All error types: precision {t['precision']}, recall {t['recall']}, F1 {t['f1']} (tp {t['tp']}, fp {t['fp']}, fn {t['fn']})",
            "",
        ]
        lines += ["| error | tp | fp | fn | precision | recall | F1 |", "|---|---|---|---|---|---|---|"]
        for et, r in d["per_error"].items():
            lines.append(
                f"| {et} | {r['tp']} | {r['fp']} | {r['fn']} | {r['precision']} | {r['recall']} | {r['f1']} |"
            )
        lines.append("")
    lines += _before_after(res.get("detection_simulator", {}))
    th = res.get("throughput", {})
    if th:
        lines += [
            "## Throughput (1280x720 video, decode + MediaPipe + cleaning + analysis)",
            "",
            "| pose input width | frames/s | MediaPipe only, frames/s | pose share |",
            "|---|---|---|---|",
        ]
        for k, v in th.items():
            if k.startswith("pose_width"):
                lines.append(
                    f"| {k.split('_')[-1]} | {v['fps']} | {v['pose_only_fps']} | {v['pose_share']} |"
                )
        lines.append("")
    st = res.get("streaming", {})
    if st:
        lines += ["## Streaming latency", "", "```", json.dumps(st, indent=2), "```", ""]
    return "\n".join(lines)


def _before_after(after: dict) -> list[str]:
    """Markdown table of detection on simulator poses before / after the keystep reconciliation."""
    path = OUT / "coach_before.json"
    if "per_error" not in after or not path.is_file():
        return []
    before = json.loads(path.read_text())
    fmt = lambda t: f"{t['precision']} / {t['recall']} / {t['f1']} ({t['tp']}/{t['fp']}/{t['fn']})"  # noqa: E731
    lines = [
        "## Simulator poses: before / after the keystep reconciliation",
        "",
        f"Before: {before['note']}.",
        "",
        "| error | before P / R / F1 (tp/fp/fn) | after P / R / F1 (tp/fp/fn) |",
        "|---|---|---|",
        f"| all | {fmt(before['total'])} | {fmt(after['total'])} |",
    ]
    empty = {"precision": "-", "recall": "-", "f1": "-", "tp": 0, "fp": 0, "fn": 0}
    for et in sorted(set(before["per_error"]) | set(after["per_error"])):
        b, a = before["per_error"].get(et, empty), after["per_error"].get(et, empty)
        if (b["tp"], b["fp"], b["fn"]) != (a["tp"], a["fp"], a["fn"]):
            lines.append(f"| {et} | {fmt(b)} | {fmt(a)} |")
    return [*lines, "", "(only error types whose counts changed are listed)", ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}"}
    t0 = time.perf_counter()
    res["detection_coach_synthetic"] = detection_coach_synthetic(1 if args.quick else 3, noise=0.01)
    try:
        res["detection_simulator"] = detection_simulator(1 if args.quick else 3, severity=1.0)
    except ImportError as exc:
        res["detection_simulator"] = {"skipped": str(exc)}
    try:
        res["detection_rendered"] = detection_rendered()
    except ImportError as exc:
        res["detection_rendered"] = {"skipped": str(exc)}
    try:
        res["throughput"] = throughput(30 if args.quick else 60)
    except ImportError as exc:
        res["throughput"] = {"skipped": str(exc)}
    res["streaming"] = streaming_latency()
    res["seconds"] = round(time.perf_counter() - t0, 1)
    res["load_average"] = [round(x, 2) for x in os.getloadavg()]  # the machine is shared: context for timings
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "coach.json", json.dumps(res, indent=2))
    atomic_write_text(OUT / "coach.md", to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
