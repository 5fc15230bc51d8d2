"""Benchmark the coach: error detection P/R/F1 per error type on simulated poses, pipeline throughput on 720p
video (frames/s, share taken by pose estimation) and the streaming API's per-frame latency.

    .venv/bin/python benchmarks/bench_coach.py [--quick] [--speed]

Writes ``benchmarks/results/coach.json`` and ``benchmarks/results/coach.md``; ``--speed`` runs only the
throughput and streaming parts and writes ``benchmarks/results/coach_speed.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_write_text
from flexaqa.coach import PoseSequence, Rep, analyse_pose
from flexaqa.coach.pose import clean_pose
from flexaqa.kg import load_kg
from flexaqa.pose_rules.rules import load_rules

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


def detection_rendered(
    *,
    size=(360, 480),
    fps: float = 15.0,
    view: str = "View-5",
    subject: str = "A02",
    seed: int = 2,
    severity: float = 1.0,
) -> dict:
    """The whole video path on simulator renderings (flexaqa.synth.render; View-5 is the FLEX phone, about 40 deg
    off the front; Phone-front / Phone-side film straight from the front / side): MediaPipe -> cleaning ->
    view detection -> flexaqa.signal segmentation -> rules with the ``video:`` calibration. Per action, one clean
    set and one set per listed error (3 repetitions, the error in the middle one). Repetitions are matched to the
    truth by time overlap. The video calibration was fitted on subject N01, seed 1
    (``benchmarks/diag_coach_video.py``), so the default subject and seed are held out. ``severity`` scales the
    injected errors (1: the simulator's nominal fault)."""
    import tempfile

    from flexaqa.coach import CoachError
    from flexaqa.coach.pipeline import coach_video
    from flexaqa.data.video import write_mp4
    from flexaqa.synth.kinematics import PROGRAMS
    from flexaqa.synth.render import make_view, render
    from flexaqa.synth.simulate import simulate_trial
    from flexaqa.synth.subjects import make_roster

    kg = load_kg()
    subj = make_roster([subject], 0)[0]
    counts = defaultdict(lambda: defaultdict(int))
    n_true = n_found = n_matched = 0
    views_found, shares = [], []
    per_case = []
    tmp = Path(tempfile.mkdtemp(prefix="coach-render-"))
    try:
        for action, slots in RENDERED_CASES.items():
            act = kg.action(action)
            for slot in (None, *slots):
                errs = [{}, {slot: severity}, {}] if slot else [{}, {}, {}]
                sim = simulate_trial(
                    subj, act, reps=3, seed=seed, fps=30.0, with_signals=False, errors=errs, kg=kg
                )
                step = round(30.0 / fps)
                frames = render(
                    sim.joints[::step],
                    make_view(view, width=size[0], height=size[1], fps=fps),
                    equipment=act.equipment,
                    load=sim.load_kg,
                    bench=PROGRAMS[act.slug].bench,
                )
                path = write_mp4(tmp / "clip.mp4", frames, fps)
                try:
                    rep = coach_video(path, act).report
                except CoachError as exc:
                    per_case.append({"action": action, "slot": slot, "error": str(exc)})
                    n_true += 3
                    continue
                found = rep["repetitions"]
                views_found.append(rep["input"]["view"])
                shares.append(rep["coverage"]["share"])
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
        "view": view,
        "size": list(size),
        "fps": fps,
        "subject": subject,
        "seed": seed,
        "severity": severity,
        "views_detected": dict(Counter(views_found)),
        "assessed_share_mean": round(float(np.mean(shares)), 3) if shares else None,
        "repetitions": {"true": n_true, "found": n_found, "matched": n_matched},
        "per_error": rows,
        "total": total,
        "cases": per_case,
    }


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _clips(tmp: Path, n_frames: int, *, render: bool) -> dict[str, tuple[Path, float, int]]:
    """1280x720 H.264 clips: ``photo`` pans over a photograph of a real person (30 fps, and the same frames
    tagged 60 fps), ``squat`` is a flexaqa.synth rendering of a whole body doing squats (30 fps, with the
    simulator's true 3D joints saved beside it)."""
    from PIL import Image

    from flexaqa.coach.synthetic import sample_photo
    from flexaqa.data.video import write_mp4

    big = np.asarray(Image.fromarray(sample_photo()).resize((1280, 1500)))
    frames = np.stack([big[100 + i : 820 + i] for i in range(n_frames)])  # (T, 720, 1280, 3)
    clips = {
        "photo_30fps": (write_mp4(tmp / "photo30.mp4", frames, 30), 30.0, n_frames),
        "photo_60fps": (write_mp4(tmp / "photo60.mp4", frames, 60), 60.0, n_frames),
    }
    if render:
        from flexaqa.synth.kinematics import PROGRAMS
        from flexaqa.synth.render import make_view
        from flexaqa.synth.render import render as draw
        from flexaqa.synth.simulate import simulate_trial
        from flexaqa.synth.subjects import make_roster

        act = load_kg().action("squat")
        sim = simulate_trial(
            make_roster(["N01"], 0)[0], act, reps=2, seed=1, fps=30.0, with_signals=False, kg=load_kg()
        )
        view = make_view("Phone-front", width=1280, height=720, fps=30.0)
        img = draw(
            sim.joints, view, equipment=act.equipment, load=sim.load_kg, bench=PROGRAMS[act.slug].bench
        )
        clips["squat_30fps"] = (write_mp4(tmp / "squat30.mp4", img, 30), 30.0, len(img))
        np.save(tmp / "squat30_truth.npy", sim.joints)
    return clips


