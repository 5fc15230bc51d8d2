"""FLEX-21 motion for the 20 exercises: a small parametric body, per-action joint-angle/target programs and
forward kinematics that keeps every bone length constant.

World frame: metres, +z up, the subject faces +y with +x on their right, the floor is z = 0.
Trunk frame: ``x_t`` right, ``y_t`` the face direction, ``z_t`` along the spine; ``pitch`` leans the trunk forward
(90 = horizontal face down, -90 = supine face up).

An action's motion is driven by a progress signal ``p(t)``: 0 is the rest position a repetition starts from,
1 the turning point. Each :class:`Program` gives the degrees of freedom at p = 0 and p = 1; error knobs
(:mod:`flexaqa.synth.errors`) add per-frame offsets to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flexaqa.skeleton import NUM_JOINTS, J

Vec = tuple[float, float, float]


@dataclass(frozen=True)
class Program:
    """How one exercise moves. Arm triples depend on ``arm_mode``:

    - ``"angles"``: (plane, elevation, elbow flexion) degrees; plane 0 = frontal, 90 = forward, -90 = backward;
      elevation 0 = arm down, 90 = horizontal; ``pointer`` (trunk frame) is where the forearm bends to.
    - ``"trunk"``: wrist target relative to the shoulder in the trunk frame, in arm lengths (x outward);
      ``pointer`` is the elbow pole.
    """

    posture: str  # "stand" | "supine" | "seated" | "bent"
    pitch: tuple[float, float]  # trunk pitch (deg) at p=0, p=1
    pelvis: tuple[tuple[float, float], tuple[float, float]]  # (dy, dz) in leg lengths at p=0, p=1
    arm_mode: str
    arm: tuple[Vec, Vec]
    pointer: Vec
    stance: float = 0.16  # ankle half-width (m at 1.75 m stature)
    primary: str = "wrist"  # coordinate whose height traces the repetition: "wrist" | "hip"
    bench: str | None = None  # "flat" | "incline" | "decline" | "seat"
    rigid_arm: bool = False  # trunk targets: keep the wrist distance at the end points' (straight arms)


_ANG, _TR = "angles", "trunk"
_BENCH_ARMS = ((0.15, 0.97, -0.05), (0.22, 0.12, -0.22))
_ROW = dict(posture="bent", arm_mode=_TR, primary="wrist")

PROGRAMS: dict[str, Program] = {
    "standing-barbell-overhead-press": Program(  # AK03: bar above the clavicles, forearms vertical under it
        "stand", (2, 0), ((0, 0), (0, 0)), _TR, ((0.12, 0.44, 0.1), (0.12, 0.04, 0.995)), (0.15, 0.3, -1.0)
    ),
    "barbell-biceps-curl": Program(
        "stand", (0, 0), ((0, 0), (0, 0)), _ANG, ((90, 4, 10), (90, 12, 140)), (0, 1, 0)
    ),
    "barbell-upright-row": Program(  # AK02: hands slightly wider than shoulder-width, kept on the bar
        "stand", (3, 3), ((0, 0), (0, 0)), _TR, ((0.08, 0.16, -0.955), (0.08, 0.24, -0.13)), (0.8, 0.0, 0.6)
    ),
    "dumbbell-front-raise": Program(
        "stand", (0, 0), ((0, 0), (0, 0)), _ANG, ((90, 5, 10), (90, 90, 12)), (0, 1, 0.5)
    ),
    "dumbbell-biceps-curl": Program(
        "stand", (0, 0), ((0, 0), (0, 0)), _ANG, ((90, 4, 10), (90, 10, 140)), (0, 1, 0)
    ),
    "dumbbell-lateral-raise": Program(
        "stand", (0, 0), ((0, 0), (0, 0)), _ANG, ((0, 8, 15), (0, 88, 15)), (0, 1, 0)
    ),
    "bent-over-dumbbell-reverse-fly": Program(  # AK21: torso about 40 deg to the ground = 50 deg from vertical
        "bent", (50, 50), ((-0.12, -0.06), (-0.12, -0.06)), _ANG, ((90, 70, 15), (0, 90, 15)), (0, 1, 0)
    ),
    "flat-barbell-bench-press": Program(
        "supine", (-90, -90), ((0, 0), (0, 0)), _TR, _BENCH_ARMS, (0.8, -0.3, -0.5), bench="flat"
    ),
    "incline-barbell-bench-press": Program(
        "supine", (-60, -60), ((0, 0), (0, 0)), _TR, _BENCH_ARMS, (0.8, -0.3, -0.5), bench="incline"
    ),
    "decline-barbell-bench-press": Program(
        "supine", (-105, -105), ((0, 0), (0, 0)), _TR, _BENCH_ARMS, (0.8, -0.3, -0.5), bench="decline"
    ),
    "flat-dumbbell-bench-press": Program(  # AK31: press "until the arms are extended" (elbows ~170 deg)
        "supine",
        (-90, -90),
        ((0, 0), (0, 0)),
        _TR,
        ((0.3, 0.14, -0.15), (0.1, 0.99, 0.0)),
        (0.8, -0.3, -0.4),
        bench="flat",
    ),
    "incline-dumbbell-bench-press": Program(
        "supine",
        (-60, -60),
        ((0, 0), (0, 0)),
        _TR,
        ((0.3, 0.14, -0.15), (0.1, 0.99, 0.0)),
        (0.8, -0.3, -0.4),
        bench="incline",
    ),
    "dumbbell-fly": Program(
        "supine", (-90, -90), ((0, 0), (0, 0)), _ANG, ((90, 90, 15), (-5, 90, 25)), (0, 0.3, 1), bench="flat"
    ),
    "seated-dumbbell-shoulder-press": Program(
        "seated",
        (-8, -8),
        ((0, 0), (0, 0)),
        _TR,
        ((0.4, 0.05, 0.1), (0.1, 0.05, 0.98)),
        (1, -0.1, -0.5),
        bench="seat",
    ),
    "deadlift": Program(  # AK40/AK41: shoulders just ahead of a bar over mid-foot, shins close to it, arms straight
        "bent",
        (55, 2),
        ((-0.42, -0.27), (0, 0)),
        _TR,
        ((0.05, 0.80, -0.55), (0.05, 0.02, -0.97)),
        (0.3, -0.5, 0),
        stance=0.15,
        primary="hip",
        rigid_arm=True,
    ),
    "squat": Program(  # AK44: thigh-calf angle slightly below 90 deg at the bottom
        "stand",
        (6, 42),
        ((0, 0), (-0.2, -0.38)),
        _TR,
        ((0.42, -0.16, 0.05), (0.42, -0.16, 0.05)),
        (0.3, -0.5, -1),
        stance=0.23,
        primary="hip",
    ),
    "barbell-bent-over-row": Program(
        pitch=(60, 60),
        pelvis=((-0.14, -0.1), (-0.14, -0.1)),
        arm=((0.06, 0.83, -0.48), (0.1, 0.28, -0.36)),
        pointer=(0.3, -0.9, -0.2),
        **_ROW,
    ),
    "t-bar-row": Program(
        pitch=(45, 45),
        pelvis=((-0.12, -0.12), (-0.12, -0.12)),
        arm=((-0.12, 0.7, -0.68), (-0.1, 0.3, -0.4)),
        pointer=(0.3, -0.9, -0.2),
        **_ROW,
    ),
    "dumbbell-bent-over-row": Program(  # AK52: the descent ends "with the arms fully extended" (elbows ~170 deg)
        pitch=(65, 65),
        pelvis=((-0.14, -0.1), (-0.14, -0.1)),
        arm=((0.04, 0.9, -0.43), (0.08, 0.2, -0.4)),
        pointer=(0.1, -0.9, -0.3),
        **_ROW,
    ),
    "dumbbell-bent-over-triceps-extension": Program(
        "bent", (60, 60), ((-0.14, -0.1), (-0.14, -0.1)), _ANG, ((-90, 15, 95), (-90, 25, 5)), (0, 0.87, -0.5)
    ),
}

BENCH_TOP = 0.45  # m, flat bench pad height


def _rot(axis: np.ndarray, angle_deg: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` (T, 3) about unit ``axis`` (T, 3) by ``angle_deg`` (T,) (Rodrigues)."""
    a = np.radians(angle_deg)[:, None]
    c, s = np.cos(a), np.sin(a)
    return v * c + np.cross(axis, v) * s + axis * np.sum(axis * v, -1, keepdims=True) * (1 - c)


