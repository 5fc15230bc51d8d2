"""Test fixtures: the simulator's 3D poses written in every keypoint format the coach reads.

The simulator gives FLEX-21 joints (:func:`flexaqa.coach.synthetic.synthetic_set`). :func:`layout_points` builds
a layout's keypoints from them (the points FLEX-21 lacks, such as the nose, eyes, ears and toes, are placed
around the head and feet so that the format's mapping table gives the FLEX-21 joints back), :func:`project`
films them with a calibrated pinhole camera of the simulated room (:func:`flexaqa.synth.render.make_view`), and
:func:`openpose_noise` adds what a real 2D estimator does: pixel jitter, lower confidence on the far side and
dropped keypoints. Writers put the result on disk in each format.

>>> import numpy as np
>>> from flexaqa.coach.synthetic import synthetic_set
>>> s = synthetic_set("squat", n_reps=1)
>>> px, depth = project(layout_points(s.pose.joints, "coco17"), view="Phone-side")
>>> px.shape[1:], depth.shape[1:]
((17, 2), (17,))
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_write_text
from flexaqa.coach.formats.tables import load_tables
from flexaqa.skeleton import FLEX21_JOINTS, J

_FACE = {  # keypoint -> (forward, right, up) offset from the head point (m)
    "nose": (0.10, 0.0, -0.05), "head_top": (-0.10, 0.0, 0.05),
    "left_eye": (0.08, -0.03, 0.0), "right_eye": (0.08, 0.03, 0.0),
    "left_eye_inner": (0.085, -0.02, 0.0), "right_eye_inner": (0.085, 0.02, 0.0),
    "left_eye_outer": (0.075, -0.045, 0.0), "right_eye_outer": (0.075, 0.045, 0.0),
    "left_ear": (0.0, -0.075, 0.0), "right_ear": (0.0, 0.075, 0.0),
    "mouth_left": (0.085, -0.025, -0.08), "mouth_right": (0.085, 0.025, -0.08),
}  # fmt: skip


def _frame(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame body axes (forward, right, up) ``(T, 3)`` each, as flexaqa.pose_rules.features defines them."""
    up = np.broadcast_to([0.0, 0.0, 1.0], (len(x), 3))
    r = x[:, J["right_hip"]] - x[:, J["left_hip"]]
    r[:, 2] = 0
    r /= np.maximum(np.linalg.norm(r, axis=-1, keepdims=True), 1e-9)
    return np.cross(up, r), r, up


def layout_points(joints: np.ndarray, layout: str) -> np.ndarray:
    """FLEX-21 joints ``(T, 21, 3)`` -> the ``layout``'s keypoints ``(T, K, 3)`` (world metres)."""
    lay = load_tables().layout(layout)
    x = np.asarray(joints, float)
    fwd, right, up = _frame(x)
    out = np.zeros((len(x), len(lay.keypoints), 3))
    mid = lambda a, b: 0.5 * (x[:, J[a]] + x[:, J[b]])  # noqa: E731
    for k, name in enumerate(lay.keypoints):
        if name in J:
            out[:, k] = x[:, J[name]]
        elif name in _FACE:
            f, r, u = _FACE[name]
            out[:, k] = x[:, J["head"]] + f * fwd + r * right + u * up
        elif name in ("left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe", "left_foot_index", "right_foot_index"):
            side = name.split("_")[0]
            lat = {"big": -0.025, "small": 0.025}.get(name.split("_")[1], 0.0) * (1 if side == "right" else -1)
            out[:, k] = x[:, J[f"{side}_toe"]] + lat * right
        elif name in ("left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb"):
            side = name.split("_")[0]
            out[:, k] = x[:, J[f"{side}_hand"]] + (0.02 if "index" in name else -0.02) * fwd
        elif name in ("mid_hip", "pelvis"):
            out[:, k] = mid("left_hip", "right_hip")
        elif name == "neck":  # OpenPose's neck: between the shoulders
            out[:, k] = x[:, J["spine_shoulder"]]
        elif name == "thorax":
            out[:, k] = x[:, J["spine_shoulder"]]
        elif name == "spine":
            out[:, k] = 0.5 * (mid("left_hip", "right_hip") + x[:, J["spine_shoulder"]])
        else:
            raise ValueError(f"{layout}: no fixture rule for keypoint {name!r}")
    # so that the mapping table gives FLEX-21's head back for layouts that average other points into it
    for joint, idx in lay.sources.items():
        if joint == "head" and not (len(idx) == 1 and lay.keypoints[idx[0]] == "head"):
            est = np.einsum("k,tkc->tc", lay.matrix[J["head"], list(idx)], out[:, list(idx)])
            out[:, list(idx)] += (x[:, J["head"]] - est)[:, None]
    return out