def _run_pipeline(path: Path, **kw) -> dict:
    """Decode + MediaPipe + cleaning + analysis (a clip without repetitions stops after segmentation)."""
    from flexaqa.coach import CoachError
    from flexaqa.coach.pipeline import video_pose
    from flexaqa.coach.pose import detect_view

    timings: dict = {}
    t0 = time.perf_counter()
    raw = video_pose(path, timings=timings, **kw)
    pose = clean_pose(raw)
    with contextlib.suppress(CoachError):
        analyse_pose(pose, "squat", view=detect_view(pose))
    total = time.perf_counter() - t0
    return {"wall_s": total, "frames": len(raw), **timings}


def throughput(n_frames: int = 150, repeats: int = 5, *, render: bool = True) -> dict:
    """Frames/s of the whole file pipeline on 1280x720 video, 2 cores: medians of ``repeats`` interleaved
    runs of each configuration, with the load average (the machine is shared). ``inline`` decodes in the
    pose loop (the pipeline before read-ahead); ``prefetch`` decodes in a thread 8 frames ahead."""
    import tempfile

    configs = {
        "inline_1280": {"prefetch": 0, "max_width": None, "pose_fps": None},
        "inline_640": {"prefetch": 0, "max_width": 640, "pose_fps": None},
        "prefetch_1280": {"prefetch": 8, "max_width": None, "pose_fps": None},
        "prefetch_640": {"prefetch": 8, "max_width": 640, "pose_fps": None},
    }
    out: dict = {"size": [1280, 720], "cpu_count": os.cpu_count(), "repeats": repeats, "load_before": _load()}
    tmp = Path(tempfile.mkdtemp(prefix="coach-speed-"))
    try:
        clips = _clips(tmp, n_frames, render=render)
        runs: dict = defaultdict(list)
        jobs = [("photo_30fps", k, c) for k, c in configs.items()]
        jobs += [("photo_60fps", "inline_640", configs["inline_640"])]
        jobs += [("photo_60fps", "prefetch_640_posefps30", {**configs["prefetch_640"], "pose_fps": 30.0})]
        if render:
            jobs += [("squat_30fps", k, configs[k]) for k in ("inline_640", "prefetch_640")]
        for _ in range(repeats):
            for clip, name, cfg in jobs:
                runs[(clip, name)].append(_run_pipeline(clips[clip][0], **cfg))
        for (clip, name), rs in runs.items():
            _, rate, n_video = clips[clip]
            fps = [n_video / r["wall_s"] for r in rs]  # video frames per wall second

            def med(k, rs=rs):
                return float(np.median([r[k] for r in rs]))

            out.setdefault(clip, {})[name] = {
                "fps_median": round(float(np.median(fps)), 1),
                "fps_min": round(float(np.min(fps)), 1),
                "fps_max": round(float(np.max(fps)), 1),
                "realtime_x": round(float(np.median(fps)) / rate, 2),
                "analysed_frames": rs[0]["frames"],
                "pose_share": round(med("pose_s") / med("wall_s"), 3),
                "pose_only_fps": round(rs[0]["frames"] / med("pose_s"), 1),
                "decode_wait_share": round(med("decode_wait_s") / med("wall_s"), 3),
            }
        p = out["photo_30fps"]
        out["speedup_prefetch_vs_inline"] = {
            w: round(p[f"prefetch_{w}"]["fps_median"] / p[f"inline_{w}"]["fps_median"], 2)
            for w in ("1280", "640")
        }
        q = out["photo_60fps"]
        out["speedup_60fps_posefps30_vs_inline"] = round(
            q["prefetch_640_posefps30"]["fps_median"] / q["inline_640"]["fps_median"], 2
        )
        out["input_width"] = input_width_accuracy(clips)
    finally:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    out["load_after"] = _load()
    return out


