"""Readers of the keypoint formats ``flexaqa coach --pose PATH --pose-format FORMAT`` accepts.

Every reader returns a :class:`KeypointInput`: the FLEX-21 pose the coach analyses (2D inputs lifted by
:func:`~flexaqa.coach.formats.lift.lift_2d`, 3D ones as they are, with the floor at z = 0), whether it is a
single camera's 2D pose (``view`` read from its proportions) or 3D, the joints the format lacks with the reason,
and notes for the report (several people, estimated image size). A bad file raises
:class:`~flexaqa.coach.formats.tables.PoseFormatError` naming the file and what was expected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flexaqa.coach.formats.lift import follow_lifter, lift_2d
from flexaqa.coach.formats.tables import POSE_FORMATS, Layout, PoseFormatError, load_tables
from flexaqa.coach.pose import FRONT_YAW, SIDE_YAW, body_yaw, ground_pose, mediapipe_world_to_flex
from flexaqa.data.release import read_skeleton_csv
from flexaqa.data.schema import CorruptSampleError
from flexaqa.pose_rules.sequence import PoseSequence
from flexaqa.skeleton import FLEX21_JOINTS, NUM_JOINTS


@dataclass
class KeypointInput:
    """A keypoint file read for the coach."""

    pose: PoseSequence
    fmt: str  # the --pose-format
    layout: str  # e.g. openpose_body25
    dims: int  # 2: one camera's 2D keypoints; 3: a 3D pose
    view: str  # detected view for 2D (front/side/oblique), "3d" for 3D, "camera" for MediaPipe world (see below)
    missing: dict[str, str] = field(default_factory=dict)  # FLEX-21 joint -> why the format lacks it
    notes: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)


def _need_fps(fps: float | None, path: Path, fmt: str) -> float:
    if fps is None:
        raise PoseFormatError(f"{path}: the {fmt} format carries no time; give the frame rate with --fps")
    if not np.isfinite(fps) or fps <= 0:
        raise PoseFormatError(f"{path}: --fps must be a positive number, got {fps}")
    return float(fps)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PoseFormatError(f"{path}: cannot read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise PoseFormatError(f"{path}: not valid JSON ({exc})") from exc


def _triplets(flat, k: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``[x1, y1, c1, ...]`` -> ``(kp (k, 2) with NaN where c == 0, conf (k,))``."""
    try:
        a = np.asarray(flat, dtype=float)
    except (TypeError, ValueError) as exc:
        raise PoseFormatError(f"{where}: expected numbers x, y, confidence per keypoint ({exc})") from exc
    if a.ndim != 1 or a.size != 3 * k:
        raise PoseFormatError(
            f"{where}: expected {3 * k} numbers ({k} keypoints x (x, y, confidence)), got {a.size}"
        )
    a = a.reshape(k, 3)
    if not np.isfinite(a).all():
        raise PoseFormatError(f"{where}: keypoints hold NaN or infinite values")
    kp = a[:, :2].copy()
    kp[a[:, 2] <= 0] = np.nan  # confidence 0 (OpenPose writes x = y = 0 there): not detected
    return kp, np.clip(a[:, 2], 0.0, 1.0)


def _finish_2d(path, fmt, layout: Layout, people, t, *, image_size=None) -> KeypointInput:
    kp, conf, present, note = follow_lifter(people)
    px, vis = layout.to_flex(kp, conf)
    body = load_tables().body
    pose, info = lift_2d(px, vis, present, t, body, image_size=image_size, source=str(path))
    notes = [note] if note else []
    if info["image_size_estimated"]:
        notes.append(
            "the keypoint file gives no image size: it was taken from the keypoints' extent (only the body's "
            "jumps are measured against it)"
        )
    info.update(several_people=bool(note))
    return KeypointInput(pose, fmt, layout.name, 2, info["view"], dict(layout.missing), notes, info)