def camera(view: str = "Phone-side", *, width: int = 720, height: int = 1280):
    """A calibrated camera of the simulated room (:func:`flexaqa.synth.render.make_view`)."""
    from flexaqa.synth.render import make_view

    return make_view(view, width=width, height=height).camera


def project(points: np.ndarray, *, view: str = "Phone-side", width: int = 720, height: int = 1280):
    """World points ``(..., 3)`` -> ``(pixels (..., 2), depth (...,) m)`` through the ``view`` camera."""
    cam = camera(view, width=width, height=height)
    c = np.asarray(points, float) @ cam.R.T + cam.t
    return cam.project(points), c[..., 2]


def openpose_noise(
    px: np.ndarray, depth: np.ndarray, *, sigma: float = 3.0, drop: float = 0.03, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy pixels (T, K, 2) with NaN where dropped, confidence (T, K))``: Gaussian jitter of ``sigma``
    pixels, smooth over a few frames as a tracker's is; the farther half of the keypoints (by depth) get lower
    confidence and are dropped 5x as often; ``drop`` is the near keypoints' drop rate."""
    rng = np.random.default_rng(seed)
    t, k = px.shape[:2]
    e = rng.normal(0.0, sigma, (t + 4, k, 2))
    e = (e[:-4] + e[1:-3] + e[2:-2] + e[3:-1] + e[4:]) / np.sqrt(5)  # correlated over 5 frames, same sigma
    noisy = px + e
    far = depth > np.median(depth, axis=1, keepdims=True) + 0.05
    conf = np.clip(rng.normal(np.where(far, 0.45, 0.85), 0.08), 0.05, 1.0)
    lost = rng.random((t, k)) < np.where(far, 5 * drop, drop)
    noisy[lost] = np.nan
    conf[lost] = 0.0
    return noisy, conf


def write_openpose(folder: str | Path, people: list[list[tuple[np.ndarray, np.ndarray]]]) -> Path:
    """One ``%012d_keypoints.json`` per frame; ``people[t]`` lists ``(pixels (K, 2), confidence (K,))``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for t, ps in enumerate(people):
        out = []
        for kp, conf in ps:
            a = np.concatenate([np.nan_to_num(kp, nan=0.0), conf[:, None]], 1)
            out.append({"person_id": [-1], "pose_keypoints_2d": [round(float(v), 3) for v in a.ravel()]})
        atomic_write_text(folder / f"set_{t:012d}_keypoints.json", json.dumps({"version": 1.3, "people": out}))
    return folder


def write_coco(path: str | Path, people: list[list[tuple[np.ndarray, np.ndarray]]], *, key: str = "image_id", size=None) -> Path:
    """COCO keypoint results: one entry per person and frame, frames by ``key`` (``image_id`` or ``frame``)."""
    rows = []
    for t, ps in enumerate(people):
        for kp, conf in ps:
            a = np.concatenate([np.nan_to_num(kp, nan=0.0), conf[:, None]], 1)
            rows.append({key: t + 1, "category_id": 1, "keypoints": [round(float(v), 3) for v in a.ravel()], "score": 0.9})
    doc = rows if size is None else {"images": [{"id": 1, "width": size[0], "height": size[1]}], "annotations": rows}
    return atomic_write_text(Path(path), json.dumps(doc))


def write_npy(path: str | Path, a: np.ndarray) -> Path:
    from flexaqa._io import atomic_save

    return atomic_save(Path(path), lambda tmp: np.save(tmp, np.asarray(a)), suffix=".npy")


def h36m_points(joints: np.ndarray, *, view: str = "Phone-side") -> np.ndarray:
    """``(T, 17, 3)`` Human3.6M-17 joints in a level camera's axes (x right, y down, z away, metres, pelvis at
    the origin), as a 3D lifter writes them, the camera standing where ``view``'s does."""
    from flexaqa.synth.render import LOOK_AT, PHONE_POSITIONS, CAMERA_POSITIONS

    c = np.array({**CAMERA_POSITIONS, **PHONE_POSITIONS}[view])
    f = LOOK_AT - c
    f[2] = 0
    f /= np.linalg.norm(f)
    r = np.cross(f, [0.0, 0.0, 1.0])
    R = np.stack([r, [0.0, 0.0, -1.0], f])  # rows: camera x (right), y (down), z (away)
    p = layout_points(joints, "h36m17")
    p = p - p[:, :1]
    return p @ R.T


def mediapipe_world(joints: np.ndarray, *, view: str = "Phone-side") -> np.ndarray:
    """``(T, 33, 4)`` MediaPipe world landmarks (camera axes x right, y down, z away; hips' centre at the origin)
    with visibility 1, as ``pose_world_landmarks`` gives them."""
    p = layout_points(joints, "mediapipe33")
    p = p - 0.5 * (p[:, 23:24] + p[:, 24:25])
    from flexaqa.synth.render import LOOK_AT, PHONE_POSITIONS, CAMERA_POSITIONS

    c = np.array({**CAMERA_POSITIONS, **PHONE_POSITIONS}[view])
    f = LOOK_AT - c
    f[2] = 0
    f /= np.linalg.norm(f)
    r = np.cross(f, [0.0, 0.0, 1.0])
    R = np.stack([r, [0.0, 0.0, -1.0], f])
    return np.concatenate([p @ R.T, np.ones((*p.shape[:2], 1))], -1)


