"""Simulated FLEX subjects: the paper's roster with anthropometrics, strength and loads at 80% of maximum.

Everything here is synthetic. Body proportions follow classic segment-length ratios of stature; one-repetition
maxima scale with body mass, skill and a per-subject factor; loads are 80% of the maximum rounded to real
equipment (barbells include the 20 kg bar, dumbbells are one side), as in paper Figure 8.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from flexaqa.data.schema import FLEX_SUBJECT_IDS, Subject, skill_of
from flexaqa.kg import load_kg

BAR_KG = 20.0
LOAD_FRACTION = 0.8

# Segment lengths as fractions of stature (adult male averages, rounded).
SEGMENT_RATIOS = {
    "head": 0.070,  # neck -> head centre
    "neck": 0.050,  # spine_shoulder -> neck
    "torso": 0.290,  # hip centre -> spine_shoulder
    "clavicle": 0.100,  # spine_shoulder -> shoulder joint
    "hip_half": 0.050,  # hip centre -> hip joint
    "upper_arm": 0.186,
    "forearm": 0.146,
    "hand": 0.060,  # wrist -> knuckle centre
    "thigh": 0.245,
    "shank": 0.246,
    "ankle_h": 0.039,  # ankle height above the floor
    "foot": 0.150,  # heel -> toe
}

# One-repetition maximum of an average trained expert as a fraction of body mass (dumbbells: one side).
ONE_RM_RATIO = {
    "standing-barbell-overhead-press": 0.75,
    "barbell-biceps-curl": 0.55,
    "barbell-upright-row": 0.6,
    "dumbbell-front-raise": 0.15,
    "dumbbell-biceps-curl": 0.26,
    "dumbbell-lateral-raise": 0.13,
    "bent-over-dumbbell-reverse-fly": 0.11,
    "flat-barbell-bench-press": 1.15,
    "incline-barbell-bench-press": 0.95,
    "decline-barbell-bench-press": 1.2,
    "flat-dumbbell-bench-press": 0.42,
    "incline-dumbbell-bench-press": 0.37,
    "dumbbell-fly": 0.2,
    "seated-dumbbell-shoulder-press": 0.32,
    "deadlift": 1.8,
    "squat": 1.5,
    "barbell-bent-over-row": 0.95,
    "t-bar-row": 0.9,
    "dumbbell-bent-over-row": 0.42,
    "dumbbell-bent-over-triceps-extension": 0.12,
}
SKILL_STRENGTH = {"expert": 1.0, "amateur": 0.78, "novice": 0.6}
SKILL_ERROR_RATE = {"expert": 0.14, "amateur": 0.22, "novice": 0.3}  # mean per-slot error probability


@dataclass
class SimSubject:
    """A simulated subject: the data layer's :class:`Subject` plus what the simulator needs to move it."""

    subject: Subject
    segments: dict[str, float]  # metres, keys of SEGMENT_RATIOS
    strength: float  # multiplier of ONE_RM_RATIO * mass
    error_rate: float  # mean per-slot error probability on rep 1
    tempo: float  # duration multiplier (>1 slower)
    variability: float  # rep-to-rep jitter scale
    fatigability: float  # how fast errors and slowing grow over reps
    hr_rest: float  # bpm
    emg_gain: float  # electrode/skin gain
    one_rm: dict[str, float] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.subject.id

    @property
    def skill(self) -> str:
        return self.subject.skill


def round_load(kg: float, equipment: str) -> float:
    """Round a load to real equipment: barbells 20 kg bar + 2.5 kg steps; dumbbells 1 kg to 10 kg, then 2.5 kg."""
    if equipment == "barbell":
        return max(BAR_KG, round(kg / 2.5) * 2.5)
    return max(1.0, float(round(kg))) if kg < 10 else round(kg / 2.5) * 2.5


def make_subject(sid: str, rng: np.random.Generator) -> SimSubject:
    """Draw one synthetic subject with the skill level of FLEX id ``sid``."""
    skill = skill_of(sid)
    height = float(np.clip(rng.normal(175.0, 6.0), 160, 192))
    bmi = float(np.clip(rng.normal({"expert": 25.0, "amateur": 24.0, "novice": 22.5}[skill], 2.0), 18.5, 31))
    mass = bmi * (height / 100) ** 2
    segments = {k: r * height / 100 * float(rng.normal(1.0, 0.015)) for k, r in SEGMENT_RATIOS.items()}
    strength = SKILL_STRENGTH[skill] * float(rng.lognormal(0.0, 0.12))
    error_rate = SKILL_ERROR_RATE[skill] * float(rng.lognormal(0.0, 0.15))
    kg = load_kg()
    one_rm, loads = {}, {}
    for act in kg.actions:
        rm = ONE_RM_RATIO[act.slug] * mass * strength * float(rng.lognormal(0.0, 0.08))
        if act.equipment == "barbell":
            rm = max(rm, BAR_KG / LOAD_FRACTION)
        one_rm[act.slug] = rm
        loads[act.slug] = round_load(LOAD_FRACTION * rm, act.equipment)
    subject = Subject(
        id=sid,
        skill=skill,
        height_cm=round(height, 1),
        weight_kg=round(mass, 1),
        age=float(rng.integers(19, 24) if skill == "novice" else rng.integers(21, 38)),
        body_fat_pct=round(float(np.clip(rng.normal(15 if skill == "expert" else 19, 4), 7, 32)), 1),
        loads_kg=loads,
    )
    return SimSubject(
        subject=subject,
        segments=segments,
        strength=strength,
        error_rate=error_rate,
        tempo=float(rng.lognormal({"expert": 0.08, "amateur": 0.0, "novice": -0.06}[skill], 0.12)),
        variability={"expert": 0.5, "amateur": 0.8, "novice": 1.0}[skill] * float(rng.lognormal(0, 0.2)),
        fatigability={"expert": 0.6, "amateur": 0.9, "novice": 1.1}[skill] * float(rng.lognormal(0, 0.2)),
        hr_rest=float(np.clip(rng.normal({"expert": 62, "amateur": 68, "novice": 74}[skill], 6), 48, 95)),
        emg_gain=float(rng.lognormal(0.0, 0.25)),
        one_rm=one_rm,
    )


def subject_ids(n: int | None = None) -> tuple[str, ...]:
    """The first ``n`` FLEX ids, drawn evenly across skill levels (all 38 when ``n`` is None or >= 38)."""
    if n is None or n >= len(FLEX_SUBJECT_IDS):
        return FLEX_SUBJECT_IDS
    if n <= 0:
        raise ValueError(f"the number of subjects must be positive, got {n}")
    groups = [[s for s in FLEX_SUBJECT_IDS if s[0] == p] for p in "PAN"]
    out: list[str] = []
    i = 0
    while len(out) < n:
        g = groups[i % 3]
        k = i // 3
        if k < len(g):
            out.append(g[k])
        i += 1
    return tuple(sorted(out, key=FLEX_SUBJECT_IDS.index))


def make_roster(ids, seed: int) -> list[SimSubject]:
    """Subjects for ``ids``; each subject's draw depends only on ``seed`` and its id (stable across subsets)."""
    out = []
    for sid in ids:
        rng = np.random.default_rng([seed, zlib.crc32(sid.encode()), 1])
        out.append(make_subject(sid, rng))
    return out
