"""Numpy rasteriser: five calibrated cameras looking at a FLEX-21 body drawn as shaded capsules, with the bar or
dumbbells, a bench where needed, a tiled floor and curtains. Vectorised over frames; small frames are fast.

Camera layout (paper Figure 2): a 5 m x 5 m room, cinema cameras View-1..View-4 at the four corners 1.9 m high,
View-1/View-2 the two front corners the subject faces; the phone View-5 sits beside View-1 at 1.2 m. Two extra
phone positions, not in the FLEX room, film straight from the front (``Phone-front``) and from the subject's left
(``Phone-side``): the views a single-camera coach is meant for.

The head carries a face (eyes, nose, mouth, ears) and hair on the crown and back, so a pose estimator can tell
which way the body faces (a bare sphere leaves front and back, hence left and right, ambiguous).
"""

from __future__ import annotations

import numpy as np

from flexaqa.data.schema import Camera, View
from flexaqa.skeleton import J
from flexaqa.timebase import CINEMA_FPS, PHONE_FPS

CAMERA_POSITIONS = {
    "View-1": (-2.4, 2.4, 1.9),
    "View-2": (2.4, 2.4, 1.9),
    "View-3": (2.4, -2.4, 1.9),
    "View-4": (-2.4, -2.4, 1.9),
    "View-5": (-1.9, 2.45, 1.2),
}
PHONE_POSITIONS = {"Phone-front": (0.0, 3.2, 1.2), "Phone-side": (-3.2, 0.0, 1.2)}  # outside the FLEX room
VFOV = {"cinema": 44.0, "phone": 48.0}  # vertical field of view (degrees), framed on the room's centre
LOOK_AT = np.array([0.0, 0.0, 1.05])

SKIN, SHIRT, SHORTS, SHOE, HAIR = (224, 172, 140), (40, 90, 170), (45, 45, 55), (240, 240, 240), (50, 35, 25)
METAL, PLATE, PAD = (190, 190, 200), (30, 30, 30), (120, 30, 30)
EYE, NOSE, MOUTH = (35, 25, 25), (205, 145, 115), (150, 60, 60)

# (joint a, joint b, radius m, colour)
BODY = [
    ("pelvis", "spine_shoulder", 0.13, SHIRT),
    ("right_hip", "left_hip", 0.1, SHORTS),
    ("right_shoulder", "left_shoulder", 0.075, SHIRT),
    ("neck", "spine_shoulder", 0.05, SKIN),
    ("head", "head", 0.105, SKIN),
    ("right_shoulder", "right_elbow", 0.05, SHIRT),
    ("left_shoulder", "left_elbow", 0.05, SHIRT),
    ("right_elbow", "right_wrist", 0.04, SKIN),
    ("left_elbow", "left_wrist", 0.04, SKIN),
    ("right_wrist", "right_hand", 0.035, SKIN),
    ("left_wrist", "left_hand", 0.035, SKIN),
    ("right_hip", "right_knee", 0.075, SHORTS),
    ("left_hip", "left_knee", 0.075, SHORTS),
    ("right_knee", "right_ankle", 0.055, SKIN),
    ("left_knee", "left_ankle", 0.055, SKIN),
    ("right_heel", "right_toe", 0.04, SHOE),
    ("left_heel", "left_toe", 0.04, SHOE),
]


def make_view(name: str, *, width: int, height: int, fps: float | None = None) -> View:
    """A calibrated :class:`View` of the simulated room (pinhole, no distortion)."""
    where = {**CAMERA_POSITIONS, **PHONE_POSITIONS}
    if name not in where:
        raise ValueError(f"unknown view {name!r}; the simulator has {', '.join(where)}")
    kind = "cinema" if name in CAMERA_POSITIONS and name != "View-5" else "phone"
    c = np.array(where[name])
    f = LOOK_AT - c
    f /= np.linalg.norm(f)
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    d = np.cross(f, r)
    R = np.stack([r, d, f])
    fx = height / 2 / np.tan(np.radians(VFOV[kind]) / 2)
    K = np.array([[fx, 0, width / 2], [0, fx, height / 2], [0, 0, 1]])
    fps = fps or (PHONE_FPS if kind == "phone" else CINEMA_FPS)
    return View(name, float(fps), int(width), int(height), kind, Camera(K, R, -R @ c))


