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
from dataclasses import replace
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_save, atomic_write_text
from flexaqa.coach.formats.tables import load_tables
from flexaqa.coach.synthetic import SyntheticSet, synthetic_set
from flexaqa.data.release import SKELETON_HEADER
from flexaqa.pose_rules.sequence import PoseSequence, Rep
from flexaqa.skeleton import FLEX21_JOINTS, J
from flexaqa.synth.render import CAMERA_POSITIONS, LOOK_AT, PHONE_POSITIONS, make_view

_FACE = {  # keypoint -> (forward, right, up) offset from the head point (m)
    "nose": (0.10, 0.0, -0.05),
    "head_top": (-0.10, 0.0, 0.05),
    "left_eye": (0.08, -0.03, 0.0),
    "right_eye": (0.08, 0.03, 0.0),
    "left_eye_inner": (0.085, -0.02, 0.0),
    "right_eye_inner": (0.085, 0.02, 0.0),
    "left_eye_outer": (0.075, -0.045, 0.0),
    "right_eye_outer": (0.075, 0.045, 0.0),
    "left_ear": (0.0, -0.075, 0.0),
    "right_ear": (0.0, 0.075, 0.0),
    "mouth_left": (0.085, -0.025, -0.08),
    "mouth_right": (0.085, 0.025, -0.08),
}


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
        elif name in (
            "left_big_toe",
            "right_big_toe",
            "left_small_toe",
            "right_small_toe",
            "left_foot_index",
            "right_foot_index",
        ):
            side = name.split("_")[0]
            lat = {"big": -0.025, "small": 0.025}.get(name.split("_")[1], 0.0) * (
                1 if side == "right" else -1
            )
            out[:, k] = x[:, J[f"{side}_toe"]] + lat * right
        elif name in ("left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb"):
            side = name.split("_")[0]
            out[:, k] = x[:, J[f"{side}_hand"]] + (0.02 if "index" in name else -0.02) * fwd
        elif name in ("mid_hip", "pelvis"):
            out[:, k] = mid("left_hip", "right_hip")
        elif name == "neck" or name == "thorax":  # OpenPose's neck: between the shoulders
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
        atomic_write_text(
            folder / f"set_{t:012d}_keypoints.json", json.dumps({"version": 1.3, "people": out})
        )
    return folder


def write_coco(
    path: str | Path, people: list[list[tuple[np.ndarray, np.ndarray]]], *, key: str = "image_id", size=None
) -> Path:
    """COCO keypoint results: one entry per person and frame, frames by ``key`` (``image_id`` or ``frame``)."""
    rows = []
    for t, ps in enumerate(people):
        for kp, conf in ps:
            a = np.concatenate([np.nan_to_num(kp, nan=0.0), conf[:, None]], 1)
            rows.append(
                {
                    key: t + 1,
                    "category_id": 1,
                    "keypoints": [round(float(v), 3) for v in a.ravel()],
                    "score": 0.9,
                }
            )
    doc = (
        rows
        if size is None
        else {"images": [{"id": 1, "width": size[0], "height": size[1]}], "annotations": rows}
    )
    return atomic_write_text(Path(path), json.dumps(doc))


def write_npy(path: str | Path, a: np.ndarray) -> Path:

    return atomic_save(Path(path), lambda tmp: np.save(tmp, np.asarray(a)), suffix=".npy")


def h36m_points(joints: np.ndarray, *, view: str = "Phone-side") -> np.ndarray:
    """``(T, 17, 3)`` Human3.6M-17 joints in a level camera's axes (x right, y down, z away, metres, pelvis at
    the origin), as a 3D lifter writes them, the camera standing where ``view``'s does."""

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

    c = np.array({**CAMERA_POSITIONS, **PHONE_POSITIONS}[view])
    f = LOOK_AT - c
    f[2] = 0
    f /= np.linalg.norm(f)
    r = np.cross(f, [0.0, 0.0, 1.0])
    R = np.stack([r, [0.0, 0.0, -1.0], f])
    return np.concatenate([p @ R.T, np.ones((*p.shape[:2], 1))], -1)


def write_skeleton_csv(path: str | Path, joints: np.ndarray) -> Path:
    """The official release's ``skeleton_points.csv`` (a header row, then 63 numbers per frame)."""

    body = "\n".join(",".join(f"{v:.5f}" for v in row) for row in np.asarray(joints).reshape(len(joints), -1))
    return atomic_write_text(Path(path), SKELETON_HEADER + "\n" + body + "\n")


