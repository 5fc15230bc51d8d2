"""Pose from video with MediaPipe (extra ``pose``), mapped to FLEX-21, cleaned and smoothed.

MediaPipe 0.10.14's legacy ``mp.solutions.pose.Pose(model_complexity=1)`` ships its model and runs offline. It
gives 33 image landmarks (normalised x right, y down) and 33 *world* landmarks (metres, origin between the
hips, x right, y down, z away from the camera), each with a visibility. World landmarks become FLEX-21 joints
through :func:`flexaqa.skeleton.mediapipe_to_flex21` after the axis change ``(x, y, z) -> (x, z, -y)`` (+z up,
right-handed). A joint is only as visible as its least visible source landmark. From a camera at the side,
:func:`clean_pose` then takes the joints' in-image components from the image landmarks at one scale for the whole
sequence and keeps only the depth from the world landmarks (:func:`planar_pose`); the far arm and leg, hidden
behind the near ones, borrow their visibility (:func:`far_side_visibility`). The world landmarks are
centred on the hips, so :func:`ground_pose` puts the lowest visible foot point of each frame on the floor
(z = 0); without that, hip height (the squat's repetition signal) would never change.

Cleaning (:func:`clean_pose`): frames where nobody is found are *lost*; gaps up to ``max_gap`` seconds are
interpolated and flagged ``filled``, longer ones stay NaN and are flagged ``gap`` (never bridged); a sudden
jump of the body in the image (as when the tracker switches to another person) is flagged ``jump``; the rest is
smoothed with a Savitzky-Golay filter within each run of valid frames.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator

import numpy as np

from flexaqa.errors import require
from flexaqa.pose_rules.sequence import PoseSequence
from flexaqa.skeleton import NUM_JOINTS, J, mediapipe_to_flex21

MEDIAPIPE_VERSION = "0.10.14"
_MP_TO_FLEX_AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # rows: flex x, y, z


def mediapipe_world_to_flex(xyz: np.ndarray) -> np.ndarray:
    """MediaPipe world axes (x right, y down, z away from camera) -> flexaqa (x right, y away, z up)."""
    xyz = np.asarray(xyz, dtype=float)
    return np.stack([xyz[..., 0], xyz[..., 2], -xyz[..., 1]], axis=-1)


_NATIVE_LOGS = False


def set_native_logs(enabled: bool) -> None:
    """Show (``True``, ``flexaqa coach --verbose``) or hide the start-up log lines that MediaPipe's C++ side
    (TensorFlow Lite, absl, glog) and OpenCV write straight to the stderr file descriptor."""
    global _NATIVE_LOGS
    _NATIVE_LOGS = bool(enabled)


_hidden = {"depth": 0, "saved": -1, "stderr": None}


def _hide_native_logs() -> None:
    """Point file descriptor 2 at /dev/null for native code (Python-level logging cannot reach those lines;
    MediaPipe's threads write them while its graph runs), while Python's ``sys.stderr`` keeps writing to the
    real stderr through a duplicate descriptor. Nested calls count; :func:`_show_native_logs` undoes one."""

    if _NATIVE_LOGS:
        return
    _hidden["depth"] += 1
    if _hidden["depth"] > 1:
        return
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    sys.stderr.flush()
    _hidden["saved"] = os.dup(2)
    try:
        python_uses_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # captured (pytest) or replaced: leave it alone
        python_uses_fd2 = False
    if python_uses_fd2:
        _hidden["stderr"] = sys.stderr
        sys.stderr = os.fdopen(os.dup(_hidden["saved"]), "w", buffering=1, encoding=sys.stderr.encoding)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _show_native_logs() -> None:

    if _hidden["depth"] == 0:
        return
    _hidden["depth"] -= 1
    if _hidden["depth"] > 0:
        return
    if _hidden["stderr"] is not None:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr, _hidden["stderr"] = _hidden["stderr"], None
    os.dup2(_hidden["saved"], 2)
    os.close(_hidden["saved"])


class PoseEstimator:
    """MediaPipe Pose on single RGB frames ``(H, W, 3)`` uint8; call :meth:`close` (or use ``with``) when done.

    ``tracking`` keeps MediaPipe's tracker between frames (video); ``False`` detects afresh on every frame
    (photographs, or frames far apart).
    """

    def __init__(self, *, tracking: bool = True, min_detection: float = 0.5, min_tracking: float = 0.5):
        os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ start-up chatter
        warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype", category=UserWarning)
        mp = require("mediapipe", "pose", "pose estimation from video")
        _hide_native_logs()  # until close(): MediaPipe's threads log while its graph runs
        self._hiding = True
        try:
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=not tracking,
                model_complexity=1,  # the only complexity whose model ships in the wheel
                smooth_landmarks=True,
                min_detection_confidence=min_detection,
                min_tracking_confidence=min_tracking,
            )
        except BaseException:
            self._hiding = False
            _show_native_logs()
            raise

    def __call__(self, frame: np.ndarray):
        """``(world (33, 3), image (33, 3), visibility (33,))`` of the person in ``frame``, or ``None``."""
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if frame.ndim != 3 or frame.shape[-1] != 3:
            raise ValueError(f"expected an RGB frame (H, W, 3), got shape {frame.shape}")
        res = self._pose.process(frame)
        if res.pose_landmarks is None or res.pose_world_landmarks is None:
            return None
        img = np.array([(p.x, p.y, p.z) for p in res.pose_landmarks.landmark])  # (33, 3)
        vis = np.array([p.visibility for p in res.pose_landmarks.landmark])  # (33,)
        world = np.array([(p.x, p.y, p.z) for p in res.pose_world_landmarks.landmark])  # (33, 3)
        return world, img, vis

    def close(self) -> None:
        try:
            self._pose.close()
        finally:
            if self._hiding:
                self._hiding = False
                _show_native_logs()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# bones whose in-image length scales image pixels to metres (shoulders, arms, hips, legs, torso sides)
_SCALE_BONES = np.array(
    [
        (11, 13),
        (13, 15),
        (12, 14),
        (14, 16),
        (11, 23),
        (12, 24),
        (23, 25),
        (25, 27),
        (24, 26),
        (26, 28),
        (11, 12),
        (23, 24),
    ]
)


def planar_world(world: np.ndarray, image: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """MediaPipe world landmarks ``(..., 33, 3)`` with their in-image components (x, y) replaced by the image
    landmarks scaled to metres, keeping MediaPipe's depth (z).

    MediaPipe's image landmarks are far more accurate than the in-plane part of its world landmarks (on rendered
    simulator video: knee-to-toe distance, forearm tilt, upper-arm swing seen from the side err 2-3x less), so
    the image gives the body's shape across the picture and the world model only what one camera cannot see.
    The scale (metres per pixel, per frame) is the least-squares ratio of the world and image lengths of the
    limbs and torso; the hips' centre stays where MediaPipe put it (the world origin).

    Per frame, the scale is confounded by foreshortening (a squat filmed from the front folds the thighs toward
    the camera, their image length shrinks, the scale grows and the hips' descent disappears: the squat's
    hip-height trace lost its repetitions on rendered video), so the video path uses :func:`planar_pose`, one
    scale per sequence, instead; this stays for ``estimate_pose(planar=True)``."""
    world = np.asarray(world, dtype=float)
    px = np.asarray(image, dtype=float)[..., :2] * np.asarray(image_size, dtype=float)  # (..., 33, 2) pixels
    a, b = _SCALE_BONES[:, 0], _SCALE_BONES[:, 1]
    dw = np.linalg.norm(world[..., a, :2] - world[..., b, :2], axis=-1)  # (..., 12) metres
    di = np.linalg.norm(px[..., a, :] - px[..., b, :], axis=-1)  # (..., 12) pixels
    scale = np.sum(dw * di, axis=-1) / np.maximum(np.sum(di * di, axis=-1), 1e-9)  # (...,)
    out = world.copy()
    out[..., :2] = px * scale[..., None, None]
    hip = lambda x: 0.5 * (x[..., 23, :2] + x[..., 24, :2])  # noqa: E731
    out[..., :2] += (hip(world) - hip(out))[..., None, :]
    return out


def landmarks_to_flex(world, image, visibility, *, image_size: tuple[int, int] | None = None):
    """MediaPipe 33-landmark arrays (any leading axes) -> FLEX-21 ``joints``, ``image_xy``, ``visibility``.

    With ``image_size`` (width, height of the frame the landmarks come from), the joints' in-image components
    come from the image landmarks (:func:`planar_world`); without it, from MediaPipe's world landmarks alone."""
    if image_size is not None:
        world = planar_world(world, image, image_size)
    joints, vis = mediapipe_to_flex21(mediapipe_world_to_flex(world), visibility)
    img = mediapipe_to_flex21(np.asarray(image, dtype=float)[..., :2])
    # a joint built from landmarks outside the image is not visible whatever MediaPipe says
    inside = np.all((img > -0.02) & (img < 1.02), axis=-1)
    return joints, img, np.where(inside, vis, np.minimum(vis, 0.1))


