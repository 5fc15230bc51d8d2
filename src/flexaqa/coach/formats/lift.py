"""2D keypoints of one camera -> the coach's FLEX-21 pose: follow the lifter, read the view, scale to metres.

A 2D keypoint file has no depth and no scale. :func:`lift_2d` puts the joints in the image plane at one scale
for the whole sequence (metres per pixel from the body's proportions, ``body`` in ``formats.yaml``: the median
over limbs and torso sides of the nominal bone length over the bone's 90th-percentile image length, the same
rule as :func:`flexaqa.coach.pose.sequence_scale`), with the image's x to the right and its y up as +z. The view
comes from the 2D proportions (:func:`view_from_2d`): the shoulders' and hips' apparent width against their
nominal width gives how far the body is turned from the camera, ``|cos yaw|``. Depth is never estimated from the
picture: the left and right joints of a limb chain get the lateral offset their nominal width and that yaw imply
(so the body's left-right axis, which every feature's body frame needs, points the right way), everything else
lies in the image plane. What needs real depth is not measurable from that view, exactly as for video
(:mod:`flexaqa.pose_rules.calibration`).
"""

from __future__ import annotations

import itertools

import numpy as np

from flexaqa.coach.pose import far_side_visibility
from flexaqa.pose_rules.sequence import PoseSequence
from flexaqa.skeleton import FLEX21_JOINTS, J

FRONT_YAW, SIDE_YAW = 20.0, 60.0  # the same cut-offs as flexaqa.coach.pose.detect_view


def _centre_size(kp: np.ndarray) -> tuple[np.ndarray, float]:
    ok = np.isfinite(kp).all(-1)
    if not ok.any():
        return np.array([np.nan, np.nan]), 0.0
    p = kp[ok]
    lo, hi = p.min(0), p.max(0)
    return 0.5 * (lo + hi), float(np.linalg.norm(hi - lo))


def _lifter_weight(tr: dict) -> float:
    """frames x median size x mean confidence / (1 + spread of the centre in body sizes): a large person in view
    throughout who stays at one spot, not a nearer one walking through."""
    c = np.array([o[0] for o in tr["obs"]])
    size = float(np.median([o[1] for o in tr["obs"]]))
    spread = float(np.linalg.norm(c.std(axis=0))) / max(size, 1e-9)
    return len(tr["obs"]) * size * float(np.mean([o[2] for o in tr["obs"]])) / (1.0 + 4.0 * spread)