def read_openpose(path: Path, fps: float | None) -> KeypointInput:
    """A folder of OpenPose ``--write_json`` files ``*_keypoints.json`` (one per frame, in name order),
    ``people[].pose_keypoints_2d`` = ``[x, y, confidence] * K`` pixels; K = 25 (BODY_25) or 18 (COCO-18)."""
    if not path.is_dir():
        raise PoseFormatError(f"{path}: expected a folder of OpenPose *_keypoints.json files")
    files = sorted(
        path.glob("*_keypoints.json"),
        key=lambda p: [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name)],
    )
    if not files:
        raise PoseFormatError(
            f"{path}: no *_keypoints.json file (OpenPose --write_json output) in the folder"
        )
    fps = _need_fps(fps, path, "openpose")
    tables = load_tables()
    layout, people = None, []
    for f in files:
        d = _read_json(f)
        if not isinstance(d, dict) or not isinstance(d.get("people"), list):
            raise PoseFormatError(f"{f}: expected an object with a 'people' list (OpenPose --write_json)")
        frame = []
        for i, p in enumerate(d["people"]):
            flat = p.get("pose_keypoints_2d") if isinstance(p, dict) else None
            if not isinstance(flat, list):
                raise PoseFormatError(f"{f}: people[{i}] has no pose_keypoints_2d list")
            if len(flat) % 3:
                raise PoseFormatError(
                    f"{f}: people[{i}].pose_keypoints_2d has {len(flat)} numbers, not 3 per keypoint"
                )
            lay = tables.by_count("openpose", len(flat) // 3)
            if lay is None:
                raise PoseFormatError(
                    f"{f}: people[{i}] has {len(flat) // 3} keypoints; expected 25 (BODY_25) or 18 (COCO-18)"
                )
            if layout is not None and lay is not layout:
                raise PoseFormatError(f"{f}: {lay.name} keypoints after {layout.name} ones in earlier files")
            layout = lay
            frame.append(_triplets(flat, len(lay.keypoints), f"{f}: people[{i}].pose_keypoints_2d"))
        people.append(frame)
    if layout is None:
        raise PoseFormatError(f"{path}: no person in any of the {len(files)} keypoint files")
    return _finish_2d(path, "openpose", layout, people, np.arange(len(files)) / fps)


def read_coco(path: Path, fps: float | None) -> KeypointInput:
    """COCO keypoint results (MMPose/RTMPose/ViTPose/Detectron2): one JSON list of
    ``{"image_id" | "frame": n, "keypoints": [x, y, score] * 17, "score": s}`` (or ``{"annotations": [...]}``),
    frames ordered by ``frame`` or ``image_id``; also MMPose's ``[{"frame_id": n, "instances": [{"keypoints":
    [[x, y] * 17], "keypoint_scores": [17]}]}]``. An ``images`` list with ``width``/``height`` gives the size."""
    if not path.is_file():
        raise PoseFormatError(f"{path}: no such file (expected one COCO keypoint results JSON)")
    fps = _need_fps(fps, path, "coco")
    d = _read_json(path)
    layout = load_tables().layout("coco17")
    size = None
    if isinstance(d, dict):
        imgs = d.get("images") or []
        if imgs and isinstance(imgs[0], dict) and "width" in imgs[0]:
            size = (int(imgs[0]["width"]), int(imgs[0]["height"]))
        d = d.get("annotations")
    if not isinstance(d, list) or not d:
        raise PoseFormatError(
            f"{path}: expected a non-empty JSON list of keypoint results (or {{'annotations': [...]}})"
        )
    by_frame: dict[int, list] = {}
    for i, r in enumerate(d):
        where = f"{path}: entry {i}"
        if not isinstance(r, dict):
            raise PoseFormatError(f"{where}: expected an object, got {type(r).__name__}")
        if "instances" in r:  # MMPose inferencer predictions
            fid = r.get("frame_id", i)
            for k, inst in enumerate(r["instances"] or []):
                try:
                    kp = np.asarray(inst["keypoints"], float)
                    sc = np.asarray(inst.get("keypoint_scores", np.ones(len(kp))), float)
                except (KeyError, TypeError, ValueError) as exc:
                    raise PoseFormatError(
                        f"{where}.instances[{k}]: expected keypoints [[x, y] * 17] ({exc})"
                    ) from exc
                if kp.shape != (17, 2) or sc.shape != (17,):
                    raise PoseFormatError(
                        f"{where}.instances[{k}]: expected 17 (x, y) keypoints, got {kp.shape}"
                    )
                by_frame.setdefault(int(fid), []).append(
                    np.concatenate([kp, sc[:, None]], 1).ravel().tolist()
                )
            by_frame.setdefault(int(fid), [])
            continue
        fid = r.get("frame", r.get("image_id"))
        if fid is None:
            raise PoseFormatError(f"{where}: has neither 'frame' nor 'image_id'")
        if "keypoints" not in r:
            raise PoseFormatError(f"{where}: has no 'keypoints' list")
        try:
            fid = int(fid)
        except (TypeError, ValueError) as exc:
            raise PoseFormatError(f"{where}: frame/image_id must be an integer, got {fid!r}") from exc
        by_frame.setdefault(fid, []).append(r["keypoints"])
    frames = sorted(by_frame)
    lo = frames[0]
    n = frames[-1] - lo + 1
    people: list[list] = [[] for _ in range(n)]  # frame numbers with no entry: nobody found there
    for fid in frames:
        people[fid - lo] = [_triplets(k, 17, f"{path}: frame {fid}") for k in by_frame[fid]]
    return _finish_2d(path, "coco", layout, people, np.arange(n) / fps, image_size=size)


def _load_array(path: Path, what: str) -> np.ndarray | dict:
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: np.asarray(z[k]) for k in z.files}
        return np.asarray(np.load(path, allow_pickle=False))
    except (OSError, ValueError, EOFError) as exc:
        raise PoseFormatError(f"{path}: cannot read as {what} ({exc})") from exc