def estimate_pose(
    frames: Iterable[tuple[np.ndarray, float]],
    *,
    estimator: PoseEstimator | None = None,
    image_size: tuple[int, int] | None = None,
    source: str = "",
    progress: bool = False,
    timings: dict | None = None,
    planar: bool = False,
) -> PoseSequence:
    """Run MediaPipe on every ``(frame, t)`` and return the raw (uncleaned) FLEX-21 :class:`PoseSequence`.

    ``timings`` (a dict) receives ``pose_s``, the seconds spent inside MediaPipe. ``planar`` takes the joints'
    in-image components from the image landmarks (:func:`planar_world`); ``False`` keeps MediaPipe's world
    landmarks as they are.
    """
    own = estimator is None
    est = estimator or PoseEstimator()
    ts, js, ims, vs, pres = [], [], [], [], []
    spent = 0.0
    it: Iterator = iter(frames)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="pose", unit="frame")
    try:
        for frame, t in it:
            if image_size is None:
                image_size = (int(frame.shape[1]), int(frame.shape[0]))
            t_a = time.perf_counter()
            out = est(frame)
            spent += time.perf_counter() - t_a
            ts.append(float(t))
            if out is None:
                js.append(np.full((NUM_JOINTS, 3), np.nan))
                ims.append(np.full((NUM_JOINTS, 2), np.nan))
                vs.append(np.zeros(NUM_JOINTS))
                pres.append(False)
                continue
            j, im, v = landmarks_to_flex(
                *out, image_size=(frame.shape[1], frame.shape[0]) if planar else None
            )
            js.append(j)
            ims.append(im)
            vs.append(v)
            pres.append(True)
    finally:
        if own:
            est.close()
        if timings is not None:
            timings["pose_s"] = spent
    n = len(ts)
    vis = np.asarray(vs).reshape(n, NUM_JOINTS)
    return PoseSequence(
        t=np.asarray(ts),
        joints=ground_pose(np.asarray(js).reshape(n, NUM_JOINTS, 3), vis),
        visibility=vis,
        present=np.asarray(pres, bool),
        image=np.asarray(ims).reshape(n, NUM_JOINTS, 2),
        image_size=image_size,
        source=source,
    )


