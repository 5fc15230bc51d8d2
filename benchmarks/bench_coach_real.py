"""The coach on real people (photographs) and on the simulator, through ``flexaqa coach eval``.

    .venv/bin/python benchmarks/bench_coach_real.py [--photos ../shared/real/free-exercise-db] [--quick]

REAL: the 38 photographs of real lifters in ``shared/real/free-exercise-db`` (start ``_0`` and end ``_1``
position of every FLEX action but A09, public-domain demonstration pictures). MediaPipe Pose (static image
mode) finds the body in each; per action a clip is made from the two real key positions (held 1 s, then three
repetitions start -> end -> start with cosine easing, 1.2 s up, 1.5 s down, 0.8 s rest) and written twice: as
MediaPipe world landmarks (``--pose-format mediapipe``) and as COCO-17 pixel keypoints from MediaPipe's image
landmarks (``--pose-format coco``, the 2D path). The labels (``labels_real.csv``) are ours: three repetitions at
the known times and no error (demonstration form). Only the two end positions are real; the motion between them
is interpolated. Also measured on the photographs: the angles the rules read at the key positions, from the
world landmarks and from the 2D image, beside our own reading of four pictures.

SIMULATOR: ``flexaqa.synth`` sets (20 actions, subject A02, one slot of ``SYNTH_SLOTS`` per repetition, 3
repetitions) filmed from the side into OpenPose BODY_25 keypoints with OpenPose-like noise, and as Human3.6M-17
3D poses; the reference in the same run is the video-free 3D path (FLEX-21 ``skeleton_points.csv``).

Writes ``benchmarks/results/coach_real.json`` and ``coach_real.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_write_text

OUT = Path(__file__).with_name("results")
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "real" / "free-exercise-db"
COCO_FROM_MP = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # COCO-17 order
# our reading of four photographs (degrees, by eye from the picture; the camera is oblique, so +-15 deg)
BY_EYE = {
    "A02_Barbell_Curl_1": ("elbow_angle", 45.0, "curl, top: forearms up, bar at the shoulders"),
    "A16_Barbell_Full_Squat_1": ("knee_angle", 65.0, "full squat, bottom: thighs below parallel"),
    "A15_Barbell_Deadlift_0": ("torso_pitch", 55.0, "deadlift, start: back flat, hips hinged"),
    "A05_Dumbbell_Bicep_Curl_1": ("elbow_angle", 45.0, "dumbbell curl, top"),
}
KEY_MEASURES = {  # photograph suffix -> features that matter at that key position
    "Curl_1": ("elbow_angle", "upper_arm_flexion"),
    "Squat_1": ("knee_angle", "hip_angle", "torso_pitch"),
    "Deadlift_0": ("hip_angle", "knee_angle", "torso_pitch"),
    "Press_1": ("elbow_angle",),
    "Raise_1": ("upper_arm_torso", "elbow_angle"),
}


def _detect(photos: Path) -> dict:
    from PIL import Image

    from flexaqa.coach.pose import PoseEstimator

    out = {}
    with PoseEstimator(tracking=False) as est:
        for f in sorted(photos.glob("A*.jpg")):
            img = np.asarray(Image.open(f).convert("RGB"))
            r = est(img)
            out[f.stem] = None if r is None else (*r, (img.shape[1], img.shape[0]))
    return out


def _ease(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    u = 0.5 - 0.5 * np.cos(np.pi * np.linspace(0, 1, n))
    return a[None] + u[(...,) + (None,) * a.ndim] * (b - a)[None]


def _clip(a, b, fps: float):
    """Hold, then 3 x (a -> b, b -> a, rest); ``(frames, [(start, end)])``."""
    hold, up, down, rest = (round(x * fps) for x in (1.0, 1.2, 1.5, 0.8))
    parts, reps, t = [np.repeat(a[None], hold, 0)], [], hold
    for _ in range(3):
        parts += [_ease(a, b, up), _ease(b, a, down), np.repeat(a[None], rest, 0)]
        reps.append((t / fps, (t + up + down) / fps))
        t += up + down + rest
    return np.concatenate(parts), reps


def _trace_of(d, act) -> float:
    """The action's segmentation trace (oriented away from rest) at one detected photograph."""
    from flexaqa.coach.pose import mediapipe_world_to_flex
    from flexaqa.signal.segment import rep_signal
    from flexaqa.skeleton import mediapipe_to_flex21

    j = mediapipe_to_flex21(mediapipe_world_to_flex(d[0]))[None]
    y = float(rep_signal(j, act.slug)[0])
    return y if act.phase_names[1] == "concentric" else -y