def _background(cam: Camera, h: int, w: int) -> np.ndarray:
    """Static floor (tiles) and curtains ``(H, W, 3)`` float."""
    v, u = np.mgrid[0:h, 0:w] + 0.5
    rays = (
        np.stack([(u - cam.K[0, 2]) / cam.K[0, 0], (v - cam.K[1, 2]) / cam.K[1, 1], np.ones_like(u)], -1)
        @ cam.R
    )
    origin = -cam.R.T @ cam.t
    img = np.empty((h, w, 3))
    s = np.where(rays[..., 2] < -1e-6, -origin[2] / np.minimum(rays[..., 2], -1e-6), np.inf)
    hit = origin + rays * s[..., None]
    floor = np.isfinite(s) & (np.abs(hit[..., 0]) < 2.5) & (np.abs(hit[..., 1]) < 2.5)
    hit = np.nan_to_num(hit, posinf=0.0, neginf=0.0)
    tile = ((np.floor(hit[..., 0] / 0.5) + np.floor(hit[..., 1] / 0.5)) % 2)[..., None]
    img[:] = np.array([95, 110, 130]) * (0.85 + 0.15 * np.sin(u / 3.0))[..., None]  # curtain folds
    img = np.where(floor[..., None], np.array([150, 140, 120]) + 25 * tile, img)
    return img


def _capsules(joints: np.ndarray, equipment: str, load: float, bench: str | None):
    """``[(a (T,3), b (T,3), radius, colour)]`` for the body, the load and the bench."""
    T = len(joints)
    pts = {n: joints[:, J[n]] for n in J}
    pts["pelvis"] = 0.5 * (pts["right_hip"] + pts["left_hip"])
    caps = [(pts[a], pts[b], r, c) for a, b, r, c in BODY]
    caps[4] = (pts["head"], pts["head"] + np.array([0, 0, 0.01]), 0.105, SKIN)
    caps += _face(pts)
    rh, lh = pts["right_hand"], pts["left_hand"]
    axis = rh - lh
    axis /= np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-6)
    if equipment == "barbell":
        mid = 0.5 * (rh + lh)
        plate_r = float(np.clip(0.1 + 0.0012 * load, 0.12, 0.225))
        caps.append((mid - 1.0 * axis, mid + 1.0 * axis, 0.018, METAL))
        for s in (1, -1):
            caps.append((mid + s * 0.8 * axis, mid + s * 0.86 * axis, plate_r, PLATE))
    else:
        head_r = float(np.clip(0.04 + 0.002 * load, 0.045, 0.09))
        for hand in (rh, lh):
            caps.append(
                (hand - 0.13 * np.array([1.0, 0, 0]), hand + 0.13 * np.array([1.0, 0, 0]), 0.02, METAL)
            )
            for s in (1, -1):
                c = hand + s * 0.12 * np.array([1.0, 0, 0])
                caps.append(
                    (c - 0.03 * np.array([1.0, 0, 0]), c + 0.03 * np.array([1.0, 0, 0]), head_r, PLATE)
                )
    if bench:
        hip, ss = pts["pelvis"][0], pts["spine_shoulder"][0]
        down = np.array([0, 0, -0.16])

        def static(a, b, r, c):  # a capsule that does not move
            caps.append((np.repeat(a[None], T, 0), np.repeat(b[None], T, 0), r, c))

        def floor(x):
            return np.array([x[0], x[1], 0.03])

        if bench == "seat":
            seat = hip + down
            static(seat + np.array([0, 0.25, 0]), seat - np.array([0, 0.1, 0]), 0.07, PAD)
            back0 = hip + np.array([0, -0.18, 0.0])
            static(back0, back0 + (ss - hip) * 1.1, 0.06, PAD)
            static(seat, floor(seat), 0.04, METAL)
        else:
            a, b = hip + down + 0.35 * (hip - ss), ss + down + 0.45 * (ss - hip)
            static(a, b, 0.09, PAD)
            for e in (a, b):
                static(e, floor(e), 0.035, METAL)
    return caps


def _face(pts: dict) -> list:
    """Hair, eyes, nose, mouth and ears on the head sphere, oriented by the neck and the shoulders."""
    head = pts["head"]
    up = _norm(head - pts["neck"])  # (T, 3)
    fwd = _norm(np.cross(up, pts["right_shoulder"] - pts["left_shoulder"]))
    right = np.cross(fwd, up)

    def at(f, u, r):  # a point on the head: forward, up, right offsets (m)
        return head + f * fwd + u * up + r * right

    def dot(p, rad, col):  # a sphere (a capsule of length ~0)
        return (p, p + 0.002 * up, rad, col)

    out = [dot(at(-0.03, 0.025, 0.0), 0.1, HAIR)]  # crown and back: the face stays skin
    out += [dot(at(0.088, 0.025, s * 0.035), 0.016, EYE) for s in (1, -1)]
    out += [
        dot(at(0.103, -0.01, 0.0), 0.02, NOSE),
        (at(0.088, -0.045, -0.02), at(0.088, -0.045, 0.02), 0.01, MOUTH),
    ]
    out += [dot(at(0.0, 0.0, s * 0.1), 0.025, SKIN) for s in (1, -1)]
    return out


