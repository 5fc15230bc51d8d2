"""What a coach job does: check the upload by decoding it, run the coach, write its report files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from flexaqa._io import atomic_write_text
from flexaqa.coach import CoachError
from flexaqa.coach.pipeline import coach_video, write_outputs
from flexaqa.data.schema import CorruptSampleError
from flexaqa.data.video import probe_video, read_frames
from flexaqa.web.settings import WebError


class BadUploadError(WebError):
    """The uploaded file is not what it claims to be (HTTP 400)."""


def check_video(path: Path, name: str) -> float:
    """Decode ``path``'s first frame; return its duration in seconds. The file's name is never trusted."""
    try:
        info = probe_video(path)
        read_frames(path, [0], fps=info.fps or None)
    except CorruptSampleError as exc:
        raise BadUploadError(f"{name}: not a readable video ({exc})") from exc
    if info.fps <= 0 or info.n_frames <= 0:
        raise BadUploadError(f"{name}: the video holds no frames")
    return info.n_frames / info.fps


def run_video_job(job, folder: Path, video: Path, progress: Callable[[float, str], None]) -> float | None:
    """The coach on an uploaded video: report.json, report.html, pose.npz and annotated.mp4 under ``folder``."""
    duration = check_video(video, job.input_name)
    progress(0.01, "estimating the pose")
    try:
        result = coach_video(
            video, job.action, on_frame=lambda t: progress(0.85 * t / duration, "estimating the pose")
        )
    except CoachError as exc:
        if exc.report is not None:  # what could be done is still worth showing
            atomic_write_text(folder / "report.json", json.dumps(exc.report, indent=2, ensure_ascii=False))
        raise
    progress(0.9, "writing the report and the annotated video")
    write_outputs(result, folder, video=video, annotate=True)
    return result.report["set"]["score_mean"]