_FEET = [J[n] for n in ("left_ankle", "right_ankle", "left_heel", "right_heel", "left_toe", "right_toe")]


def ground_pose(joints: np.ndarray, visibility: np.ndarray, *, min_visibility: float = 0.5) -> np.ndarray:
    """Put the floor at z = 0: MediaPipe's world landmarks are centred on the hips, so the hips' height never
    changes there. Each frame is shifted so its lowest visible foot point is on the floor; frames whose feet are
    hidden take the median shift of the others (``(T, 21, 3)`` in, a copy out)."""
    out = np.array(joints, dtype=float, copy=True)
    z = np.where(visibility[:, _FEET] >= min_visibility, out[:, _FEET, 2], np.nan)  # (T, 6)
    with np.errstate(all="ignore"):
        floor = np.nanmin(np.where(np.isfinite(z), z, np.inf), axis=1)
    floor[~np.isfinite(floor)] = np.nan
    if np.isfinite(floor).any():
        floor = np.where(np.isfinite(floor), floor, np.nanmedian(floor))
        out[..., 2] -= floor[:, None]
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, end_exclusive)]`` of the True runs of a 1-D mask."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(d[::2].tolist(), d[1::2].tolist(), strict=False))


def detect_jumps(pose: PoseSequence, *, max_shift: float = 0.2, max_scale: float = 0.35) -> np.ndarray:
    """``(T,)`` bool: frames where the body's image position jumps by more than ``max_shift`` (of the image)
    or its torso size changes by more than ``max_scale`` from the previous frame with a person."""
    jump = np.zeros(len(pose), bool)
    if pose.image is None:
        return jump
    img = pose.image
    centre = (
        0.5
        * (
            img[:, J["left_hip"]]
            + img[:, J["right_hip"]]
            + img[:, J["left_shoulder"]]
            + img[:, J["right_shoulder"]]
        )
        / 2
    )
    size = np.linalg.norm(
        0.5 * (img[:, J["left_shoulder"]] + img[:, J["right_shoulder"]])
        - 0.5 * (img[:, J["left_hip"]] + img[:, J["right_hip"]]),
        axis=-1,
    )
    prev = None
    for i in np.flatnonzero(pose.present):
        if prev is not None and i - prev <= 3:
            shift = np.linalg.norm(centre[i] - centre[prev])
            scale = abs(size[i] - size[prev]) / max(size[prev], 1e-6)
            jump[i] = bool(shift > max_shift or scale > max_scale)
        prev = i
    return jump