def _norm(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def render(
    joints: np.ndarray,
    view: View,
    *,
    equipment: str = "barbell",
    load: float = 40.0,
    bench: str | None = None,
    chunk: int = 64,
) -> np.ndarray:
    """Frames ``(T, H, W, 3)`` uint8 of ``joints`` ``(T, 21, 3)`` seen by ``view`` (one frame per pose row)."""
    cam = view.camera
    h, w = view.height, view.width
    bg = _background(cam, h, w)
    caps = _capsules(np.asarray(joints, float), equipment, load, bench)
    light = np.array([-0.5, -0.6])  # image-plane direction toward the light
    out = np.empty((len(joints), h, w, 3), np.uint8)
    fx = cam.K[0, 0]
    for s0 in range(0, len(joints), chunk):
        sl = slice(s0, min(s0 + chunk, len(joints)))
        n = sl.stop - sl.start
        zbuf = np.full((n, h, w), np.inf, np.float32)
        col = np.repeat(bg[None].astype(np.float32), n, 0)
        for a, b, r, color in caps:
            ca, cb = a[sl] @ cam.R.T + cam.t, b[sl] @ cam.R.T + cam.t  # (n, 3) camera coords
            if np.all(ca[:, 2] < 0.1) or np.all(cb[:, 2] < 0.1):
                continue
            za, zb = np.maximum(ca[:, 2], 0.1), np.maximum(cb[:, 2], 0.1)
            pa = ca[:, :2] / za[:, None] * fx + cam.K[:2, 2]
            pb = cb[:, :2] / zb[:, None] * fx + cam.K[:2, 2]
            rp = np.maximum(fx * r / np.minimum(za, zb), 0.7)  # (n,) pixel radius
            lo = np.floor(np.minimum(pa, pb).min(0) - rp.max()).astype(int)
            hi = np.ceil(np.maximum(pa, pb).max(0) + rp.max()).astype(int)
            x0, y0 = max(lo[0], 0), max(lo[1], 0)
            x1, y1 = min(hi[0] + 1, w), min(hi[1] + 1, h)
            if x1 <= x0 or y1 <= y0:
                continue
            ys, xs = (np.mgrid[y0:y1, x0:x1] + 0.5).astype(np.float32)
            pa32, ab = pa.astype(np.float32), (pb - pa).astype(np.float32)
            dx = xs[None] - pa32[:, 0, None, None]  # (n, h', w')
            dy = ys[None] - pa32[:, 1, None, None]
            ax, ay = ab[:, 0, None, None], ab[:, 1, None, None]
            t = np.clip((dx * ax + dy * ay) / np.maximum(ax * ax + ay * ay, 1e-9), 0, 1)
            ex, ey = dx - t * ax, dy - t * ay
            rr = rp.astype(np.float32)[:, None, None]
            d2 = (ex * ex + ey * ey) / (rr * rr)
            k, iy, ix = np.nonzero(d2 < 1)  # only pixels the capsule covers
            if not k.size:
                continue
            iy, ix = iy + y0, ix + x0
            d2, tk = d2[k, iy - y0, ix - x0], t[k, iy - y0, ix - x0]
            q = np.sqrt(1 - d2)
            depth = za[k] + tk * (zb - za)[k] - r * q
            win = depth < zbuf[k, iy, ix]
            k, iy, ix, q = k[win], iy[win], ix[win], q[win]
            zbuf[k, iy, ix] = depth[win]
            # shading: facing ratio q lights the capsule's middle; the lit side follows the light's image direction
            side = (ex[k, iy - y0, ix - x0] * light[0] + ey[k, iy - y0, ix - x0] * light[1]) / rp[k]
            shade = 0.5 + 0.45 * q + 0.1 * np.clip(side, -1, 1)
            col[k, iy, ix] = shade[:, None] * np.asarray(color, np.float32)
        out[sl] = np.clip(col, 0, 255).astype(np.uint8)
    return out