def _pose_3d(
    path,
    fmt,
    layout: Layout,
    xyz: np.ndarray,
    vis: np.ndarray,
    t: np.ndarray,
    view: str,
    *,
    per_frame: bool = False,
) -> KeypointInput:
    if np.isinf(xyz).any():
        raise PoseFormatError(f"{path}: the pose holds infinite values")
    joints, jv = layout.to_flex(xyz, vis)
    present = np.isfinite(joints).any(axis=(1, 2)) & (jv.max(1) > 0)
    if not present.any():
        raise PoseFormatError(f"{path}: no frame holds a finite pose")
    if per_frame:  # root-relative (a 3D lifter's output): each frame's lowest foot point on the floor
        joints = ground_pose(joints, jv, min_visibility=0.0)
    else:  # one floor for the whole sequence (a 3D pose keeps its heights): the median lowest foot point
        feet = [i for i, j in enumerate(FLEX21_JOINTS) if j.endswith(("ankle", "heel", "toe"))]
        with np.errstate(all="ignore"):
            low = np.nanmin(joints[present][:, feet, 2], axis=1)
        joints[..., 2] -= float(np.nanmedian(low))
    pose = PoseSequence(t, joints, jv, present, source=str(path))
    return KeypointInput(pose, fmt, layout.name, 3, view, dict(layout.missing), [], {"view": view})


def _times(n: int, fps: float | None, path: Path, fmt: str, t=None) -> np.ndarray:
    if t is not None:
        t = np.asarray(t, float).ravel()
        if t.shape != (n,) or (n > 1 and np.any(np.diff(t) <= 0)):
            raise PoseFormatError(f"{path}: 't' must be {n} strictly increasing times (s)")
        return t
    return np.arange(n) / _need_fps(fps, path, fmt)