def clean_pose(
    pose: PoseSequence, *, max_gap: float = 0.25, smooth: float = 0.2, planar: str = "side"
) -> PoseSequence:
    """Fill gaps up to ``max_gap`` s, flag longer ones, flag jumps, and smooth with a ``smooth`` s window.

    ``planar`` (``"side"``, ``"always"``, ``"never"``): when to replace the joints' in-image components with the
    image landmarks at one scale for the whole sequence (:func:`planar_pose`). The default does it for a camera
    at the side (:func:`detect_view` of the world pose), where the movement lies in the image plane."""
    if planar not in ("side", "always", "never"):
        raise ValueError(f"planar must be 'side', 'always' or 'never', got {planar!r}")
    from scipy.signal import savgol_filter

    n = len(pose)
    joints = pose.joints.copy()
    image = None if pose.image is None else pose.image.copy()
    vis = pose.visibility.copy()
    present = pose.present.copy()
    lost = ~present
    filled = np.zeros(n, bool)
    gap = np.zeros(n, bool)
    fps = pose.fps or 30.0
    for a, b in _runs(lost):
        if a == 0 or b == n or (pose.t[b] - pose.t[a - 1]) > max_gap + 1.0 / fps:
            gap[a:b] = True
            continue
        w = ((pose.t[a:b] - pose.t[a - 1]) / (pose.t[b] - pose.t[a - 1]))[:, None, None]
        joints[a:b] = (1 - w) * joints[a - 1] + w * joints[b]
        if image is not None:
            image[a:b] = (1 - w) * image[a - 1] + w * image[b]
        vis[a:b] = np.minimum(vis[a - 1], vis[b]) * 0.8
        filled[a:b] = True
    ok = present | filled
    win = max(round(smooth * fps) | 1, 3)
    for a, b in _runs(ok):
        if b - a >= win:
            joints[a:b] = _smooth(joints[a:b], win, savgol_filter)
            if image is not None:
                image[a:b] = _smooth(image[a:b], win, savgol_filter)
    flags = dict(pose.flags)
    flags.update(lost=lost, filled=filled, gap=gap, jump=detect_jumps(pose))
    out = PoseSequence(pose.t, joints, vis, present, image, pose.image_size, flags, pose.source)
    if planar == "always" or (planar == "side" and detect_view(out) == "side"):
        out = planar_pose(out)
    return out