def _unit(v: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    out = v / np.maximum(n, 1e-9)
    if fallback is not None:
        out = np.where(n > 1e-6, out, fallback)
    return out


def two_link_ik(root, target, l1: float, l2: float, pole):
    """Middle and end joints of a two-bone chain reaching for ``target`` with the middle joint toward ``pole``.

    All inputs ``(T, 3)``; unreachable targets are clamped so both bones keep their lengths exactly.
    """
    d = target - root
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    dhat = d / np.maximum(dist, 1e-9)
    dist = np.clip(dist, abs(l1 - l2) + 1e-3, (l1 + l2) * 0.9999)
    a = (l1**2 - l2**2 + dist**2) / (2 * dist)
    h = np.sqrt(np.maximum(l1**2 - a**2, 0.0))
    pp = pole - np.sum(pole * dhat, -1, keepdims=True) * dhat
    alt = np.cross(dhat, np.array([1.0, 0.0, 0.0]))
    pp = _unit(pp, _unit(alt, np.array([0.0, 0.0, 1.0])))
    return root + a * dhat + h * pp, root + dist * dhat


def _lerp(a, b, p):
    return np.asarray(a, float) + (np.asarray(b, float) - np.asarray(a, float)) * p


def trunk_frame(pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(T, 3, 3)`` whose columns are the trunk axes x_t, y_t, z_t in world coordinates."""
    th, ph = np.radians(pitch), np.radians(roll)
    z = np.stack([np.zeros_like(th), np.sin(th), np.cos(th)], -1)
    y = np.stack([np.zeros_like(th), np.cos(th), -np.sin(th)], -1)
    x = np.broadcast_to(np.array([1.0, 0.0, 0.0]), z.shape)
    c, s = np.cos(ph)[:, None], np.sin(ph)[:, None]
    x, z = x * c - z * s, z * c + x * s  # roll about y_t: the head moves toward +x for positive roll
    return np.stack([x, y, z], -1)


def _k(knobs: dict, name: str, n: int) -> np.ndarray:
    v = knobs.get(name)
    return np.zeros(n) if v is None else np.asarray(v, float)


def pelvis_base(prog: Program, seg: dict, stance: float) -> np.ndarray:
    """Hip-centre position at p = 0 with no offsets, for the program's posture."""
    leg = seg["thigh"] + seg["shank"]
    if prog.posture in ("stand", "bent"):
        lat = max(stance - seg["hip_half"], 0.0)
        return np.array([0.0, 0.0, seg["ankle_h"] + np.sqrt((0.985 * leg) ** 2 - lat**2)])
    if prog.bench == "seat":
        return np.array([0.0, 0.0, 0.52])
    z = {"flat": BENCH_TOP + 0.1, "incline": BENCH_TOP + 0.12, "decline": BENCH_TOP + 0.2}[
        prog.bench or "flat"
    ]
    return np.array([0.0, 0.0, z])


def ankle_base(prog: Program, seg: dict, stance: float) -> tuple[np.ndarray, np.ndarray]:
    """Right and left ankle positions (standing feet are flat on the floor)."""
    h = seg["ankle_h"]
    if prog.posture in ("stand", "bent"):
        y = 0.0
    elif prog.bench == "decline":
        return np.array([0.15, 0.55, 0.3]), np.array([-0.15, 0.55, 0.3])
    else:
        y = 0.42 if prog.bench != "seat" else 0.4
        stance = max(stance, 0.25)
    return np.array([stance, y, h]), np.array([-stance, y, h])


def _arm(prog, seg, side, shoulder, R, p, knobs, n):
    """Elbow and wrist ``(T, 3)`` of one arm (side +1 right, -1 left)."""
    l1, l2 = seg["upper_arm"], seg["forearm"]
    # knobs ending in "_l" act on the left arm only (uneven arms); the plain knob acts on both
    only_l = (lambda name: _k(knobs, name + "_l", n)) if side < 0 else (lambda name: np.zeros(n))
    a0, a1 = np.asarray(prog.arm[0], float), np.asarray(prog.arm[1], float)
    q = _lerp(a0, a1, p[:, None])  # (T, 3)
    ptr = np.array(prog.pointer, float) * np.array([side, 1.0, 1.0])
    if prog.arm_mode == "angles":
        beta = q[:, 0] + _k(knobs, "arm_plane", n)
        gam = q[:, 1] + _k(knobs, "arm_elev", n) + only_l("arm_elev")
        eps = np.clip(q[:, 2] + _k(knobs, "elbow", n), 0, 150)
        b, g = np.radians(beta), np.radians(gam)
        u = np.stack([side * np.sin(g) * np.cos(b), np.sin(g) * np.sin(b), -np.cos(g)], -1)
        f = ptr - np.sum(ptr * u, -1, keepdims=True) * u
        f = _unit(f, np.array([0.0, 1.0, 0.0]))
        e = np.radians(eps)[:, None]
        fore = np.cos(e) * u + np.sin(e) * f
        # whole-arm rotations: abduction about y_t (outward), flexion about x_t (forward)
        ex, ey = np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]])
        abd = _k(knobs, "arm_abd", n) + np.degrees(_k(knobs, "grip", n) / (l1 + l2))
        u, fore = (_rot(np.repeat(ey, n, 0), -side * abd, v) for v in (u, fore))
        fwd = _k(knobs, "arm_fwd", n)
        u, fore = (_rot(np.repeat(ex, n, 0), fwd, v) for v in (u, fore))  # positive swings the arm forward
        elbow = shoulder + l1 * np.einsum("tij,tj->ti", R, u)
        wrist = elbow + l2 * np.einsum("tij,tj->ti", R, fore)
        shift = _k(knobs, "wrist_y", n)[:, None] * R[:, :, 1] + only_l("wrist_z")[:, None] * R[:, :, 2]
        if np.any(shift):  # translate the whole arm chain's target and re-solve with IK to keep lengths
            elbow, wrist = two_link_ik(shoulder, wrist + shift, l1, l2, elbow - shoulder)
        return elbow, wrist
    t = q * (l1 + l2)
    if prog.rigid_arm:  # the straight-line blend of two directions is shorter than either: restore the length
        reach = _lerp(np.linalg.norm(a0), np.linalg.norm(a1), p)
        t = t * (reach / np.maximum(np.linalg.norm(q, axis=-1), 1e-9))[:, None]
    t = t * (1 - _k(knobs, "elbow", n) / 200)[:, None]
    t[:, 0] = t[:, 0] * side + side * _k(knobs, "grip", n)
    target = shoulder + np.einsum("tij,tj->ti", R, t)
    target = target + _k(knobs, "wrist_y", n)[:, None] * np.array([0, 1.0, 0])
    target[:, 2] += _k(knobs, "wrist_z", n) + only_l("wrist_z")
    pole = np.einsum("tij,j->ti", R, ptr)
    flare = _k(knobs, "flare", n)
    if np.any(flare):
        axis = _unit(target - shoulder)
        pole = _rot(axis, -side * flare, pole)  # positive flare swings the elbows out to the sides
    return two_link_ik(shoulder, target, l1, l2, pole)


