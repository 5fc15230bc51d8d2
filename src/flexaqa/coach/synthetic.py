"""Parametric FLEX-21 exercise sets with known repetitions and injected errors, for tests and benchmarks.

A tiny kinematic body (segment lengths of an adult, facing the camera along -y, +z up) performs a squat, a
barbell curl or a standing overhead press. Each repetition can carry FKG errors (slot ids such as
``AK44:ET056`` or bare codes such as ``ET056`` where the action has one slot of that error); the returned
:class:`SyntheticSet` keeps the true repetitions and errors so a test can check the coach against them.

>>> s = synthetic_set("squat", n_reps=2, errors=[(), ("AK44:ET056",)])
>>> len(s.reps), s.errors[1]
(2, ('AK44:ET056',))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from flexaqa.coach._types import PoseSequence, Rep
from flexaqa.skeleton import NUM_JOINTS, J

# segment lengths (m)
SHIN, THIGH, TORSO, HEAD, UPPER_ARM, FOREARM = 0.43, 0.45, 0.50, 0.22, 0.30, 0.27
HIP_HALF, SHOULDER_HALF = 0.15, 0.19
FWD = np.array([0.0, -1.0, 0.0])  # the body faces the camera
RIGHT = np.array([-1.0, 0.0, 0.0])  # the subject's right (image left)
UP = np.array([0.0, 0.0, 1.0])

# Errors each synthetic action can show, as slots. Every other slot of the action is never injected.
SYNTH_SLOTS: dict[str, tuple[str, ...]] = {
    "squat": (
        "AK56:ET061", "AK56:ET003", "AK56:ET004", "AK43:ET007", "AK43:ET010", "AK44:ET005", "AK44:ET033",
        "AK44:ET039", "AK44:ET055", "AK44:ET056", "AK45:ET032", "AK45:ET052",
    ),
    "barbell-biceps-curl": (
        "AK01:ET001", "AK01:ET003", "AK01:ET004", "AK06:ET007", "AK07:ET008", "AK07:ET020", "AK07:ET021",
        "AK08:ET005", "AK08:ET015", "AK08:ET019", "AK08:ET022", "AK08:ET023", "AK09:ET018", "AK09:ET020",
    ),
    "standing-barbell-overhead-press": (
        "AK01:ET001", "AK01:ET003", "AK01:ET004", "AK02:ET007", "AK03:ET010", "AK03:ET013", "AK04:ET005",
        "AK04:ET008", "AK04:ET015", "AK04:ET016", "AK05:ET011", "AK05:ET018", "AK05:ET019",
    ),
}  # fmt: skip

# Phase order of the moving part of a repetition.
_PHASES = {
    "squat": ("eccentric", "concentric"),
    "barbell-biceps-curl": ("concentric", "eccentric"),
    "standing-barbell-overhead-press": ("concentric", "eccentric"),
}


@dataclass
class SyntheticSet:
    """A synthetic set: the pose, the true repetitions and, per repetition, the injected error slots."""

    action: str
    pose: PoseSequence
    reps: list[Rep]
    errors: list[tuple[str, ...]]

    def segmenter(self, pose: PoseSequence | None = None, action=None) -> list[Rep]:
        """A segmenter that returns the true repetitions (plug it into the coach in tests)."""
        return list(self.reps)


def _ik(shoulder, wrist, pole, a=UPPER_ARM, b=FOREARM):
    """Elbow ``(T, 3)`` of a two-bone arm reaching ``wrist`` from ``shoulder``, bent towards ``pole``."""
    v = wrist - shoulder
    d = np.linalg.norm(v, axis=-1, keepdims=True)
    d_c = np.clip(d, abs(a - b) + 1e-3, a + b - 1e-4)
    u = v / np.maximum(d, 1e-9)
    cos_a = (a * a + d_c * d_c - b * b) / (2 * a * d_c)
    p = pole - np.sum(pole * u, -1, keepdims=True) * u
    p = p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-9)
    elbow = shoulder + a * (cos_a * u + np.sqrt(1 - cos_a**2) * p)
    wrist = shoulder + d_c * u
    return elbow, wrist


def _bump(x):
    """0 at 0 and 1, 1 at 0.5: sin^2 bump over a phase."""
    return np.sin(np.pi * np.clip(x, 0, 1)) ** 2


def _profiles(action: str, errs: set[str], tl: np.ndarray, d1: float, d2: float, n: int) -> dict:
    """Per-frame knobs of one repetition at local times ``tl`` (s); ``d1``, ``d2`` phase durations."""
    p1 = np.clip(tl / d1, 0, 1)  # progress through the first phase
    p2 = np.clip((tl - d1) / d2, 0, 1)  # ... and the second
    first = tl < d1
    move = np.where(first, 0.5 - 0.5 * np.cos(np.pi * p1), 0.5 + 0.5 * np.cos(np.pi * p2))  # 0 -> 1 -> 0
    z = np.zeros(n)
    k = {"move": move, "lean": z + 5.0, "shrug": z.copy(), "head_fwd": z.copy(), "knee_in": z.copy()}
    k["stance"] = z + (0.25 if action == "squat" else 0.19)
    k["grip"] = z + (0.40 if action == "squat" else 0.25)
    wob = 5.0 * np.sin(2 * np.pi * 2.5 * tl)
    has = errs.__contains__
    if has("AK01:ET001") or has("AK56:ET061"):
        k["stance"] = z + 0.07
    if has("AK01:ET003") or has("AK56:ET003"):
        k["lean"] = z + 28.0
    if has("AK01:ET004") or has("AK56:ET004"):
        k["shrug"] = z + 0.07
    if has("AK06:ET007") or has("AK02:ET007") or has("AK43:ET007"):
        k["grip"] = z + 0.12
    if action == "squat":
        depth = 0.55 if has("AK44:ET039") else 1.0
        s = move * depth
        shin_max = 55.0 if has("AK44:ET055") else 30.0
        k["shin"] = s * shin_max
        k["thigh"] = s * (100.0 - shin_max)
        k["lean"] = k["lean"] + s * (60.0 if has("AK44:ET033") else 30.0)
        if has("AK44:ET005"):
            k["lean"] = k["lean"] + np.where(first, wob * _bump(p1) * 1.6, 0)
        if has("AK44:ET056"):
            k["knee_in"] = 0.11 * s
        if has("AK45:ET032"):  # stops short of extending the knees at the top
            k["shin"] = k["shin"] + np.where(first, 0, 25 * p2)
            k["thigh"] = k["thigh"] + np.where(first, 0, 25 * p2)
        if has("AK45:ET052"):  # hips shoot up first: the torso tips forward early in the ascent
            k["lean"] = k["lean"] + np.where(first, 0, 25.0 * _bump(p2 * 1.4))
        k["hand_lo"] = np.array([-0.06, 0.06])  # (fwd, up) of the bar relative to the shoulders
        if has("AK43:ET010"):
            k["hand_lo"] = np.array([0.10, -0.28])
    elif action == "barbell-biceps-curl":
        top = 95.0 if has("AK08:ET019") else 40.0
        bottom = 125.0 if has("AK07:ET008") else 165.0
        k["elbow"] = bottom + (top - bottom) * move
        if has("AK07:ET008"):  # starts bent, ends the rep straight
            k["elbow"] = np.where(first, k["elbow"], 165 + (top - 165) * move)
        k["flex"] = z + (25.0 if has("AK07:ET020") else 0.0)
        if has("AK08:ET023"):
            k["flex"] = k["flex"] + np.where(first, 35.0 * _bump(p1), 0)
        if has("AK09:ET020"):
            k["flex"] = k["flex"] + np.where(first, 0, 35.0 * _bump(p2))
        k["flare"] = z + (28.0 if has("AK07:ET021") else 4.0)
        if has("AK08:ET005"):
            k["lean"] = k["lean"] + np.where(first, wob * _bump(p1), 0)
        if has("AK08:ET015"):
            k["lean"] = k["lean"] - np.where(first, 15.0 * _bump(p1), 0)
        if has("AK08:ET022"):
            k["shrug"] = k["shrug"] + np.where(first, 0.08 * _bump(p1), 0)
            k["sh_fwd"] = np.where(first, 0.07 * _bump(p1), 0)
    elif action == "standing-barbell-overhead-press":
        lo_up = -0.28 if has("AK03:ET010") else 0.02
        lo = np.array([0.16, lo_up])
        end_lo = np.array([0.1, 0.30]) if has("AK05:ET019") else lo
        if has("AK05:ET011"):
            end_lo = np.array([0.5, 0.03])
        top_up = 0.40 if has("AK04:ET008") else 0.56
        lo_t = np.where(
            first[:, None], lo, end_lo[None] * _bump(0.5 * p2)[:, None] + lo * (1 - _bump(0.5 * p2))[:, None]
        )
        hi = np.array([0.0, top_up])
        k["hand"] = lo_t + (hi - lo_t) * move[:, None]  # (n, 2) fwd, up
        k["pole_out"] = z + (1.6 if has("AK03:ET013") else 0.35)
        if has("AK04:ET005"):
            k["lean"] = k["lean"] + np.where(first, wob * _bump(p1), 0)
        if has("AK04:ET015"):
            k["knee"] = np.where(first, 22.0 * _bump(p1), 0)
        if has("AK04:ET016"):
            k["head_fwd"] = np.where(first, 0.12 * _bump(p1), 0)
    return k


def _build(action: str, k: dict) -> np.ndarray:
    """FLEX-21 joints ``(n, 21, 3)`` from the knobs of :func:`_profiles`."""
    n = k["move"].shape[0]
    out = np.zeros((n, NUM_JOINTS, 3))
    rad = np.radians
    shin = rad(k.get("shin", np.zeros(n)) + k.get("knee", 0) * 0.5)[:, None]
    thigh = rad(k.get("thigh", np.zeros(n)) + k.get("knee", 0) * 0.5)[:, None]
    ankle0 = 0.08 * UP
    knee0 = ankle0 + SHIN * (np.sin(shin) * FWD + np.cos(shin) * UP)  # (n, 3) midline
    hip0 = knee0 + THIGH * (-np.sin(thigh) * FWD + np.cos(thigh) * UP)
    lean = rad(k["lean"])[:, None]
    tdir = np.sin(lean) * FWD + np.cos(lean) * UP
    ss = hip0 + TORSO * tdir + k["shrug"][:, None] * UP + k.get("sh_fwd", np.zeros(n))[:, None] * FWD
    out[:, J["head"]] = hip0 + (TORSO + HEAD) * tdir + k["head_fwd"][:, None] * FWD
    out[:, J["neck"]] = hip0 + (TORSO + 0.08) * tdir
    out[:, J["spine_shoulder"]] = ss
    for side, sgn in (("right", 1.0), ("left", -1.0)):
        out_dir = sgn * RIGHT  # lateral, away from the midline
        st = k["stance"][:, None]
        ankle = ankle0 + st * out_dir
        lat_knee = st + (HIP_HALF - st) * 0.5 - k["knee_in"][:, None]
        out[:, J[f"{side}_ankle"]] = ankle
        out[:, J[f"{side}_knee"]] = knee0 + lat_knee * out_dir
        out[:, J[f"{side}_hip"]] = hip0 + HIP_HALF * out_dir
        out[:, J[f"{side}_heel"]] = ankle - 0.05 * FWD - 0.06 * UP
        out[:, J[f"{side}_toe"]] = ankle + 0.15 * FWD - 0.06 * UP
        sh = ss + SHOULDER_HALF * out_dir
        out[:, J[f"{side}_shoulder"]] = sh
        grip_out = (k["grip"] - SHOULDER_HALF)[:, None] * out_dir
        if action == "barbell-biceps-curl":
            flex, flare = rad(k["flex"])[:, None], rad(k["flare"])[:, None]
            d_up = np.cos(flare) * (-np.cos(flex) * UP + np.sin(flex) * FWD) + np.sin(flare) * out_dir
            elbow = sh + UPPER_ARM * d_up
            ang = flex - np.pi / 2 + np.pi - rad(k["elbow"])[:, None]
            wrist = elbow + FOREARM * (np.cos(ang) * FWD + np.sin(ang) * UP) + grip_out
        else:
            hand = k["hand"] if action != "squat" else np.broadcast_to(k["hand_lo"], (n, 2))
            target = sh + hand[:, :1] * FWD + hand[:, 1:] * UP + grip_out
            pole = (
                -UP - 0.8 * FWD + 0.2 * out_dir
                if action == "squat"
                else (FWD - UP) * 0.7 + k["pole_out"][:, None] * out_dir
            )
            elbow, wrist = _ik(sh, target, np.broadcast_to(pole, (n, 3)))
        out[:, J[f"{side}_elbow"]] = elbow
        out[:, J[f"{side}_wrist"]] = wrist
        fdir = (wrist - elbow) / np.linalg.norm(wrist - elbow, axis=-1, keepdims=True)
        out[:, J[f"{side}_hand"]] = wrist + 0.08 * fdir
    return out


def synthetic_set(
    action: str = "squat",
    *,
    n_reps: int = 3,
    errors: Sequence[Iterable[str]] | Iterable[str] = (),
    fps: float = 30.0,
    pause: float = 0.6,
    noise: float = 0.0,
    seed: int = 0,
) -> SyntheticSet:
    """A set of ``n_reps`` repetitions of ``action`` with the error slots in ``errors``.

    ``errors`` is either one list of slots for every repetition or one list per repetition. A slot of
    ``AK..:ET018`` (lowering too quickly) shortens the eccentric phase. ``noise`` adds Gaussian jitter (m).
    """
    from flexaqa.kg import load_kg

    act = load_kg().action(action)
    if act.slug not in SYNTH_SLOTS:
        raise ValueError(f"no synthetic model of {act.name}; available: {', '.join(SYNTH_SLOTS)}")
    errors = list(errors)
    per_rep = (
        [tuple(e) for e in errors] if errors and not isinstance(errors[0], str) else [tuple(errors)] * n_reps
    )
    if len(per_rep) != n_reps:
        raise ValueError(f"errors has {len(per_rep)} entries for {n_reps} repetitions")
    slots_all = {s.id for s in act.slots}
    norm: list[tuple[str, ...]] = []
    for errs in per_rep:
        full = []
        for e in errs:
            if ":" not in e:
                cands = [s for s in SYNTH_SLOTS[act.slug] if s.endswith(e)]
                if len(cands) != 1:
                    raise ValueError(f"{e}: give a slot (AKxx:{e}); candidates {cands}")
                e = cands[0]
            if e not in slots_all or (e not in SYNTH_SLOTS[act.slug] and not e.endswith("ET018")):
                raise ValueError(
                    f"{e} cannot be simulated for {act.name}; simulated: {SYNTH_SLOTS[act.slug]}"
                )
            full.append(e)
        norm.append(tuple(full))
    order = _PHASES[act.slug]
    rng = np.random.default_rng(seed)
    chunks, reps, t0 = [], [], 0.0
    dt = 1.0 / fps
    # a still lead-in so the first repetition starts from rest
    lead = np.arange(0.0, pause, dt)
    for i, errs in enumerate(norm):
        fast = any(e.endswith("ET018") for e in errs)
        dur = {"concentric": 1.0, "eccentric": 0.45 if fast else 1.6}
        d1, d2 = dur[order[0]], dur[order[1]]
        tl = np.arange(0.0, d1 + d2 + pause, dt)
        k = _profiles(act.slug, set(errs), tl, d1, d2, len(tl))
        if i == 0:
            k0 = _profiles(act.slug, set(errs), np.zeros(len(lead)), d1, d2, len(lead))
            chunks.append(_build(act.slug, k0))
            t0 = len(lead) * dt
        start = t0
        reps.append(
            Rep(
                i,
                start,
                start + d1 + d2,
                ((order[0], start, start + d1), (order[1], start + d1, start + d1 + d2)),
            )
        )
        chunks.append(_build(act.slug, k))
        t0 += len(tl) * dt
    joints = np.concatenate(chunks)  # (T, 21, 3)
    # glide between the still postures of consecutive repetitions in the last 0.3 s of each pause, so a
    # repetition's static error (a lean, a wide stance) does not start with a jump
    w = max(round(0.3 * fps), 1)
    for b in np.cumsum([len(c) for c in chunks])[1:-1]:
        ramp = np.linspace(0.0, 1.0, w + 2)[1:-1, None, None]
        joints[b - w : b] = (1 - ramp) * joints[b - w - 1] + ramp * joints[b]
    if noise:
        joints = joints + rng.normal(0.0, noise, joints.shape)
    t = np.arange(len(joints)) * dt
    pose = PoseSequence(
        t=t,
        joints=joints,
        visibility=np.ones(joints.shape[:2]),
        present=np.ones(len(t), bool),
        source="synthetic",
    )
    return SyntheticSet(act.slug, pose, reps, norm)


def sample_photo() -> np.ndarray:
    """Matplotlib's sample photograph of a person (Grace Hopper), ``(600, 512, 3)`` uint8 RGB."""
    import os

    import matplotlib
    from PIL import Image

    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def panned_photo_video(n_frames: int = 8, *, size: tuple[int, int] = (480, 400), step: int = 4) -> np.ndarray:
    """A short clip ``(T, H, W, 3)`` uint8 made by panning a ``size`` (height, width) window across
    :func:`sample_photo`: a real person, moving slightly, that a pose estimator should track."""
    img = sample_photo()
    h, w = size
    if h > img.shape[0] or w + step * n_frames > img.shape[1] + step:
        raise ValueError(
            f"a {h}x{w} window panned {n_frames} x {step} px does not fit the {img.shape[:2]} photo"
        )
    return np.stack([img[:h, i * step : i * step + w] for i in range(n_frames)])
