"""The signature of every FLEX error type (ET001-ET063) in the simulator, and how to measure it.

Each :class:`ErrorSpec` lists *effects*, each one offset added to a motion knob of
:func:`flexaqa.synth.kinematics.pose` (or a timing, sEMG or breath knob), scaled by the error's severity in
(0, 1] and applied in the phase of the slot it was drawn for (preparation slots: the whole repetition).
``measure`` names a function of :data:`MEASURES` that reads the signature back from the generated data;
``threshold`` is the smallest change a severity-1 error produces versus the clean repetition
(checked for all 63 errors by ``tests/test_synth_errors.py``). ``docs/simulator.md`` tabulates them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flexaqa.kg import load_kg
from flexaqa.skeleton import J, joint_angle

# Shapes of an effect over its window: c constant, p with the progress (strongest at the turning point),
# q with 1 - p (strongest at the start position), b a bump over the window, e growing to the window's end,
# o a 2.5 Hz oscillation.
SHAPES = ("c", "p", "q", "b", "e", "o")
# Knobs that are not pose offsets: read when planning the repetition (durations, range of motion, the left arm's
# progress) or when synthesising sEMG / breath.
PLAN_KNOBS = ("ecc_speed", "rom_ecc", "rom_con", "asym")
SIGNAL_KNOBS = ("breath_flip", "emg_asym", "emg_delay", "emg_biceps")


@dataclass(frozen=True)
class Effect:
    knob: str
    amp: float
    shape: str = "c"
    two_sided: bool = False  # the sign is drawn per occurrence (e.g. too narrow OR too wide)


@dataclass(frozen=True)
class ErrorSpec:
    code: str
    modality: str  # "pose" | "timing" | "sEMG" | "breath" (several joined with "+")
    signature: str
    effects: tuple[Effect, ...]
    measure: str
    threshold: float
    propensity: float = 1.0  # relative frequency among a subject's errors


def _e(knob, amp, shape="c", two=False):
    return Effect(knob, amp, shape, two)


_S = ErrorSpec
ERROR_SPECS: dict[str, ErrorSpec] = {
    s.code: s
    for s in (
        _S("ET001", "pose", "ankle separation ±12 cm", (_e("stance", 0.12, two=True),), "stance", 8),
        _S(
            "ET002",
            "pose",
            "hip centre shifted ±7 cm along the trunk's front axis (lumbar arch/collapse)",
            (_e("pelvis_up", 0.07, two=True),),
            "pelvis",
            4,
            1.2,
        ),
        _S("ET003", "pose", "trunk pitch ±12°, head follows", (_e("pitch", 12, two=True),), "pitch", 8, 1.2),
        _S("ET004", "pose", "clavicles elevated +14° (shrug)", (_e("shoulder_elev", 14),), "clavicle", 8),
        _S("ET005", "pose", "trunk pitch oscillates ±5° at 2.5 Hz", (_e("pitch", 5, "o"),), "sway", 1.5, 1.4),
        _S(
            "ET006",
            "pose",
            "hand bends 22° less toward the palm (fingers open)",
            (_e("hand_angle", -22),),
            "hand",
            12,
        ),
        _S("ET007", "pose", "wrist separation ±10 cm", (_e("grip", 0.1, two=True),), "grip", 6),
        _S(
            "ET008",
            "pose",
            "elbow flexed 25° more (bent) than the program",
            (_e("elbow", 25),),
            "elbow",
            6,
            1.2,
        ),
        _S(
            "ET009",
            "pose",
            "hand bent 65° dorsally and tilted 20°",
            (_e("hand_angle", -65), _e("palm", 20, two=True)),
            "hand",
            20,
        ),
        _S("ET010", "pose", "bar start height ±8 cm", (_e("wrist_z", 0.08, "q", True),), "wrist_start", 4),
        _S(
            "ET011",
            "pose",
            "wrists ±8 cm forward/back of the elbows (forearms tilted)",
            (_e("wrist_y", 0.1, two=True),),
            "forearm",
            3,
        ),
        _S("ET012", "pose", "palm rotated ±60° about the forearm", (_e("palm", 60, two=True),), "palm", 3),
        _S(
            "ET013",
            "pose",
            "elbows flare/tuck: pole ±25° (targets) or abduction ±15° (angles)",
            (_e("flare", 25, two=True), _e("arm_abd", 15, two=True)),
            "elbow_pos",
            3,
        ),
        _S(
            "ET014",
            "breath",
            "breath waveform rises (inhale) during the concentric phase",
            (_e("breath_flip", 1.0),),
            "breath_slope",
            0.5,
            1.8,
        ),
        _S(
            "ET015",
            "pose",
            "trunk leans back 10° and hips dip 5 cm (knee drive) in the press",
            (_e("pitch", -10, "b"), _e("pelvis_z", -0.05, "b")),
            "pitch_hip",
            4,
        ),
        _S("ET016", "pose", "head pushed forward 28°", (_e("neck", 28),), "head", 10),
        _S(
            "ET017",
            "breath",
            "breath waveform falls (exhale) during the eccentric phase",
            (_e("breath_flip", 1.0),),
            "breath_slope",
            0.5,
            1.8,
        ),
        _S(
            "ET018",
            "timing",
            "eccentric phase 55% shorter: higher peak speed",
            (_e("ecc_speed", 0.55),),
            "ecc_speed",
            0.25,
            1.5,
        ),
        _S(
            "ET019",
            "pose",
            "phase ends 8 cm low (targets) or ±15° off (angles)",
            (_e("wrist_z", -0.08, "e"), _e("arm_elev", 15, "e", True)),
            "wrist_end",
            4,
        ),
        _S(
            "ET020",
            "pose",
            "upper arm swings ±20° forward/back",
            (_e("arm_fwd", 20, "p", True),),
            "elbow_pos",
            4,
        ),
        _S(
            "ET021",
            "pose",
            "elbows abducted 18° (angles) / flared 25° (targets)",
            (_e("arm_abd", 18), _e("flare", 25)),
            "elbow_pos",
            3,
        ),
        _S(
            "ET022",
            "pose",
            "shoulders shrug +12° and protract +10° toward the turning point",
            (_e("shoulder_elev", 12, "p"), _e("shoulder_fwd", 10, "p")),
            "clavicle",
            5,
        ),
        _S(
            "ET023", "pose", "elbows swing ±20° forward/back", (_e("arm_fwd", 20, "p", True),), "elbow_pos", 4
        ),
        _S(
            "ET024",
            "pose",
            "elbow pole rotated 35° down and bar 6 cm lower at the top",
            (_e("flare", -35), _e("wrist_z", -0.06, "p")),
            "elbow_height",
            3,
        ),  # -: down (+ swings them up/out)
        _S(
            "ET025",
            "pose",
            "bar drifts ±8 cm forward/back mid-lift",
            (_e("wrist_y", 0.08, "b", True),),
            "wrist_path",
            3,
        ),
        _S("ET026", "pose", "palm rotated ±70° about the forearm", (_e("palm", 70, two=True),), "palm", 2),
        _S(
            "ET027",
            "pose",
            "elbow flexion varies by 35° within the phase",
            (_e("elbow", 35, "b"),),
            "elbow_range",
            12,
        ),
        _S(
            "ET028",
            "pose",
            "phase ends ±18° off (angles) / ±8 cm (targets)",
            (_e("arm_elev", 18, "e", True), _e("wrist_z", 0.08, "e", True)),
            "wrist_end",
            4,
        ),
        _S(
            "ET029", "pose", "elbows swing ±22° forward/back", (_e("arm_fwd", 22, "p", True),), "elbow_pos", 4
        ),
        _S(
            "ET030",
            "pose+sEMG",
            "palm over-supinated 70°, biceps sEMG ×1.4",
            (_e("palm", 70, "p"), _e("emg_biceps", 0.4, "p")),
            "palm",
            1,
        ),
        _S(
            "ET031",
            "pose",
            "start position ±20° forward/back",
            (_e("arm_fwd", 20, "q", True),),
            "wrist_start",
            4,
        ),
        _S("ET032", "pose", "knees bent further: hips 7 cm lower", (_e("pelvis_z", -0.07),), "knee_angle", 5),
        _S("ET033", "pose", "trunk pitch ±15°", (_e("pitch", 15, two=True),), "pitch", 10),
        _S(
            "ET034",
            "pose",
            "shoulders elevate 14° and head protrudes 22°",
            (_e("shoulder_elev", 14, "p"), _e("neck", 22, "p")),
            "neck_shrug",
            6,
        ),
        _S(
            "ET035",
            "pose",
            "arms travel 25° backward and 15° above horizontal",
            (_e("arm_plane", -25, "e"), _e("arm_elev", 15, "e")),
            "wrist_end",
            4,
        ),
        _S("ET036", "pose", "heels lifted 18° about the toes", (_e("heel", 18),), "heel", 2),
        # a bridge: the hips leave the bench while the shoulders stay on it, so the trunk tilts ~9° about them
        _S(
            "ET037",
            "pose",
            "hips bridged 8 cm off the bench (trunk tilted 9° about the shoulders), head raised 15°",
            (_e("pelvis_up", 0.08), _e("pitch", -9), _e("neck", 15)),
            "pelvis",
            4,
        ),
        _S(
            "ET038",
            "pose",
            "upper-arm/trunk angle ±30° (pole) or ±15° (angles)",
            (_e("flare", 30, two=True), _e("arm_abd", 15, two=True)),
            "arm_trunk",
            4,
        ),
        _S("ET039", "timing", "eccentric range of motion 35% short", (_e("rom_ecc", 0.35),), "rom", 4, 1.4),
        _S("ET040", "pose", "hips rise 8 cm during the press", (_e("pelvis_up", 0.08, "b"),), "pelvis", 3),
        _S("ET041", "pose", "head raised/pushed 30°", (_e("neck", 30),), "head", 10),
        _S(
            "ET042",
            "pose",
            "shoulders shrug 14° and shift forward 10°",
            (_e("shoulder_elev", 14), _e("shoulder_fwd", 10)),
            "clavicle",
            6,
        ),
        _S(
            "ET043",
            "pose+sEMG",
            "one side's sEMG ×(1±0.45), bar tilts ±4 cm",
            (_e("emg_asym", 0.45, two=True), _e("wrist_z_l", 0.04, "b", True)),
            "emg_lr",
            0.3,
        ),
        _S("ET044", "timing", "concentric range of motion 35% short", (_e("rom_con", 0.35),), "rom", 4, 1.4),
        _S(
            "ET045",
            "pose",
            "dumbbell start height ±8 cm (targets) / ±15° (angles)",
            (_e("wrist_z", 0.08, "q", True), _e("arm_elev", 15, "q", True)),
            "wrist_start",
            3,
        ),
        _S(
            "ET046",
            "pose",
            "dumbbells ±12 cm closer/wider at the turning point",
            (_e("grip", 0.12, "p", True), _e("arm_abd", 12, "p", True)),
            "grip_end",
            6,
        ),
        _S(
            "ET047",
            "pose",
            "left arm's concentric progress 30% behind the right",
            (_e("asym", 0.3),),
            "lr_height",
            3,
        ),
        _S("ET048", "timing", "concentric range of motion 35% short", (_e("rom_con", 0.35),), "rom", 4, 1.4),
        _S("ET049", "timing", "eccentric range of motion 35% short", (_e("rom_ecc", 0.35),), "rom", 4, 1.4),
        _S(
            "ET050",
            "pose",
            "left arm's eccentric progress 30% behind the right",
            (_e("asym", 0.3),),
            "lr_height",
            3,
        ),
        _S(
            "ET051",
            "pose",
            "bar starts ±8 cm forward/back",
            (_e("wrist_y", 0.08, "q", True),),
            "wrist_start",
            4,
        ),
        _S(
            "ET052",
            "pose",
            "hips 8 cm higher and trunk 15° flatter mid-lift",
            (_e("pelvis_z", 0.08, "b"), _e("pitch", 15, "b")),
            "pitch_hip",
            4,
            0.8,
        ),
        _S(
            "ET053",
            "pose",
            "shoulders protracted/retracted ±15°",
            (_e("shoulder_fwd", 15, two=True),),
            "clavicle",
            6,
        ),
        _S(
            "ET054",
            "pose",
            "knees bend early: hips 6 cm lower, trunk 8° more upright mid-descent",
            (_e("pelvis_z", -0.06, "b"), _e("pitch", -8, "b")),
            "knee_angle",
            3,
        ),
        _S(
            "ET055",
            "pose",
            "hips 8 cm further forward and trunk 8° more upright at depth",
            (_e("pelvis_y", 0.08, "p"), _e("pitch", -8, "p")),
            "knee_fwd",
            3,
        ),
        _S(
            "ET056",
            "pose",
            "knee pole rotated 25° inward at depth (valgus)",
            (_e("valgus", 25, "p"),),
            "knee_sep",
            3,
            0.8,
        ),
        _S(
            "ET057",
            "sEMG",
            "latissimus sEMG onset delayed 0.3 s; shoulders stay protracted 10°",
            (_e("emg_delay", 0.3), _e("shoulder_fwd", 10, "b")),
            "emg_onset",
            0.1,
        ),
        _S(
            "ET058",
            "pose",
            "hips ±7 cm higher/lower at the start",
            (_e("pelvis_z", 0.07, "q", True),),
            "hip_z",
            2,
        ),
        _S("ET059", "pose", "elbow angle ±20° at the start", (_e("elbow", 20, "q", True),), "elbow", 5),
        _S("ET060", "pose", "elbow 25° short of full extension", (_e("elbow", 25, "p"),), "elbow", 5),
        _S("ET061", "pose", "ankle separation ±14 cm", (_e("stance", 0.14, two=True),), "stance", 9),
        _S(
            "ET062",
            "pose",
            "bar drifts 10 cm forward away from the legs",
            (_e("wrist_y", 0.1, "b"),),
            "wrist_path",
            4,
        ),
        _S(
            "ET063",
            "pose",
            "stiff legs: hips 12 cm higher near the bottom",
            (_e("pelvis_z", 0.12, "q"),),
            "knee_angle",
            5,
        ),
    )
}


def effect_shape(shape: str, p: np.ndarray, u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Shape of an effect: ``p`` progress, ``u`` position within the window (0..1), ``t`` seconds."""
    if shape == "c":
        return np.ones_like(p)
    if shape == "p":
        return np.clip(p, 0, 1)
    if shape == "q":
        return 1 - np.clip(p, 0, 1)
    if shape == "b":
        return np.sin(np.pi * np.clip(u, 0, 1))
    if shape == "e":
        return np.clip(u, 0, 1)
    if shape == "o":
        return np.sin(2 * np.pi * 2.5 * t)
    raise ValueError(f"unknown effect shape {shape!r}; expected one of {SHAPES}")