def _knee(j: np.ndarray) -> np.ndarray:
    from flexaqa.skeleton import J, joint_angle

    side = [
        joint_angle(j[:, J[f"{s}_hip"]], j[:, J[f"{s}_knee"]], j[:, J[f"{s}_ankle"]])
        for s in ("left", "right")
    ]
    return 0.5 * (side[0] + side[1])  # (T,) degrees


def input_width_accuracy(clips: dict, widths=(1280, 960, 640, 480, 320, 256)) -> dict:
    """How much MediaPipe's landmarks move when the 720p frames are downscaled to ``width`` before pose:
    median image distance (pixels of the 1280 frame) and world distance (mm) to the full-size result, for joints
    visible in both; on the rendered squat also the knee angle's error against the simulator's truth."""
    from flexaqa.coach.pipeline import video_pose

    out = {}
    for clip in ("photo_30fps", "squat_30fps"):
        if clip not in clips:
            continue
        path = clips[clip][0]
        truth = np.load(path.with_name(path.stem + "_truth.npy")) if clip.startswith("squat") else None
        ref = None
        for w in widths:
            raw = video_pose(path, max_width=w, pose_fps=None)
            ref = raw if ref is None else ref
            ok = (raw.present & ref.present)[:, None] & (raw.visibility >= 0.5) & (ref.visibility >= 0.5)
            px = np.linalg.norm((raw.image - ref.image) * np.array([1280, 720]), axis=-1)[ok]
            mm = 1000 * np.linalg.norm(raw.joints - ref.joints, axis=-1)[ok]
            d = {
                "frames_with_person": int(raw.present.sum()),
                "image_px_median": round(float(np.median(px)), 2),
                "image_px_p95": round(float(np.percentile(px, 95)), 2),
                "world_mm_median": round(float(np.median(mm)), 1),
            }
            if truth is not None:
                k = _knee(clean_pose(raw).joints)
                d["knee_angle_error_vs_truth_deg"] = round(
                    float(np.nanmedian(np.abs(k - _knee(truth[: len(k)])))), 1
                )
            out.setdefault(clip, {})[str(w)] = d
    return out


def _parity(reports_a: list[dict], reports_b: list[dict], fps: float) -> dict:
    """Streaming vs offline repetitions: same count, boundaries within 2 frames, same detected errors."""
    same_n = len(reports_a) == len(reports_b)
    pairs = list(zip(reports_a, reports_b, strict=False)) if same_n else []
    close = [
        abs(a["start"] - b["start"]) <= 2 / fps and abs(a["end"] - b["end"]) <= 2 / fps for a, b in pairs
    ]
    return {
        "same_count": same_n,
        "reps": len(reports_b),
        "boundaries_within_2_frames": int(sum(close)),
        "same_errors": int(sum(a["detected"] == b["detected"] for a, b in pairs)),
    }