def walker(
    n: int, fps: float, *, start: float, a=(-1.2, -2.5), b=(-1.2, 2.5), speed: float = 1.2
) -> np.ndarray:
    """A second person (FLEX-21 ``(n, 21, 3)``, NaN before ``start`` and after arriving) walking in a straight
    line on the floor from ``a`` to ``b`` (x, y metres) at ``speed`` m/s: a standing simulator body with its legs
    swinging. The default path crosses the ``Phone-side`` camera's picture between it and the lifter, 1.2 m in
    front of the lifter."""

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


# ------------------------------------------------------------------ what a real set adds around the repetitions


def _shifted(s, joints: np.ndarray, fps: float, shift: float, reps=None):
    """A copy of ``s`` with new ``joints`` and its repetitions (``reps`` or ``s.reps``) moved by ``shift`` s."""

    n = len(joints)
    pose = PoseSequence(
        np.arange(n) / fps,
        joints,
        np.ones((n, joints.shape[1])),
        np.isfinite(joints).all(axis=(1, 2)),
        source="synth",
    )
    moved = [
        replace(
            r,
            start=r.start + shift,
            end=r.end + shift,
            phases=tuple((p, a + shift, b + shift) for p, a, b in r.phases),
        )
        for r in (s.reps if reps is None else reps)
    ]
    return SyntheticSet(
        s.action, pose, [Rep(i, r.start, r.end, r.phases) for i, r in enumerate(moved)], list(s.errors)
    )


def _hinge(pose: np.ndarray, angle: float, knee: float) -> np.ndarray:
    """One FLEX-21 pose bent forward at the hips by ``angle`` degrees (upper body about the hip axis) with the
    hips lowered as knees bent by ``knee`` degrees would: bending down to the floor."""
    x = pose.copy()
    hip = 0.5 * (x[J["left_hip"]] + x[J["right_hip"]])
    r = x[J["right_hip"]] - x[J["left_hip"]]
    r[2] = 0
    r /= np.linalg.norm(r)
    a = np.radians(angle)
    k = r  # rotate about the body's right axis: forward bend
    upper = [J[n] for n in FLEX21_JOINTS if not any(p in n for p in ("hip", "knee", "ankle", "heel", "toe"))]
    v = x[upper] - hip
    v = v * np.cos(a) + np.cross(k, v) * np.sin(a) + np.outer(v @ k, k) * (1 - np.cos(a))
    x[upper] = hip + v
    drop = 0.45 * (1 - np.cos(np.radians(knee)))
    legs_top = [J[n] for n in FLEX21_JOINTS if "ankle" not in n and "heel" not in n and "toe" not in n]
    x[legs_top, 2] -= drop
    return x


def with_setup(
    s,
    *,
    walk: float = 2.0,
    bend: float = 2.0,
    hold: float = 1.0,
    after: bool = True,
    distance: float = 1.5,
    hinge: float = 75.0,
    knees: float = 60.0,
):
    """``s`` with what comes before and after a real set: the lifter walks in (``walk`` s over ``distance`` m,
    legs swinging), bends down to pick the weight up (``bend`` s, a ``hinge`` deg hip hinge with the knees bent
    ``knees`` deg; a barbell taken from a rack is a small dip, ``hinge=15, knees=25``), stands ``hold`` s, does
    the set, and (``after``) puts the weight back and walks out. Times of the true repetitions move along."""
    fps = s.pose.fps
    x = s.pose.joints
    first, last = x[0], x[-1]
    n_w, n_b, n_h = round(walk * fps), round(bend * fps), round(hold * fps)
    fwd = np.cross([0.0, 0.0, 1.0], first[J["right_hip"]] - first[J["left_hip"]])
    fwd[2] = 0
    fwd /= np.linalg.norm(fwd)
    side = np.cross(fwd, [0.0, 0.0, 1.0])  # walk in across the camera's view, from the lifter's right

    def walking(base, n, sign):
        out = np.repeat(base[None], n, 0)
        for i in range(n):
            u = i / max(n - 1, 1)
            out[i] += sign * (1 - u if sign > 0 else u) * distance * side
            ph = np.sin(2 * np.pi * 0.9 * i / fps)
            for leg, sg in (("left", 1), ("right", -1)):
                for jn, k in (("knee", 0.12), ("ankle", 0.25), ("heel", 0.25), ("toe", 0.25)):
                    out[i, J[f"{leg}_{jn}"]] += sg * ph * k * fwd
        return out

    def bending(base, n):
        u = np.sin(np.pi * np.arange(n) / max(n - 1, 1))  # down and back up
        return np.stack([_hinge(base, hinge * v, knees * v) for v in u])

    pre = [walking(first, n_w, 1.0), bending(first, n_b), np.repeat(first[None], n_h, 0)]
    post = [np.repeat(last[None], n_h, 0), bending(last, n_b), walking(last, n_w, -1.0)] if after else []
    joints = np.concatenate([*pre, x, *post])
    return _shifted(s, joints, fps, (n_w + n_b + n_h) / fps)