def follow_lifter(
    people: list[list[tuple[np.ndarray, np.ndarray]]], *, max_move: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Pick and follow the lifter among several people per frame.

    ``people[t]`` lists ``(keypoints (K, 2), confidence (K,))`` per person (NaN for undetected keypoints).
    People are linked frame to frame into tracks (nearest centre within ``max_move`` of the person's size,
    over gaps up to 5 frames); the track seen longest, largest and most still (:func:`_lifter_weight`: the
    lifter, not someone crossing the picture) gives the lifter's spot and size;
    then every frame takes the person of that size (0.7-1.4×) nearest that spot, so a passer-by walking in
    front, which breaks the tracks, is never taken for the lifter. Returns
    ``(kp (T, K, 2), conf (T, K), present (T,), note)``; ``note`` says how many frames held several people
    and what was chosen (empty with one person at most)."""
    n = len(people)
    k = next((p[0].shape[0] for ps in people for p in ps), 0)
    tracks: list[dict] = []  # {"frames": {t: person index}, "last": t, "centre": c, "size": s, "weight": w}
    for t, ps in enumerate(people):
        taken: set[int] = set()
        cands = []
        for kp, conf in ps:
            c, s = _centre_size(kp)
            cands.append(
                (c, s, float(np.nanmean(np.where(np.isfinite(kp).all(-1), conf, np.nan))) if s else 0.0)
            )
        pairs = []
        for ti, tr in enumerate(tracks):
            if t - tr["last"] > 5:
                continue
            for i, (c, s, _) in enumerate(cands):
                if s <= 0:
                    continue
                d = float(np.linalg.norm(c - tr["centre"])) / max(tr["size"], s, 1e-6)
                if d <= max_move:
                    pairs.append((d, ti, i))
        used_tracks: set[int] = set()
        for _d, ti, i in sorted(pairs):
            if ti in used_tracks or i in taken:
                continue
            tr = tracks[ti]
            c, s, q = cands[i]
            tr["frames"][t] = i
            tr.update(last=t, centre=c, size=s)
            tr["obs"].append((c, s, q))
            used_tracks.add(ti)
            taken.add(i)
        for i, (c, s, q) in enumerate(cands):
            if i not in taken and s > 0:
                tracks.append({"frames": {t: i}, "last": t, "centre": c, "size": s, "obs": [(c, s, q)]})
    kp_out = np.full((n, k, 2), np.nan)
    conf_out = np.zeros((n, k))
    present = np.zeros(n, bool)
    if not tracks:
        return kp_out, conf_out, present, ""
    best = max(tracks, key=_lifter_weight)
    # the lifter stays at one spot: in every frame take the person nearest the best track's median position
    # and of its median size, so a passer-by crossing in front (and breaking the track) does not take over
    cs = [_centre_size(people[t][i][0]) for t, i in best["frames"].items()]
    anchor = np.median([c for c, _ in cs], axis=0)
    size = float(np.median([s for _, s in cs]))
    chosen = 0
    for t, ps in enumerate(people):
        best_i, best_d = None, np.inf
        for i, (kp, _conf) in enumerate(ps):
            c, s = _centre_size(kp)
            if s <= 0 or not 0.7 <= s / size <= 1.4:
                continue
            d = float(np.linalg.norm(c - anchor)) / size
            if d <= max_move and d < best_d:
                best_i, best_d = i, d
        if best_i is not None:
            kp_out[t], conf_out[t] = ps[best_i]
            present[t] = True
            chosen += 1
    several = sum(len([p for p in ps if _centre_size(p[0])[1] > 0]) > 1 for ps in people)
    note = ""
    if several:
        note = (
            f"several people in {several} of {n} frames: followed the lifter (the person of the lifter's size "
            f"nearest the spot where the largest, longest-seen person stands; {chosen} frames) and ignored the "
            "others"
        )
    return kp_out, conf_out, present, note


def _bone_scale(px: np.ndarray, vis: np.ndarray, body: dict, *, q: float = 90.0) -> float:
    """Metres per pixel: median over limbs and torso sides of nominal length / ``q``-th percentile image length."""
    bones = {
        "upper_arm": ("shoulder", "elbow"),
        "forearm": ("elbow", "wrist"),
        "thigh": ("hip", "knee"),
        "shin": ("knee", "ankle"),
        "torso_side": ("shoulder", "hip"),
    }
    ratios = []
    for key, (a, b) in bones.items():
        for s in ("left", "right"):
            ia, ib = J[f"{s}_{a}"], J[f"{s}_{b}"]
            ok = (vis[:, ia] >= 0.3) & (vis[:, ib] >= 0.3)
            if ok.sum() < 5:
                continue
            li = np.nanpercentile(np.linalg.norm(px[ok, ia] - px[ok, ib], axis=-1), q)
            if np.isfinite(li) and li > 1e-6:
                ratios.append(body[key] / li)
    return float(np.median(ratios)) if ratios else float("nan")


def view_from_2d(px: np.ndarray, vis: np.ndarray, scale: float, body: dict) -> tuple[str, float, float]:
    """``(view, yaw degrees, facing)`` from 2D proportions: ``|cos yaw|`` is the median apparent width of the
    shoulders and hips (pixels × ``scale``) over their nominal width; ``facing`` is +1 when the body faces the
    image's right, -1 its left (from the nose ahead of the ears, or the toes ahead of the heels), 0 unknown."""
    widths = []
    for a, w in (("shoulder", body["shoulder_width"]), ("hip", body["hip_width"])):
        il, ir = J[f"left_{a}"], J[f"right_{a}"]
        ok = (vis[:, il] >= 0.3) & (vis[:, ir] >= 0.3)
        if ok.sum():
            widths.append(np.abs(px[ok, ir, 0] - px[ok, il, 0]) * scale / w)
    if not widths:
        return "oblique", float("nan"), 0.0
    c = float(np.clip(np.nanmedian(np.concatenate(widths)), 0.0, 1.0))
    yaw = float(np.degrees(np.arccos(c)))
    view = "front" if yaw < FRONT_YAW else ("side" if yaw > SIDE_YAW else "oblique")
    return view, yaw, _facing(px, vis)


def _facing(px: np.ndarray, vis: np.ndarray) -> float:
    votes = []
    for s in ("left", "right"):
        h, t = J[f"{s}_heel"], J[f"{s}_toe"]
        ok = (vis[:, h] >= 0.3) & (vis[:, t] >= 0.3)
        if ok.any():
            votes.append(np.nanmedian(px[ok, t, 0] - px[ok, h, 0]))
    head, neck = J["head"], J["spine_shoulder"]
    if not votes:  # no feet: the knees bend forward, the head sits ahead of the shoulders' line
        for s in ("left", "right"):
            hip, knee, ank = J[f"{s}_hip"], J[f"{s}_knee"], J[f"{s}_ankle"]
            ok = (vis[:, [hip, knee, ank]] >= 0.3).all(-1)
            if ok.any():
                mid = 0.5 * (px[ok, hip, 0] + px[ok, ank, 0])
                votes.append(np.nanmedian(px[ok, knee, 0] - mid))
        ok = (vis[:, head] >= 0.3) & (vis[:, neck] >= 0.3)
        if ok.any():
            votes.append(np.nanmedian(px[ok, head, 0] - px[ok, neck, 0]))
    v = float(np.nansum(np.sign(votes))) if votes else 0.0
    return float(np.sign(v))


def _fill_joint_gaps(x: np.ndarray, vis: np.ndarray, t: np.ndarray, max_gap: float) -> None:
    """Per joint, interpolate runs of NaN up to ``max_gap`` s between detected frames (in place; the filled
    frames get 0.8 × the smaller neighbouring visibility)."""
    for j in range(x.shape[1]):
        ok = np.isfinite(x[:, j]).all(-1)
        if ok.all() or ok.sum() < 2:
            continue
        idx = np.flatnonzero(ok)
        for a, b in itertools.pairwise(idx):
            if b - a > 1 and t[b] - t[a] <= max_gap:
                w = ((t[a + 1 : b] - t[a]) / (t[b] - t[a]))[:, None]
                x[a + 1 : b, j] = (1 - w) * x[a, j] + w * x[b, j]
                vis[a + 1 : b, j] = 0.8 * min(vis[a, j], vis[b, j])


_MIRROR = [
    J[n.replace("left_", "right_") if "left_" in n else n.replace("right_", "left_")] for n in FLEX21_JOINTS
]


def lift_2d(
    px: np.ndarray,
    vis: np.ndarray,
    present: np.ndarray,
    t: np.ndarray,
    body: dict,
    *,
    image_size: tuple[int, int] | None = None,
    source: str = "",
    max_gap: float = 0.25,
) -> tuple[PoseSequence, dict]:
    """FLEX-21 pixel coordinates ``px (T, 21, 2)`` (NaN where unknown, y down) with visibility ``(T, 21)`` ->
    ``(PoseSequence, info)``; ``info`` holds ``view``, ``yaw``, ``facing``, ``scale`` (m per pixel),
    ``image_size`` and whether it was estimated from the keypoints' extent (2D files rarely carry it).

    Per joint, short gaps (dropped keypoints) are interpolated up to ``max_gap`` s. From a side view a far-side
    joint the estimator did not find takes its near-side mirror's position, and every far-side joint at least
    0.75 × its mirror's visibility (flag ``far_side``), as the video path does for MediaPipe's hidden far limbs
    (:func:`flexaqa.coach.pose.far_side_visibility`); in a bilateral exercise they move together."""
    px = np.array(px, float)
    vis = np.array(vis, float)
    t = np.asarray(t, float)
    vis = np.where(np.isfinite(px).all(-1), vis, 0.0)
    _fill_joint_gaps(px, vis, t, max_gap)
    estimated = image_size is None
    if estimated:
        hi = np.nanmax(px.reshape(-1, 2), axis=0) if np.isfinite(px).any() else np.array([1.0, 1.0])
        image_size = (int(np.ceil(hi[0] * 1.05)) + 1, int(np.ceil(hi[1] * 1.05)) + 1)
    scale = _bone_scale(px, vis, body)
    if not np.isfinite(scale):
        scale = 1.0 / max(image_size[1], 1)  # no bone seen: one image height = 1 m; no person anyway
    view, yaw, facing = view_from_2d(px, vis, scale, body)
    far = np.zeros(len(t), bool)
    if view == "side":
        miss = (vis < 0.3) & (vis[:, _MIRROR] >= 0.3)
        miss[:, [J["head"], J["neck"], J["spine_shoulder"]]] = False
        px = np.where(miss[..., None], px[:, _MIRROR], px)
        vis, raised = far_side_visibility(np.where(miss, 0.0, vis))
        far = (miss.any(axis=1) | raised) & present
    joints = np.zeros((len(t), len(FLEX21_JOINTS), 3))
    joints[..., 0] = px[..., 0] * scale
    joints[..., 2] = -px[..., 1] * scale
    # lateral offsets: the body's right axis is (rx, ry) with |rx| = cos yaw from the image, ry = -facing sin yaw
    ry = -facing * np.sin(np.radians(yaw)) if np.isfinite(yaw) else 0.0
    for j, name in enumerate(FLEX21_JOINTS):
        side = 1.0 if name.startswith("right_") else (-1.0 if name.startswith("left_") else 0.0)
        w = (
            body["hip_width"]
            if any(p in name for p in ("hip", "knee", "ankle", "heel", "toe"))
            else body["shoulder_width"]
        )
        joints[:, j, 1] = side * 0.5 * w * ry
    with np.errstate(all="ignore"):
        floor = np.nanmax(np.where(np.isfinite(px[..., 1]), px[..., 1], -np.inf), axis=1)  # (T,) lowest point
    floor = floor[np.isfinite(floor)]
    if floor.size:
        joints[..., 2] += np.median(floor) * scale  # the lowest point's median height at z = 0
    joints[vis <= 0] = np.nan
    joints[~present] = np.nan
    img = px / np.asarray(image_size, float)
    seq = PoseSequence(t, joints, vis, present, img, tuple(image_size), {"far_side": far}, source)
    info = {
        "view": view,
        "yaw": None if not np.isfinite(yaw) else round(yaw, 1),
        "facing": facing,
        "scale_m_per_px": scale,
        "image_size": list(image_size),
        "image_size_estimated": estimated,
    }
    return seq, info