def real_clips(folder: Path, photos: Path, fps: float = 30.0) -> tuple[Path, dict]:
    """Write the clips and ``labels_real.csv``; returns the labels path and the per-photo measures."""
    from flexaqa.coach.formats.lift import lift_2d
    from flexaqa.coach.formats.synthetic import write_coco, write_npy
    from flexaqa.coach.formats.tables import load_tables
    from flexaqa.coach.pose import mediapipe_world_to_flex
    from flexaqa.kg import load_kg
    from flexaqa.pose_rules.features import compute_features
    from flexaqa.skeleton import mediapipe_to_flex21

    det = _detect(photos)
    folder.mkdir(parents=True, exist_ok=True)
    rows, measures = ["file,action,start,end,errors,pose_format,fps"], {}
    body = load_tables().body
    for act in load_kg().actions:
        pair = [k for k in det if k.startswith(act.class_id + "_")]
        starts = sorted(k for k in pair if k.endswith("_0"))
        if not starts or det[starts[0]] is None or det[starts[0][:-1] + "1"] is None:
            continue
        a, b = det[starts[0]], det[starts[0][:-1] + "1"]
        if _trace_of(a, act) > _trace_of(
            b, act
        ):  # the picture at rest comes first (a "start" may be the top)
            a, b = b, a
        for key, d in ((starts[0], a), (starts[0][:-1] + "1", b)):
            world, image, vis, size = d
            j3, _ = mediapipe_to_flex21(mediapipe_world_to_flex(world)[None], vis[None])
            px = mediapipe_to_flex21((image[:, :2] * size)[None])
            _, v2 = mediapipe_to_flex21(image[None], vis[None])
            pose2, info = lift_2d(
                np.repeat(px, 6, 0),
                np.repeat(v2, 6, 0),
                np.ones(6, bool),
                np.arange(6) / fps,
                body,
                image_size=size,
            )
            f3, f2 = compute_features(j3), compute_features(pose2.joints)
            measures[key] = {
                "view_2d": info["view"],
                **{f: [round(float(f3[f][0]), 1), round(float(f2[f][0]), 1)] for f in f3},
            }
        wl = np.concatenate([a[0], a[2][:, None]], 1)
        wl_b = np.concatenate([b[0], b[2][:, None]], 1)
        world_clip, reps = _clip(wl, wl_b, fps)
        write_npy(folder / f"{act.class_id}_world.npy", world_clip)
        size = a[3]
        kp = lambda d: np.concatenate([d[1][COCO_FROM_MP, :2] * d[3], d[2][COCO_FROM_MP, None]], 1)  # noqa: E731
        coco_clip, _ = _clip(kp(a), kp(b), fps)
        people = [[(f[:, :2], np.clip(f[:, 2], 0, 1))] for f in coco_clip]
        write_coco(folder / f"{act.class_id}_coco.json", people, size=size)
        for s, e in reps:
            rows.append(f"{act.class_id}_world.npy,{act.slug},{s:.4f},{e:.4f},,mediapipe,{fps:g}")
            rows.append(f"{act.class_id}_coco.json,{act.slug},{s:.4f},{e:.4f},,coco,{fps:g}")
    labels = folder / "labels_real.csv"
    labels.write_text("\n".join(rows) + "\n")
    return labels, measures


def sim_clips(folder: Path, actions, fps: float = 30.0) -> Path:
    """Simulator sets (subject A02, one SYNTH_SLOTS slot per repetition) as OpenPose side keypoints, H36M and
    FLEX-21 skeleton_points.csv, with ``labels_sim.csv``."""
    from flexaqa.coach.formats.synthetic import keypoint_file
    from flexaqa.coach.synthetic import SYNTH_SLOTS, synthetic_set

    rows = ["file,action,start,end,errors,pose_format,fps"]
    for slug in actions:
        slots = SYNTH_SLOTS[slug]
        for k in range(0, len(slots), 3):
            chunk = slots[k : k + 3]
            errs = [(chunk[i],) if i < len(chunk) else () for i in range(3)]
            s = synthetic_set(slug, n_reps=3, errors=errs, subject="A02", seed=2 + k)
            d = folder / f"{slug}_{k}"
            files = {f: keypoint_file(d, f, s, seed=k) for f in ("openpose", "h36m", "flex")}
            for f, p in files.items():
                for r, e in zip(s.reps, s.errors, strict=True):
                    rows.append(
                        f"{p.relative_to(folder)},{slug},{r.start:.4f},{r.end:.4f},{' '.join(e)},{f},{fps:g}"
                    )
    labels = folder / "labels_sim.csv"
    labels.write_text("\n".join(rows) + "\n")
    return labels