def with_pause(s, rep: int, seconds: float = 2.0, *, at: str = "turn"):
    """``s`` with a ``seconds`` pause (the body held still) at the turning point (``at="turn"``) of repetition
    ``rep``, or after it (``at="end"``); later repetitions move later."""

    fps = s.pose.fps
    r = s.reps[rep]
    t_hold = r.turn if at == "turn" else r.end
    k = s.pose.frame_at(t_hold)
    n = round(seconds * fps)
    x = s.pose.joints
    joints = np.concatenate([x[: k + 1], np.repeat(x[k : k + 1], n, 0), x[k + 1 :]])
    dt = n / fps
    reps = []
    for i, q in enumerate(s.reps):
        if i < rep or (i == rep and at == "end"):
            reps.append(q)
        elif i == rep:  # the pause belongs to this repetition: its second phase starts after it
            ph = list(q.phases)
            ph[0] = (ph[0][0], ph[0][1], ph[0][2] + dt)
            ph[1] = (ph[1][0], ph[1][1] + dt, ph[1][2] + dt)
            reps.append(replace(q, end=q.end + dt, phases=tuple(ph)))
        else:
            reps.append(
                replace(
                    q,
                    start=q.start + dt,
                    end=q.end + dt,
                    phases=tuple((p, a + dt, b + dt) for p, a, b in q.phases),
                )
            )
    return _shifted(s, joints, fps, 0.0, reps)


def with_partial(s, rep: int, share: float = 0.5):
    """``s`` with repetition ``rep`` moving through only ``share`` of its range (every joint's excursion from
    the repetition's first frame scaled by ``share``)."""
    x = s.pose.joints.copy()
    r = s.reps[rep]
    a, b = s.pose.frame_at(r.start), s.pose.frame_at(r.end)
    x[a : b + 1] = x[a] + share * (x[a : b + 1] - x[a])
    return _shifted(s, x, s.pose.fps, 0.0)


def film(
    joints: np.ndarray,
    layout: str,
    *,
    view: str = "Phone-side",
    width: int = 720,
    height: int = 1280,
    shake: float = 0.0,
    zoom: float = 0.0,
    crop: tuple[float, float] = (0.0, 1.0),
    fps: float = 30.0,
    seed: int = 0,
    noise: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The keypoints ``(pixels (T, K, 2) NaN where not seen, confidence (T, K))`` of FLEX-21 ``joints`` filmed
    by ``view``: with ``shake`` pixels of hand-held camera shake (smooth random translation at 1-4 Hz and up
    to 1.5 deg of roll), a slow ``zoom`` (the picture grows by that share over the clip, about its centre),
    and keypoints outside the picture dropped: ``crop`` is the band of the picture's height kept (top, bottom
    as shares), e.g. ``(0.0, 0.8)`` cuts the feet off a body filmed whole."""
    rng = np.random.default_rng(seed)
    ok = np.isfinite(joints).all(axis=(1, 2))
    n = len(joints)
    kp = np.zeros((n, len(load_tables().layout(layout).keypoints), 3))
    kp[ok] = layout_points(joints[ok], layout)
    px, depth = project(kp, view=view, width=width, height=height)
    c = np.array([width / 2, height / 2])
    if zoom:
        px = c + (px - c) * (1 + zoom * np.linspace(0, 1, n))[:, None, None]
    if shake:
        t = np.arange(n) / fps
        dx = sum(rng.normal(0, 1) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in (1.1, 2.3, 3.7))
        dy = sum(rng.normal(0, 1) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in (1.3, 2.9, 3.9))
        roll = np.radians(1.5) * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6.3))
        cs, sn = np.cos(roll)[:, None], np.sin(roll)[:, None]
        q = px - c
        px = c + np.stack([cs * q[..., 0] - sn * q[..., 1], sn * q[..., 0] + cs * q[..., 1]], -1)
        px = px + shake / np.sqrt(3) * np.stack([dx, dy], -1)[:, None, :]
    if noise:
        px, conf = openpose_noise(px, depth, seed=seed)
    else:
        conf = np.full(px.shape[:2], 0.9)
    top, bottom = crop[0] * height, crop[1] * height
    out = ~((px[..., 0] >= 0) & (px[..., 0] < width) & (px[..., 1] >= top) & (px[..., 1] < bottom))
    px[out | ~ok[:, None]] = np.nan
    conf[out | ~ok[:, None]] = 0.0
    return px, conf