def _hand(wrist, elbow, R, side, knobs, n, seg):
    """Knuckle centre: the hand bends ``hand_angle`` toward the palm, which ``palm`` rotates about the forearm."""
    f = _unit(wrist - elbow)
    ref = R[:, :, 1]
    nrm = _unit(ref - np.sum(ref * f, -1, keepdims=True) * f, R[:, :, 2])
    nrm = _rot(f, side * _k(knobs, "palm", n), nrm)
    a = np.radians(20.0 + _k(knobs, "hand_angle", n))[:, None]
    return wrist + seg["hand"] * (np.cos(a) * f + np.sin(a) * nrm)


def pose(prog: Program, seg: dict, p: np.ndarray, knobs: dict | None = None) -> np.ndarray:
    """FLEX-21 joints ``(T, 21, 3)`` for progress ``p`` ``(T,)`` and per-frame error knobs (name -> ``(T,)``).

    ``p`` may be a dict with ``"arm"``, ``"arm_l"`` and ``"body"`` entries when parts move out of step
    (uneven arms, hips leading the bar).
    """
    knobs = knobs or {}
    pa = p if not isinstance(p, dict) else p["arm"]
    n = len(pa)
    pb = p.get("body", pa) if isinstance(p, dict) else pa
    pal = p.get("arm_l", pa) if isinstance(p, dict) else pa
    scale = (seg["thigh"] + seg["shank"] + seg["torso"]) / 0.79 / 1.75
    stance = prog.stance * scale + _k(knobs, "stance", n)
    pitch = _lerp(*prog.pitch, pb) + _k(knobs, "pitch", n)
    R = trunk_frame(pitch, _k(knobs, "roll", n))  # (T, 3, 3)
    leg = seg["thigh"] + seg["shank"]
    d = _lerp(prog.pelvis[0], prog.pelvis[1], pb[:, None]) * leg  # (T, 2)
    pelvis = pelvis_base(prog, seg, float(np.mean(stance))) + np.stack(
        [np.zeros(n), d[:, 0] + _k(knobs, "pelvis_y", n), d[:, 1] + _k(knobs, "pelvis_z", n)], -1
    )
    pelvis = pelvis + _k(knobs, "pelvis_up", n)[:, None] * R[:, :, 1]
    X, Y, Z = R[:, :, 0], R[:, :, 1], R[:, :, 2]
    out = np.zeros((n, NUM_JOINTS, 3))
    ss = pelvis + seg["torso"] * Z
    out[:, J["spine_shoulder"]] = ss
    neck_a = np.radians(8.0 + _k(knobs, "neck", n))[:, None]
    ndir = np.cos(neck_a) * Z + np.sin(neck_a) * Y
    out[:, J["neck"]] = ss + seg["neck"] * ndir
    head_a = np.radians(12.0 + 1.3 * _k(knobs, "neck", n))[:, None]
    out[:, J["head"]] = out[:, J["neck"]] + seg["head"] * (np.cos(head_a) * Z + np.sin(head_a) * Y)
    elev = np.radians(4.0 + _k(knobs, "shoulder_elev", n))[:, None]
    prot = np.radians(_k(knobs, "shoulder_fwd", n))[:, None]
    for side, name in ((1, "right"), (-1, "left")):
        cdir = np.cos(elev) * np.cos(prot) * side * X + np.sin(elev) * Z + np.cos(elev) * np.sin(prot) * Y
        sh = ss + seg["clavicle"] * cdir
        out[:, J[f"{name}_shoulder"]] = sh
        elbow, wrist = _arm(prog, seg, side, sh, R, pa if side > 0 else pal, knobs, n)
        out[:, J[f"{name}_elbow"]] = elbow
        out[:, J[f"{name}_wrist"]] = wrist
        out[:, J[f"{name}_hand"]] = _hand(wrist, elbow, R, side, knobs, n, seg)
        hip = pelvis + side * seg["hip_half"] * X
        out[:, J[f"{name}_hip"]] = hip
        ank0 = ankle_base(prog, seg, 0.0)[0 if side > 0 else 1]
        ank = np.repeat(ank0[None], n, 0)
        ank[:, 0] = side * (abs(ank0[0]) if prog.posture not in ("stand", "bent") else stance)
        heel_back, toe_fwd = 0.25 * seg["foot"], 0.75 * seg["foot"]
        toe = ank + np.stack([np.zeros(n), np.full(n, toe_fwd), -np.full(n, seg["ankle_h"])], -1)
        lift = -np.radians(_k(knobs, "heel", n))  # heel rotates up about the toe
        rel = np.stack([np.zeros(n), -np.full(n, toe_fwd), np.full(n, seg["ankle_h"])], -1)  # toe -> ankle
        c, s = np.cos(lift), np.sin(lift)
        rel = np.stack([rel[:, 0], rel[:, 1] * c - rel[:, 2] * s, rel[:, 1] * s + rel[:, 2] * c], -1)
        ank = toe + rel
        valg = np.radians(_k(knobs, "valgus", n))
        if prog.posture in ("stand", "bent"):
            pole = np.stack([-side * np.sin(valg), np.cos(valg), np.zeros(n)], -1)
        else:
            pole = np.stack([-side * np.sin(valg) + side * 0.2, np.full(n, 0.4), np.ones(n)], -1)
        knee, ank = two_link_ik(hip, ank, seg["thigh"], seg["shank"], pole)
        out[:, J[f"{name}_knee"]] = knee
        out[:, J[f"{name}_ankle"]] = ank
        heel_rel = np.stack([np.zeros(n), np.full(n, -heel_back), -np.full(n, seg["ankle_h"])], -1)
        toe_rel = np.stack([np.zeros(n), np.full(n, toe_fwd), -np.full(n, seg["ankle_h"])], -1)
        for rel_v, jn in ((heel_rel, "heel"), (toe_rel, "toe")):
            rv = np.stack(
                [rel_v[:, 0], rel_v[:, 1] * c - rel_v[:, 2] * s, rel_v[:, 1] * s + rel_v[:, 2] * c], -1
            )
            out[:, J[f"{name}_{jn}"]] = ank + rv
    return out


def primary_height(prog: Program, joints: np.ndarray) -> np.ndarray:
    """The height (m) that traces a repetition: mean wrist height, or hip-centre height for squat/deadlift."""
    if prog.primary == "hip":
        return joints[:, [J["right_hip"], J["left_hip"]], 2].mean(-1)
    return joints[:, [J["right_wrist"], J["left_wrist"]], 2].mean(-1)