def streaming_latency(*, sets_per_action: int = 2, render: bool = True) -> dict:
    """The streaming coach: per-call latency of ``Coach.update_pose`` over a set long enough to fill the 30 s
    buffer, its agreement with the offline pipeline on the same frames (simulated sets of every action of
    SYNTH_SLOTS, flexaqa.signal segmentation), and ``Coach.update`` (MediaPipe included) on a 1280x720 rendered
    squat, compared with ``coach_video`` on the same file."""
    from flexaqa.coach import Coach, CoachError
    from flexaqa.coach.synthetic import SYNTH_SLOTS, synthetic_set

    out: dict = {"load_before": _load()}
    s = synthetic_set("squat", n_reps=14, fps=30.0, noise=0.004)
    coach = Coach("squat", view="3d")
    lat = []
    for i, t in enumerate(s.pose.t):
        a = time.perf_counter()
        coach.update_pose(s.pose.joints[i], None, t)
        lat.append(time.perf_counter() - a)
    coach.flush()
    ms = np.asarray(lat) * 1000
    out["update_pose_ms"] = {
        "median": round(float(np.median(ms)), 3),
        "p95": round(float(np.percentile(ms, 95)), 3),
        "max": round(float(ms.max()), 2),
        "frames": len(ms),
        "video_s": round(float(s.pose.duration), 1),
        "reps_reported": coach.n_reps,
        "reps_true": len(s.reps),
    }
    tally = defaultdict(int)
    for action, slots in SYNTH_SLOTS.items():
        for k in range(sets_per_action):
            slot = slots[k % len(slots)]
            s = synthetic_set(action, n_reps=4, errors=[(), (slot,), (), (slot,)], noise=0.004, seed=k)
            try:
                off = analyse_pose(clean_pose(s.pose), action, view="3d")["repetitions"]
            except CoachError:  # a set the offline pipeline cannot segment is not compared
                tally["offline_failed"] += 1
                continue
            c = Coach(action, view="3d")
            for i, t in enumerate(s.pose.t):
                c.update_pose(s.pose.joints[i], None, t)
            c.flush()
            p = _parity(c.reports, off, 30.0)
            tally["final_report_identical"] += c.report()["repetitions"] == off
            tally["sets"] += 1
            tally["sets_identical"] += (
                p["same_count"] and p["same_errors"] == p["boundaries_within_2_frames"] == p["reps"]
            )
            tally["same_count"] += p["same_count"]
            for key in ("reps", "boundaries_within_2_frames", "same_errors"):
                tally[key] += p[key] if p["same_count"] else 0
    out["parity_simulated"] = dict(tally)
    if render:
        out["update_720p_frame"] = _stream_video_parity()
    out["load_after"] = _load()
    return out