def write_skeleton_csv(path: str | Path, joints: np.ndarray) -> Path:
    """The official release's ``skeleton_points.csv`` (a header row, then 63 numbers per frame)."""
    from flexaqa.data.release import SKELETON_HEADER

    body = "\n".join(",".join(f"{v:.5f}" for v in row) for row in np.asarray(joints).reshape(len(joints), -1))
    return atomic_write_text(Path(path), SKELETON_HEADER + "\n" + body + "\n")


def walker(n: int, fps: float, *, start: float, a=(-1.2, -2.5), b=(-1.2, 2.5), speed: float = 1.2) -> np.ndarray:
    """A second person (FLEX-21 ``(n, 21, 3)``, NaN before ``start`` and after arriving) walking in a straight
    line on the floor from ``a`` to ``b`` (x, y metres) at ``speed`` m/s: a standing simulator body with its legs
    swinging. The default path crosses the ``Phone-side`` camera's picture between it and the lifter, 1.2 m in
    front of the lifter."""
    from flexaqa.coach.synthetic import synthetic_set

    base = synthetic_set("dumbbell-lateral-raise", n_reps=1).pose.joints[0]  # a standing body
    base = base - np.array([*base[[J["left_hip"], J["right_hip"]]].mean(0)[:2], 0.0])
    a, b = np.asarray(a, float), np.asarray(b, float)
    length = float(np.linalg.norm(b - a))
    d = (b - a) / length
    t = np.arange(n) / fps
    out = np.full((n, len(FLEX21_JOINTS), 3), np.nan)
    for i in np.flatnonzero((t >= start) & (speed * (t - start) <= length)):
        s = speed * (t[i] - start)
        body = base.copy()
        ph = np.sin(2 * np.pi * 0.9 * (t[i] - start))
        for side, sg in (("left", 1), ("right", -1)):
            for jn, k in (("knee", 0.15), ("ankle", 0.3), ("heel", 0.3), ("toe", 0.3)):
                body[J[f"{side}_{jn}"], :2] += sg * ph * k * d
        out[i] = body + np.array([*(a + s * d), 0.0])
    return out


FORMAT_LAYOUT = {"openpose": "openpose_body25", "openpose18": "openpose_coco18", "coco": "coco17"}


def keypoint_file(
    folder: str | Path,
    fmt: str,
    s,
    *,
    view: str = "Phone-side",
    noise: bool = True,
    seed: int = 0,
    others: list[np.ndarray] | None = None,
    key: str = "image_id",
) -> Path:
    """Write the simulated set ``s`` (a :class:`~flexaqa.coach.synthetic.SyntheticSet`) under ``folder`` in
    ``fmt``: ``openpose`` (BODY_25), ``openpose18`` (COCO-18), ``coco`` (frames by ``key``), ``mediapipe``
    (world landmarks .npy), ``h36m`` (.npy) or ``flex`` (skeleton_points.csv). 2D formats are filmed by the
    ``view`` camera with :func:`openpose_noise` (``noise``); ``others`` are more FLEX-21 bodies ``(T, 21, 3)``
    (NaN when absent, e.g. :func:`walker`) written as further people in the frames where they are in view."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x = s.pose.joints
    if fmt in FORMAT_LAYOUT:
        lay = FORMAT_LAYOUT[fmt]
        bodies = [x, *(others or [])]
        people: list[list] = [[] for _ in range(len(x))]
        for b, body in enumerate(bodies):
            ok = np.isfinite(body).all(axis=(1, 2))
            if not ok.any():
                continue
            kp = np.full((len(x), len(load_tables().layout(lay).keypoints), 3), np.nan)
            kp[ok] = layout_points(body[ok], lay)
            px, depth = project(np.nan_to_num(kp), view=view)
            if noise:
                px, conf = openpose_noise(px, depth, seed=seed + b)
            else:
                conf = np.full(px.shape[:2], 0.9)
            for t in np.flatnonzero(ok):
                people[t].append((px[t], conf[t]))
        if fmt == "coco":
            return write_coco(folder / "keypoints.json", people, key=key)
        return write_openpose(folder / "openpose", people)
    if fmt == "mediapipe":
        return write_npy(folder / "landmarks.npy", mediapipe_world(x, view=view))
    if fmt == "h36m":
        return write_npy(folder / "pose3d.npy", h36m_points(x, view=view))
    if fmt == "flex":
        return write_skeleton_csv(folder / "skeleton_points.csv", x)
    raise ValueError(f"unknown fixture format {fmt!r}")
