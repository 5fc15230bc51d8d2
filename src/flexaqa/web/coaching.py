"""What a coach job does: check the upload by decoding it, run the coach, write its report files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flexaqa._io import write_json
from flexaqa.coach import CoachError
from flexaqa.coach.formats import PoseFormatError, read_keypoints
from flexaqa.coach.keypoints import coach_keypoints
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


# keypoint files a browser can upload as one file (OpenPose writes a folder: zip uploads are not taken)
UPLOAD_SUFFIXES = {
    "coco": (".json",),
    "mediapipe": (".npz", ".npy", ".json"),
    "h36m": (".npy", ".npz"),
    "flex": (".csv", ".npy"),
}


def input_suffix(kind: str, name: str) -> str:
    """The suffix the stored upload gets (readers go by it); only the ones the format reads are taken."""
    if kind == "video":
        return ".video"
    if kind not in UPLOAD_SUFFIXES:
        raise BadUploadError(f"input kind {kind!r}: expected video or one of {', '.join(UPLOAD_SUFFIXES)}")
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES[kind]:
        raise BadUploadError(f"{name}: a {kind} keypoint upload is one of {', '.join(UPLOAD_SUFFIXES[kind])}")
    return suffix


def check_upload(path: Path, job) -> None:
    """Decode a video's first frame, or read a keypoint file whole: the name is never trusted."""
    if job.kind == "video":
        check_video(path, job.input_name)
        return
    try:
        read_keypoints(path, job.pose_format, fps=job.fps)
    except PoseFormatError as exc:
        raise BadUploadError(f"{job.input_name}: {exc}".replace(str(path), job.input_name)) from exc


def run_job(job, folder: Path, path: Path, progress: Callable[[float, str], None]) -> float | None:
    """The coach on an uploaded video or keypoint file; the report files go under ``folder``."""
    if job.kind == "video":
        return run_video_job(job, folder, path, progress)
    progress(0.1, "reading the keypoints")
    try:
        result = coach_keypoints(path, job.pose_format, job.action, fps=job.fps)
    except CoachError as exc:
        if exc.report is not None:
            write_json(folder / "report.json", exc.report, indent=2, ensure_ascii=False)
        raise
    progress(0.9, "writing the report")
    write_outputs(result, folder)
    return result.report["set"]["score_mean"]


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
            write_json(folder / "report.json", exc.report, indent=2, ensure_ascii=False)
        raise
    progress(0.9, "writing the report and the annotated video")
    write_outputs(result, folder, video=video, annotate=True)
    return result.report["set"]["score_mean"]