def _smooth(x: np.ndarray, win: int, savgol_filter) -> np.ndarray:
    """Savitzky-Golay (order 2) along time of ``x (n, J, C)``; a joint with NaN frames (one a keypoint format
    lacks, or dropped by a 2D estimator) is smoothed within each of its own finite runs."""
    if np.isfinite(x).all():
        return savgol_filter(x, win, 2, axis=0)
    out = x.copy()
    for j in range(x.shape[1]):
        for a, b in _runs(np.isfinite(x[:, j]).all(-1)):
            if b - a >= win:
                out[a:b, j] = savgol_filter(x[a:b, j], win, 2, axis=0)
    return out


# FLEX-21 bones (parent, child) whose lengths scale the image to metres (limbs, torso sides, hips, shoulders)
_PLANAR_BONES = [
    (f"{s}_{a}", f"{s}_{b}")
    for s in ("left", "right")
    for a, b in (
        ("shoulder", "elbow"),
        ("elbow", "wrist"),
        ("hip", "knee"),
        ("knee", "ankle"),
        ("shoulder", "hip"),
    )
]


def sequence_scale(pose: PoseSequence, *, min_visibility: float = 0.5, q: float = 90.0) -> float:
    """Metres per pixel for the whole sequence: the median over limbs and torso sides of the bone's median 3D
    length in the (world) joints over its ``q``-th percentile length in the image.

    A bone's length is constant, its image length only shrinks when it turns toward the camera (foreshortening),
    so a high percentile of the image length is its length across the picture; one scale per sequence keeps a
    squat's descent that a per-frame scale (thighs folding toward a front camera) would absorb. NaN when no bone
    is visible in enough frames. Assumes the person stays at about the same distance from the camera."""
    if pose.image is None or pose.image_size is None:
        return float("nan")
    px = pose.image * np.asarray(pose.image_size, float)  # (T, 21, 2) pixels
    ratios = []
    for a, b in _PLANAR_BONES:
        ok = (
            pose.present
            & (pose.visibility[:, J[a]] >= min_visibility)
            & (pose.visibility[:, J[b]] >= min_visibility)
        )
        if ok.sum() < 5:
            continue
        dw = np.linalg.norm(pose.joints[ok, J[a]] - pose.joints[ok, J[b]], axis=-1)  # (n,) metres
        di = np.linalg.norm(px[ok, J[a]] - px[ok, J[b]], axis=-1)  # (n,) pixels
        li = np.nanpercentile(di, q)
        if np.isfinite(li) and li > 1e-6:
            ratios.append(np.nanmedian(dw) / li)
    return float(np.median(ratios)) if ratios else float("nan")