def read_mediapipe(path: Path, fps: float | None) -> KeypointInput:
    """MediaPipe Pose's 33 landmarks: the coach's own ``pose.npz`` (``t``, FLEX-21 ``joints``, ``visibility``,
    ``present``), an ``.npy`` ``(T, 33, 3|4)`` of world landmarks (metres, MediaPipe's camera axes x right, y down,
    z away; a 4th column is the visibility), or a JSON list of frames, each ``null`` (nobody) or 33 landmarks
    (``[x, y, z(, visibility)]`` or ``{"x", "y", "z", "visibility"}``) of world landmarks. World landmarks keep
    the camera's axes, so the view is read from how far the body is turned (``body_yaw``)."""

    if not path.is_file():
        raise PoseFormatError(
            f"{path}: no such file (expected pose.npz, a .npy or a .json of MediaPipe landmarks)"
        )
    layout = load_tables().layout("mediapipe33")
    if path.suffix == ".npz":
        z = _load_array(path, "the coach's pose.npz")
        need = {"t", "joints", "visibility", "present"}
        if set(need) - set(z):
            raise PoseFormatError(
                f"{path}: expected the coach's pose.npz with arrays {sorted(need)}, got {sorted(z)}"
            )
        try:
            pose = PoseSequence(z["t"], z["joints"], z["visibility"], z["present"], source=str(path))
        except ValueError as exc:
            raise PoseFormatError(f"{path}: {exc}") from exc
        world = pose
    else:
        if path.suffix == ".npy":
            a = _load_array(path, "a (T, 33, 3|4) landmark array")
        elif path.suffix == ".json":
            a = _mediapipe_json(path)
        else:
            raise PoseFormatError(
                f"{path}: expected .npz (the coach's pose.npz), .npy or .json for --pose-format mediapipe"
            )
        if not isinstance(a, np.ndarray) or a.ndim != 3 or a.shape[1] != 33 or a.shape[2] not in (3, 4):
            raise PoseFormatError(
                f"{path}: expected MediaPipe landmarks shaped (T, 33, 3) or (T, 33, 4), got {getattr(a, 'shape', None)}"
            )
        t = _times(len(a), fps, path, "mediapipe")
        vis = a[..., 3] if a.shape[2] == 4 else np.where(np.isfinite(a).all(-1), 1.0, 0.0)
        xyz = mediapipe_world_to_flex(a[..., :3])
        joints, jv = layout.to_flex(xyz, vis)
        present = np.isfinite(joints).all(-1).any(-1)
        jv = np.where(present[:, None], jv, 0.0)
        joints = ground_pose(np.where(np.isfinite(joints), joints, np.nan), jv)
        world = PoseSequence(t, joints, jv, present, source=str(path))
    yaw = body_yaw(world)

    view = (
        "oblique"
        if not np.isfinite(yaw)
        else ("front" if yaw < FRONT_YAW else ("side" if yaw > SIDE_YAW else "oblique"))
    )
    return KeypointInput(
        world,
        "mediapipe",
        layout.name,
        3,
        view,
        {},
        [],
        {"view": view, "yaw": round(yaw, 1) if np.isfinite(yaw) else None},
    )


def _mediapipe_json(path: Path) -> np.ndarray:
    d = _read_json(path)
    if isinstance(d, dict):
        d = d.get("frames")
    if not isinstance(d, list) or not d:
        raise PoseFormatError(f"{path}: expected a JSON list of frames (each null or 33 landmarks)")
    out = np.full((len(d), 33, 4), np.nan)
    for i, fr in enumerate(d):
        if fr is None:
            continue
        if isinstance(fr, dict):
            fr = fr.get("world_landmarks", fr.get("landmarks"))
        if not isinstance(fr, list) or len(fr) != 33:
            raise PoseFormatError(f"{path}: frame {i}: expected null or a list of 33 landmarks")
        for k, lm in enumerate(fr):
            try:
                if isinstance(lm, dict):
                    out[i, k] = [lm["x"], lm["y"], lm["z"], lm.get("visibility", 1.0)]
                else:
                    v = [float(x) for x in lm]
                    out[i, k, : len(v)] = v if len(v) in (3, 4) else [np.nan] * len(v)
                    if len(v) == 3:
                        out[i, k, 3] = 1.0
                    elif len(v) != 4:
                        raise ValueError(f"{len(v)} numbers")
            except (KeyError, TypeError, ValueError) as exc:
                raise PoseFormatError(
                    f"{path}: frame {i} landmark {k}: expected x, y, z(, visibility) ({exc})"
                ) from exc
    out[..., 3] = np.where(np.isfinite(out[..., :3]).all(-1), out[..., 3], 0.0)
    return out


H36M_AXES = np.array(
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]
)  # camera (x right, y down, z away) -> flex


