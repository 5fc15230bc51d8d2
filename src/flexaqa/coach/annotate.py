"""An annotated copy of the video: skeleton overlay (faulty joints red), repetition counter, live error flags.

Drawing uses OpenCV (installed with the ``pose`` extra); encoding uses :func:`flexaqa.data.video.write_mp4`.
Frames are downscaled to ``width`` pixels so a minute of video stays a few hundred MB in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flexaqa.coach.frames import iter_video
from flexaqa.data.video import write_mp4
from flexaqa.errors import require
from flexaqa.pose_rules.features import FEATURES
from flexaqa.pose_rules.sequence import PoseSequence
from flexaqa.skeleton import FLEX21_BONES, J


def _active_flags(report: dict, t: float) -> tuple[int, list[tuple[str, set[int]]]]:
    """Repetitions finished by ``t`` and the errors whose evidence spans cover ``t`` (text, joint indices)."""
    done = sum(r["end"] <= t for r in report.get("repetitions", []))
    flags = []
    for r in report.get("repetitions", []):
        if not r["start"] <= t <= r["end"] + 1.0:
            continue
        for e in r["errors"]:
            for ev in e["evidence"]:
                spans = ev.get("spans") or []
                hit = any(a - 0.05 <= t <= b + 0.5 for a, b in spans)
                if ev.get("fired") and hit:
                    feat = FEATURES.get(ev["feature"])
                    flags.append((e["text"], {J[j] for j in feat.joints} if feat else set()))
                    break
    return done, flags


def annotate_frames(frames: np.ndarray, times: np.ndarray, pose: PoseSequence, report: dict) -> np.ndarray:
    """Draw on ``frames`` ``(T, H, W, 3)`` uint8 RGB (a copy) using ``pose.image`` (normalised coordinates)."""
    cv2 = require("cv2", "pose", "drawing the annotated video")
    out = np.ascontiguousarray(frames).copy()
    n_total = len(report.get("repetitions", []))
    for i in range(len(out)):
        img = out[i]
        h, w = img.shape[:2]
        k = pose.frame_at(float(times[i]))
        done, flags = _active_flags(report, float(times[i]))
        bad = set().union(*(f[1] for f in flags)) if flags else set()
        if pose.image is not None and pose.present[k]:
            p = np.nan_to_num(pose.image[k] * np.array([w, h])).astype(int)
            vis = pose.visibility[k] >= 0.5
            for a, b in FLEX21_BONES:
                if vis[a] and vis[b]:
                    col = (220, 40, 30) if (a in bad or b in bad) else (50, 200, 255)
                    cv2.line(img, tuple(p[a]), tuple(p[b]), col, 2, cv2.LINE_AA)
            for j in np.flatnonzero(vis):
                cv2.circle(
                    img, tuple(p[j]), 4 if j in bad else 2, (220, 40, 30) if j in bad else (255, 255, 255), -1
                )
        elif not pose.present[k]:
            cv2.putText(
                img,
                "person not found",
                (10, h - 12),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (255, 80, 80),
                1,
                cv2.LINE_AA,
            )
        cv2.putText(
            img,
            f"reps {done}/{n_total}",
            (10, 22),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (255, 255, 255),
            2,
            cv2.LINE_AA,
        )
        for m, (text, _) in enumerate(flags[:3]):
            cv2.putText(
                img,
                text[:48],
                (10, 46 + 20 * m),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.45,
                (255, 90, 70),
                1,
                cv2.LINE_AA,
            )
    return out


def write_annotated_video(
    video: str | Path, pose: PoseSequence, report: dict, out: str | Path, *, width: int = 480
) -> Path:
    """Decode ``video`` at ``width`` px, draw the annotations and write an H.264 mp4 to ``out``."""
    frames, times = [], []
    for img, t, _ in iter_video(video, max_width=width):
        frames.append(img)
        times.append(t)
    if not frames:
        raise ValueError(f"{video}: no frames to annotate")
    arr = np.stack(frames)
    h, w = arr.shape[1:3]
    arr = arr[:, : h - h % 2, : w - w % 2]  # H.264 needs even sizes
    drawn = annotate_frames(arr, np.asarray(times), pose, report)
    fps = report.get("input", {}).get("fps") or pose.fps or 30.0
    return write_mp4(out, drawn, fps)