def planar_pose(pose: PoseSequence, *, scale: float | None = None) -> PoseSequence:
    """``pose`` with its joints' in-image components (x right, z up) taken from the image landmarks at one scale
    for the whole sequence (:func:`sequence_scale`), keeping the world model's depth (y) only.

    MediaPipe's image landmarks are far more accurate than the in-plane part of its world landmarks (on rendered
    simulator video filmed from the side, the knee, hip and elbow angles, torso lean and upper-arm swing err
    2-3x less; ``benchmarks/diag_coach_video.py``). The hips' horizontal centre stays where the world pose has
    it, and the feet are put back on the floor (:func:`ground_pose`). A pose without image coordinates, or
    without a usable scale, comes back unchanged. The FLEX-21 mapping is linear in the landmarks, so this equals
    doing it on MediaPipe's 33 landmarks."""
    s = sequence_scale(pose) if scale is None else float(scale)
    if pose.image is None or pose.image_size is None or not np.isfinite(s) or s <= 0:
        return pose
    px = pose.image * np.asarray(pose.image_size, float)  # (T, 21, 2) pixels, y down
    joints = pose.joints.copy()
    joints[..., 0] = px[..., 0] * s
    joints[..., 2] = -px[..., 1] * s
    hip_x = lambda x: 0.5 * (x[:, J["left_hip"], 0] + x[:, J["right_hip"], 0])  # noqa: E731
    joints[..., 0] += (hip_x(pose.joints) - hip_x(joints))[:, None]
    vis, hidden = far_side_visibility(pose.visibility)
    ok = np.isfinite(joints).all(axis=(1, 2))
    if ok.any():
        joints[ok] = ground_pose(joints[ok], vis[ok])
    flags = dict(pose.flags)
    flags["far_side"] = hidden & pose.present
    return PoseSequence(pose.t, joints, vis, pose.present, pose.image, pose.image_size, flags, pose.source)


_MIRROR = [J[n.replace("left_", "right_") if "left_" in n else n.replace("right_", "left_")] for n in J]


def far_side_visibility(visibility: np.ndarray, *, factor: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    """Side view: ``(visibility (T, 21), hidden (T,) bool)`` with a hidden far-side joint given ``factor`` times
    its visible mirror joint's visibility.

    A camera at the side sees the far arm and leg behind the near ones. MediaPipe still places them (in a
    bilateral exercise they move with the near limbs, and the per-feature errors of
    ``benchmarks/diag_coach_video.py`` include those frames) but marks them not visible, so every rule on a
    both-sides feature (knee, hip, elbow angle) would go unassessed from the view users are told to film from.
    ``hidden`` marks the frames where some joint was raised. A one-sided fault of the far limb is not visible
    from one side camera in any case."""
    vis = np.asarray(visibility, float)
    raised = np.maximum(vis, factor * vis[:, _MIRROR])  # (T, 21)
    return raised, (raised > vis).any(axis=1)


FRONT_YAW, SIDE_YAW = 20.0, 60.0  # body_yaw below: front; above: side (degrees; see detect_view)


def body_yaw(pose: PoseSequence) -> float:
    """How far the body is turned from the camera (degrees, median over the frames): 0 faces the camera (or its
    back to it), 90 side on. MediaPipe's world landmarks keep the camera's axes (x right, y away from the camera
    after :func:`mediapipe_world_to_flex`), so the yaw is the angle of the hips' and shoulders' left-to-right
    line out of the image plane. NaN without a person."""
    if not pose.present.any():
        return float("nan")
    x = pose.joints[pose.present]
    right = x[:, J["right_hip"]] - x[:, J["left_hip"]] + x[:, J["right_shoulder"]] - x[:, J["left_shoulder"]]
    with np.errstate(all="ignore"):
        return float(np.nanmedian(np.degrees(np.arctan2(np.abs(right[:, 1]), np.abs(right[:, 0])))))


def detect_view(pose: PoseSequence) -> str:
    """``front`` (body yaw under 20 deg), ``side`` (over 60 deg) or ``oblique`` from :func:`body_yaw`; ``3d``
    for a pose without image coordinates (a true 3D pose, not one camera's).

    On rendered simulator video (``benchmarks/diag_coach_video.py``) a camera straight in front gives 0-6 deg,
    the FLEX phone and corner cameras (about 40 deg off the front) 24-45 deg and a camera at the side 66-89 deg,
    whatever the exercise; the image width-to-torso ratio used before confused a bent-over or lying torso
    (foreshortened in the image) with a frontal view.
    """
    if pose.image is None or not pose.present.any():
        return "3d"
    yaw = body_yaw(pose)
    if not np.isfinite(yaw):
        return "oblique"
    return "front" if yaw < FRONT_YAW else ("side" if yaw > SIDE_YAW else "oblique")