def read_h36m(path: Path, fps: float | None) -> KeypointInput:
    """A 3D Human3.6M-17 sequence ``(T, 17, 3)`` ``.npy`` as VideoPose3D and MotionBERT write it: metres in the
    camera's axes (x right, y down, z away from the camera), usually root-relative, so each frame's lowest foot
    point is put on the floor (z = 0), as for MediaPipe's hip-centred world landmarks."""
    if not path.is_file():
        raise PoseFormatError(f"{path}: no such file (expected a (T, 17, 3) .npy)")
    a = _load_array(path, "a (T, 17, 3) array")
    if isinstance(a, dict):
        keys = [k for k, v in a.items() if v.ndim == 3 and v.shape[1:] == (17, 3)]
        if len(keys) != 1:
            raise PoseFormatError(f"{path}: expected one (T, 17, 3) array in the .npz, got {sorted(a)}")
        a = a[keys[0]]
    if a.ndim != 3 or a.shape[1:] != (17, 3):
        raise PoseFormatError(f"{path}: expected a Human3.6M-17 pose shaped (T, 17, 3), got {a.shape}")
    xyz = np.asarray(a, float) @ H36M_AXES.T
    vis = np.isfinite(xyz).all(-1).astype(float)
    t = _times(len(a), fps, path, "h36m")
    return _pose_3d(path, "h36m", load_tables().layout("h36m17"), xyz, vis, t, "3d", per_frame=True)


def read_flex(path: Path, fps: float | None) -> KeypointInput:
    """The FLEX-21 3D skeleton: the official release's ``skeleton_points.csv`` (a header row, then 63 numbers
    per frame; ``--fps`` needed), a native-layout ``pose.npy`` (its ``trial.json`` beside it gives the rate), or
    a native trial folder."""

    layout = load_tables().layout("flex21")
    if path.is_dir():
        path = path / "pose.npy"
    if not path.is_file():
        raise PoseFormatError(
            f"{path}: no such file (expected skeleton_points.csv, pose.npy or a trial folder)"
        )
    if path.suffix == ".csv":
        try:
            x = read_skeleton_csv(path)
        except CorruptSampleError as exc:
            raise PoseFormatError(str(exc)) from exc
        t = _times(len(x), fps, path, "flex")
    elif path.suffix == ".npy":
        x = _load_array(path, "a (T, 21, 3) FLEX-21 pose")
        if not isinstance(x, np.ndarray) or x.ndim != 3 or x.shape[1:] != (NUM_JOINTS, 3):
            raise PoseFormatError(
                f"{path}: expected a FLEX-21 pose shaped (T, 21, 3), got {getattr(x, 'shape', None)}"
            )
        meta = path.with_name("trial.json")
        if fps is None and meta.is_file():
            spec = (_read_json(meta).get("streams") or {}).get("pose") or {}
            if "rate" not in spec:
                raise PoseFormatError(f"{meta}: streams.pose has no 'rate'")
            fps = float(spec["rate"])
        t = _times(len(x), fps, path, "flex")
    else:
        raise PoseFormatError(f"{path}: expected skeleton_points.csv or pose.npy for --pose-format flex")
    x = np.asarray(x, float)
    return _pose_3d(path, "flex", layout, x, np.isfinite(x).all(-1).astype(float), t, "3d")


READERS = {
    "openpose": read_openpose,
    "coco": read_coco,
    "mediapipe": read_mediapipe,
    "h36m": read_h36m,
    "flex": read_flex,
}


def read_keypoints(path: str | Path, fmt: str, *, fps: float | None = None) -> KeypointInput:
    """Read ``path`` in ``fmt`` (one of :data:`~flexaqa.coach.formats.tables.POSE_FORMATS`)."""
    if fmt not in POSE_FORMATS:
        raise PoseFormatError(f"unknown --pose-format {fmt!r}; expected one of {', '.join(POSE_FORMATS)}")
    path = Path(path)
    if not path.exists():
        raise PoseFormatError(f"{path}: no such file or folder")
    ki = READERS[fmt](path, fps)
    if len(ki.pose) < 2:
        raise PoseFormatError(f"{path}: {len(ki.pose)} frame(s); a set needs many")
    return ki