# ----------------------------------------------------------------------------------------------- measures
# Each takes (joints (T, 21, 3) of the window, ctx) and returns a 1-D array in cm, degrees, s or ratios.


def _trunk(j):
    hip = 0.5 * (j[:, J["right_hip"]] + j[:, J["left_hip"]])
    v = j[:, J["spine_shoulder"]] - hip
    return hip, v


def trunk_pitch(j: np.ndarray) -> np.ndarray:
    """Forward lean of the hip-centre -> spine-shoulder line (degrees; 0 upright, -90 supine)."""
    _, v = _trunk(j)
    return np.degrees(np.arctan2(v[:, 1], v[:, 2]))


def trunk_axes(j: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` trunk frames (columns x right, y front, z up the spine) rebuilt from the joints."""
    _, v = _trunk(j)
    z = v / np.linalg.norm(v, axis=-1, keepdims=True)
    x = j[:, J["right_hip"]] - j[:, J["left_hip"]]
    x = x - np.sum(x * z, -1, keepdims=True) * z
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    return np.stack([x, np.cross(z, x), z], -1)


def _local(j, a, b):
    """Vector joint a -> joint b in the trunk frame ``(T, 3)``."""
    return np.einsum("tji,tj->ti", trunk_axes(j), j[:, b] - j[:, a])


def _ang(u, v):
    c = np.sum(u * v, -1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-9)
    return np.degrees(np.arccos(np.clip(c, -1, 1)))


def _ext(ctx):
    """Index (within the window) of the frame closest to the turning point."""
    p = ctx["p"]
    return int(np.argmax(p)) if p.size else 0


def _m_clavicle(j, ctx):
    out = []
    for s, side in (("right", 1), ("left", -1)):
        c = _local(j, J["spine_shoulder"], J[f"{s}_shoulder"])
        out += [
            np.degrees(np.arctan2(c[:, 2], side * c[:, 0])).mean(),
            np.degrees(np.arctan2(c[:, 1], side * c[:, 0])).mean(),
        ]
    return np.array(out)


def _m_head(j, ctx):
    return np.array([_ang(_local(j, J["neck"], J["head"]), np.array([0, 0, 1.0])).mean()])


def _m_hand(j, ctx):
    return np.array(
        [
            _ang(
                j[:, J[f"{s}_wrist"]] - j[:, J[f"{s}_elbow"]], j[:, J[f"{s}_hand"]] - j[:, J[f"{s}_wrist"]]
            ).mean()
            for s in ("right", "left")
        ]
    )


def _m_palm(j, ctx):
    return np.concatenate(
        [100 * _local(j, J[f"{s}_wrist"], J[f"{s}_hand"]).mean(0) for s in ("right", "left")]
    )


def _elbow_angles(j):
    return np.stack(
        [
            joint_angle(j[:, J[f"{s}_shoulder"]], j[:, J[f"{s}_elbow"]], j[:, J[f"{s}_wrist"]])
            for s in ("right", "left")
        ],
        -1,
    )


def _m_elbow_pos(j, ctx):
    return np.concatenate(
        [100 * _local(j, J[f"{s}_shoulder"], J[f"{s}_elbow"]).mean(0) for s in ("right", "left")]
    )


def _wrists(j):
    return j[:, [J["right_wrist"], J["left_wrist"]]]  # (T, 2, 3)


def _knee_angles(j):
    return np.stack(
        [
            joint_angle(j[:, J[f"{s}_hip"]], j[:, J[f"{s}_knee"]], j[:, J[f"{s}_ankle"]])
            for s in ("right", "left")
        ],
        -1,
    )


def _m_pelvis(j, ctx):
    hip, _ = _trunk(j)
    ank = 0.5 * (j[:, J["right_ankle"]] + j[:, J["left_ankle"]])
    return 100 * (hip - ank).mean(0)[1:]


def _m_rom(j, ctx):
    pts = _trunk(j)[0] if ctx["primary_kind"] == "hip" else _wrists(j).mean(1)  # (T, 3)
    return np.array([100 * np.linalg.norm(pts - pts[0], axis=-1).max()])


def _m_ecc_speed(j, ctx):
    h = ctx["primary_ecc"]
    speed = np.abs(np.diff(h)) * ctx["fps"] if len(h) > 1 else np.zeros(1)
    return np.array([len(h) / ctx["fps"], speed.max()])


def _m_breath(j, ctx):
    b = ctx["breath"]
    return np.array([np.sign(b[-1] - b[0]) if len(b) > 1 else 0.0])


def _m_emg_lr(j, ctx):
    e = ctx["emg"]  # (N, C), channels ordered left, right, ... per KG pairs
    left = np.sqrt(np.mean(e[:, ctx["left_ch"]] ** 2))
    right = np.sqrt(np.mean(e[:, ctx["right_ch"]] ** 2))
    return np.array([np.log(left / max(right, 1e-9))])


def _m_emg_onset(j, ctx):
    env = ctx["emg_env"]  # (N,) agonist envelope over the window
    hit = np.nonzero(env >= 0.5 * env.max())[0]
    return np.array([(hit[0] if hit.size else len(env)) / ctx["emg_rate"]])


MEASURES = {
    "stance": lambda j, c: np.array(
        [100 * np.abs(j[:, J["right_ankle"], 0] - j[:, J["left_ankle"], 0]).mean()]
    ),
    "grip": lambda j, c: np.array(
        [100 * np.linalg.norm(j[:, J["right_wrist"]] - j[:, J["left_wrist"]], axis=-1).mean()]
    ),
    "grip_end": lambda j, c: np.array(
        [100 * np.linalg.norm(j[_ext(c), J["right_wrist"]] - j[_ext(c), J["left_wrist"]])]
    ),
    "pitch": lambda j, c: np.array([trunk_pitch(j).mean()]),
    "sway": lambda j, c: np.array([np.std(np.diff(trunk_pitch(j), 2)) * c["fps"] ** 2 / 100]),
    "pelvis": _m_pelvis,
    "pitch_hip": lambda j, c: np.array([trunk_pitch(j).mean(), 100 * _trunk(j)[0][:, 2].mean()]),
    "hip_z": lambda j, c: np.array([100 * _trunk(j)[0][:, 2].mean()]),
    "clavicle": _m_clavicle,
    "head": _m_head,
    "neck_shrug": lambda j, c: np.concatenate([_m_clavicle(j, c)[::2], _m_head(j, c)]),
    "hand": _m_hand,
    "palm": _m_palm,
    "elbow": lambda j, c: _elbow_angles(j).mean(0),
    "elbow_range": lambda j, c: np.array([np.ptp(_elbow_angles(j)[:, 0])]),
    "elbow_pos": _m_elbow_pos,
    "elbow_height": lambda j, c: (
        100
        * (
            j[_ext(c), [J["right_elbow"], J["left_elbow"]], 2]
            - j[_ext(c), [J["right_shoulder"], J["left_shoulder"]], 2]
        )
    ),
    "arm_trunk": lambda j, c: np.array(
        [
            _ang(_local(j, J[f"{s}_shoulder"], J[f"{s}_elbow"]), np.array([0, 0, -1.0])).mean()
            for s in ("right", "left")
        ]
    ),
    "forearm": lambda j, c: (
        100
        * (j[:, [J["right_wrist"], J["left_wrist"]], 1] - j[:, [J["right_elbow"], J["left_elbow"]], 1]).mean(
            0
        )
    ),
    "wrist_start": lambda j, c: 100 * _wrists(j)[0].ravel(),
    "wrist_end": lambda j, c: 100 * _wrists(j)[c["end"]].ravel(),
    "wrist_path": lambda j, c: np.array([100 * np.ptp(_wrists(j)[:, :, 1].mean(-1))]),
    "lr_height": lambda j, c: np.array([100 * np.abs(_wrists(j)[:, 0, 2] - _wrists(j)[:, 1, 2]).max()]),
    "knee_angle": lambda j, c: _knee_angles(j).mean(0),
    "knee_sep": lambda j, c: np.array(
        [100 * (np.abs(j[_ext(c), J["right_knee"], 0] - j[_ext(c), J["left_knee"], 0]))]
    ),
    "knee_fwd": lambda j, c: (
        100
        * (j[_ext(c), [J["right_knee"], J["left_knee"]], 1] - j[_ext(c), [J["right_toe"], J["left_toe"]], 1])
    ),
    "heel": lambda j, c: np.array([100 * j[:, [J["right_heel"], J["left_heel"]], 2].mean()]),
    "rom": _m_rom,
    "ecc_speed": _m_ecc_speed,
    "breath_slope": _m_breath,
    "emg_lr": _m_emg_lr,
    "emg_onset": _m_emg_onset,
}


def error_table() -> list[tuple[str, str, str, str, str]]:
    """Rows (code, KG text, modality, signature, measure) for docs and ``flexaqa synth --list-errors``."""
    kg = load_kg()
    return [
        (c, kg.errors[c].text, s.modality, s.signature, s.measure) for c, s in sorted(ERROR_SPECS.items())
    ]