def _split(labels: Path, fmt: str) -> Path:
    lines = labels.read_text().splitlines()
    out = labels.with_name(f"{labels.stem}_{fmt}.csv")
    out.write_text("\n".join([lines[0], *[x for x in lines[1:] if x.split(",")[5] == fmt]]) + "\n")
    return out


def main() -> None:
    import tempfile

    from flexaqa.coach.evaluate import evaluate_labels
    from flexaqa.coach.synthetic import SYNTH_SLOTS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", default=str(PHOTOS))
    ap.add_argument("--quick", action="store_true", help="4 simulator actions instead of 20")
    args = ap.parse_args()
    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="coach_real_"))
    res: dict = {"real": {}, "simulator": {}}
    labels, measures = real_clips(tmp / "real", Path(args.photos))
    for fmt in ("mediapipe", "coco"):
        res["real"][fmt] = evaluate_labels(_split(labels, fmt))
    res["real"]["measures"] = measures
    acts = list(SYNTH_SLOTS)[:4] if args.quick else list(SYNTH_SLOTS)
    sl = sim_clips(tmp / "sim", acts)
    for fmt in ("flex", "h36m", "openpose"):
        res["simulator"][fmt] = evaluate_labels(_split(sl, fmt))
    res["seconds"] = round(time.time() - t0, 1)
    OUT.mkdir(exist_ok=True)
    atomic_write_text(OUT / "coach_real.json", json.dumps(res, indent=1, default=str))
    atomic_write_text(OUT / "coach_real.md", markdown(res, measures))
    print((OUT / "coach_real.md").read_text())


def _row(name: str, r: dict) -> str:
    e = r["errors_total"]
    f = lambda x: "–" if x is None else f"{x:.2f}"  # noqa: E731
    return (
        f"| {name} | {r['clips']} | {f(r['rep_count_accuracy'])} | {r['found_reps']}/{r['true_reps']} "
        f"({r['matched_reps']} matched) | {e['tp']}/{e['fp']}/{e['fn']} | {f(e['precision'])} | {f(e['recall'])} | {f(e['f1'])} |"
    )


def markdown(res: dict, measures: dict) -> str:
    head = "| input | clips | rep count exact | reps found / labelled | tp/fp/fn | precision | recall | F1 |\n|---|---|---|---|---|---|---|---|"
    lines = [
        "# The coach on real people and on the simulator (`benchmarks/bench_coach_real.py`)",
        "",
        "## REAL: photographs of real lifters (shared/real/free-exercise-db)",
        "",
        "Real: the two key positions of each action (MediaPipe on the photographs). Interpolated: the motion between",
        "them (three repetitions per clip). Labels are ours: three repetitions, no error (demonstration form), so",
        "every error found is a false alarm on a real body and recall is undefined.",
        "",
        head,
        _row("MediaPipe world landmarks (--pose-format mediapipe)", res["real"]["mediapipe"]),
        _row("COCO-17 2D keypoints from the same photos (--pose-format coco)", res["real"]["coco"]),
        "",
        "False alarms per error type (real):",
        "",
    ]
    for fmt in ("mediapipe", "coco"):
        fp = {et: c["fp"] for et, c in res["real"][fmt]["errors"].items() if c["fp"]}
        lines.append(
            f"- {fmt}: "
            + (", ".join(f"{k} {v}" for k, v in sorted(fp.items(), key=lambda x: -x[1])) or "none")
        )
    lines += [
        "",
        "Measures at the key positions (world landmarks / 2D image; our reading by eye where we looked):",
        "",
        "| photograph | 2D view | measure | world | 2D | by eye |",
        "|---|---|---|---|---|---|",
    ]
    for key, m in sorted(measures.items()):
        feats = next((v for suf, v in KEY_MEASURES.items() if key.endswith(suf)), ())
        for f in feats:
            eye = BY_EYE.get(key)
            e = f"{eye[1]:g} ({eye[2]})" if eye and eye[0] == f else ""
            lines.append(f"| {key} | {m['view_2d']} | {f} | {m[f][0]} | {m[f][1]} | {e} |")
    lines += [
        "",
        "## SIMULATOR: flexaqa.synth sets (subject A02, one injected error per repetition, severity 1)",
        "",
        "Reference in the same run: the video-free 3D path (FLEX-21 skeleton_points.csv).",
        "",
        head,
        _row("FLEX-21 3D (reference)", res["simulator"]["flex"]),
        _row("Human3.6M-17 3D (a 3D lifter's output)", res["simulator"]["h36m"]),
        _row("OpenPose BODY_25, side camera, OpenPose-like noise", res["simulator"]["openpose"]),
        "",
        f"Run time {res['seconds']} s.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