def _stream_video_parity() -> dict:
    """Coach.update (MediaPipe) on every frame of a 1280x720 rendered squat vs coach_video on the same file."""
    import tempfile

    try:
        import mediapipe  # noqa: F401
    except ImportError as exc:
        return {"skipped": str(exc)}
    from flexaqa.coach import Coach
    from flexaqa.coach.frames import iter_video
    from flexaqa.coach.pipeline import coach_video

    tmp = Path(tempfile.mkdtemp(prefix="coach-stream-"))
    try:
        path = _clips(tmp, 2, render=True)["squat_30fps"][0]
        offline = coach_video(path, "squat", view="front", max_width=None).report["repetitions"]
        res = []
        for _ in range(2):
            coach = Coach("squat", view="front")
            lat = []
            for f, t, _size in iter_video(path, max_width=None):  # the camera's full frame
                a = time.perf_counter()
                coach.update(f, t)
                lat.append(time.perf_counter() - a)
            coach.flush()
            coach.close()
            final = coach.report()["repetitions"]
            res.append((np.asarray(lat[1:]) * 1000, coach.reports, final))  # the first call loads the model
    finally:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    ms = np.concatenate([r[0] for r in res])
    return {
        "median_ms": round(float(np.median(ms)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "max_ms": round(float(ms.max()), 2),
        "frames": len(ms),
        "runs": len(res),
        "live_vs_coach_video": _parity(res[-1][1], offline, 30.0),
        "final_report_vs_coach_video": _parity(res[-1][2], offline, 30.0),
    }


def speed_markdown(sp: dict) -> list[str]:
    """Markdown lines for the throughput and streaming results."""
    th, st = sp.get("throughput", {}), sp.get("streaming", {})
    lines = []
    if "photo_30fps" in th:
        lines += [
            "## Throughput (1280x720 H.264, decode + MediaPipe + cleaning + analysis, 2 cores)",
            "",
            f"Medians of {th['repeats']} interleaved runs; load average before {th['load_before']}, after {th['load_after']}.",
            "",
            "| clip | configuration | video frames/s (min-max) | x real time | MediaPipe only, frames/s | pose share | decode wait share |",
            "|---|---|---|---|---|---|---|",
        ]
        for clip in ("photo_30fps", "photo_60fps", "squat_30fps"):
            for name, v in th.get(clip, {}).items():
                lines.append(
                    f"| {clip} | {name} | {v['fps_median']} ({v['fps_min']}-{v['fps_max']}) | {v['realtime_x']} | "
                    f"{v['pose_only_fps']} | {v['pose_share']} | {v['decode_wait_share']} |"
                )
        lines += [
            "",
            f"Read-ahead vs in-line decoding: {th['speedup_prefetch_vs_inline']}; 60 fps clip at --pose-fps 30 vs every frame: {th['speedup_60fps_posefps30_vs_inline']}",
            "",
        ]
    if th.get("input_width"):
        lines += [
            "## Pose input width (landmarks vs the full 1280 px frame)",
            "",
            "| clip | width | image px (median / p95) | world mm | knee angle error vs truth (deg) |",
            "|---|---|---|---|---|",
        ]
        for clip, rows in th["input_width"].items():
            for w, d in rows.items():
                lines.append(
                    f"| {clip} | {w} | {d['image_px_median']} / {d['image_px_p95']} | {d['world_mm_median']} | {d.get('knee_angle_error_vs_truth_deg', '-')} |"
                )
        lines.append("")
    if st:
        lines += ["## Streaming", "", "```", json.dumps(st, indent=2), "```", ""]
    return lines


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
    lines += speed_markdown({"throughput": res.get("throughput", {}), "streaming": res.get("streaming", {})})
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


def speed(res: dict, *, quick: bool = False) -> None:
    """Throughput and streaming only, written to ``results/coach_speed.json`` (and printed)."""
    t0 = time.perf_counter()
    res["throughput"] = throughput(60 if quick else 150, 2 if quick else 5, render=not quick)
    res["streaming"] = streaming_latency(sets_per_action=1 if quick else 2, render=not quick)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    res["load_average"] = _load()
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "coach_speed.json", json.dumps(res, indent=2))
    print("\n".join(speed_markdown(res)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--speed", action="store_true", help="only throughput and streaming: writes results/coach_speed.json"
    )
    args = ap.parse_args()
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}"}
    t0 = time.perf_counter()
    if args.speed:
        speed(res, quick=args.quick)
        return
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
        res["throughput"] = throughput(
            60 if args.quick else 150, 2 if args.quick else 5, render=not args.quick
        )
    except ImportError as exc:
        res["throughput"] = {"skipped": str(exc)}
    res["streaming"] = streaming_latency(sets_per_action=1 if args.quick else 2, render=not args.quick)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    res["load_average"] = [round(x, 2) for x in os.getloadavg()]  # the machine is shared: context for timings
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "coach.json", json.dumps(res, indent=2))
    atomic_write_text(OUT / "coach.md", to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
