"""Simulate one trial: a subject performing one action for N continuous repetitions, with errors, labels,
pose, sEMG, heart rate and breath. Pure function of (subject, action, seed, options) -> :class:`SimTrial`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from flexaqa.kg import load_kg, score
from flexaqa.kg.breathing import BREATHING, HOLD
from flexaqa.synth.annotate import annotate
from flexaqa.synth.emg import synth_emg
from flexaqa.synth.errors import ERROR_SPECS, MEASURES, effect_shape
from flexaqa.synth.kinematics import PROGRAMS, pose, primary_height
from flexaqa.synth.physio import PHYSIO_HZ, breath_waveform, heart_rate
from flexaqa.synth.subjects import SimSubject
from flexaqa.timebase import CINEMA_FPS, EMG_HZ

DROP_RATE = 88 / 7600  # paper: 7,600 recorded -> 7,512 kept
DROP_REASONS = ("marker occlusion", "sEMG electrode detached", "annotation conflict")
BASE_SECONDS = {"preparation": 0.22, "concentric": 0.8, "eccentric": 0.92}
TEMPO = {
    "deadlift": 1.25,
    "squat": 1.25,
    "flat-barbell-bench-press": 1.08,
    "incline-barbell-bench-press": 1.08,
    "decline-barbell-bench-press": 1.08,
    "dumbbell-front-raise": 0.9,
    "dumbbell-lateral-raise": 0.9,
    "bent-over-dumbbell-reverse-fly": 0.9,
    "barbell-biceps-curl": 0.92,
    "dumbbell-biceps-curl": 0.92,
    "dumbbell-bent-over-triceps-extension": 0.85,
}
LEAD_IN, TAIL = 0.8, 0.6  # s of standing still before the first and after the last repetition
RAMP = 0.08  # s, error effects fade in/out at their window's edges
_PLAN_ONLY = ("ecc_speed", "rom_ecc", "rom_con")


@dataclass
class SimRep:
    """One simulated repetition: its keyframes (s), true errors and the labels the annotators gave it."""

    index: int  # 1-based
    start: float
    end: float
    phases: tuple[tuple[str, float, float], ...]
    true: dict[str, float]  # slot id -> severity
    signs: dict[str, int]
    raw: tuple[tuple[str, ...], ...]  # stage-1 labels of the three annotators
    vote: tuple[str, ...]  # stage-2 majority vote
    score: float  # FKG score of the vote
    true_score: float  # FKG score of the true errors
    dropped: str | None = None  # cleaning reason, None when kept


@dataclass
class SimTrial:
    subject: SimSubject
    action: object  # flexaqa.kg.Action
    fps: float
    joints: np.ndarray  # (T, 21, 3) m
    progress: np.ndarray  # (T,) arm progress p
    knobs: dict[str, np.ndarray]  # per-frame effect knobs
    emg: np.ndarray  # (N, C) mV at emg_rate
    emg_rate: float
    heart_rate: np.ndarray  # (M,) bpm at physio_rate
    breath: np.ndarray  # (M,) a.u.
    physio_rate: float
    reps: list[SimRep] = field(default_factory=list)
    load_kg: float = 0.0

    @property
    def duration(self) -> float:
        return len(self.joints) / self.fps


def _rngs(seed: int, subject: str, action_index: int):
    ss = np.random.SeedSequence([int(seed), zlib.crc32(subject.encode()), int(action_index)])
    return [np.random.default_rng(s) for s in ss.spawn(6)]  # plan, errors, motion, emg, physio, labels


def _minjerk(x):
    x = np.clip(x, 0, 1)
    return x**3 * (10 - 15 * x + 6 * x**2)


def _smooth_noise(rng, t, scale, knot=0.35):
    knots = np.arange(0, t[-1] + 2 * knot, knot)
    return np.interp(t, knots, rng.standard_normal(len(knots))) * scale


def _draw_errors(action, subj: SimSubject, reps: int, rng) -> list[dict[str, tuple[float, int]]]:
    habit = {s.id: float(rng.lognormal(0, 0.5)) for s in action.slots}  # each subject's habitual faults
    trial = float(rng.lognormal(0, 0.2))
    out = []
    for r in range(reps):
        fat = 1 + 0.05 * r * subj.fatigability
        errs = {}
        for s in action.slots:
            prob = subj.error_rate * ERROR_SPECS[s.error].propensity * habit[s.id] * trial * fat
            if rng.random() < min(prob, 0.6):
                errs[s.id] = (0.3 + 0.7 * float(rng.beta(2, 2)), 1 if rng.random() < 0.5 else -1)
        out.append(errs)
    return out


def simulate_trial(
    subj: SimSubject,
    action,
    *,
    reps: int = 10,
    seed: int = 0,
    fps: float = CINEMA_FPS,
    errors: list[dict[str, float]] | None = None,
    with_signals: bool = True,
    kg=None,
) -> SimTrial:
    """Simulate ``subj`` doing ``action`` ``reps`` times.

    ``errors`` forces the true errors of each repetition (slot id -> severity, sign +1) instead of drawing them
    from the subject's skill and fatigue; random errors, jitter and signals still follow ``seed``, so a forced
    run differs from a clean one with the same seed only by the forced errors.

    The steps: plan each repetition's phase times and range of motion, the arm progress p(t), the effect
    knobs (natural variability, then the errors in their windows), the pose, the annotators' labels, and the
    sEMG and physiological signals; each step draws from its own random stream.
    """
    kg = kg or load_kg()
    act = kg.action(action)
    r_plan, r_err, r_mot, r_emg, r_phy, r_lab = _rngs(seed, subj.id, act.index)
    order = act.phase_names[1:]  # the two movement phases in the KG's order
    drawn = _draw_errors(act, subj, reps, r_err)
    if errors is not None:
        if len(errors) != reps:
            raise ValueError(f"errors must list {reps} repetitions, got {len(errors)}")
        drawn = [{k: (float(v), 1) for k, v in e.items()} for e in errors]
    slot_phase = {s.id: s.phase for s in act.slots}

    spans, roms = _plan(act, subj, drawn, slot_phase, order, fps, r_plan)
    n = int(np.ceil((spans[-1][3] + TAIL) * fps))
    t = np.arange(n) / fps
    p = _progress(t, spans, roms)
    knobs = _knobs(t, p, spans, drawn, slot_phase, order, subj.variability, r_mot)
    p_arm = {"arm": p, "arm_l": p * (1 - knobs.get("asym", np.zeros(n))), "body": p}
    joints = pose(PROGRAMS[act.slug], subj.segments, p_arm, knobs)
    sim_reps = _labels(act, kg, spans, drawn, order, r_lab)
    load = subj.subject.loads_kg[act.slug]
    emg, hr, breath = _signals(act, subj, t, fps, p, spans, order, knobs, load, (r_emg, r_phy), with_signals)
    return SimTrial(
        subject=subj,
        action=act,
        fps=fps,
        joints=joints.astype(np.float32),
        progress=p,
        knobs=knobs,
        emg=emg,
        emg_rate=EMG_HZ,
        heart_rate=hr,
        breath=breath,
        physio_rate=PHYSIO_HZ,
        reps=sim_reps,
        load_kg=load,
    )


def _plan(act, subj: SimSubject, drawn, slot_phase, order, fps: float, r_plan):
    """Per repetition: the phase boundaries ``[b0, b1, b2, b3]`` (s) and the range of motion ``(hi, lo)``."""
    tempo = subj.tempo * TEMPO.get(act.slug, 1.0) * float(r_plan.lognormal(0, 0.1))
    spans, roms, t0 = [], [], LEAD_IN
    for r in range(len(drawn)):
        jit = r_plan.lognormal(0, 0.06 * subj.variability, size=3)
        dur = {ph: BASE_SECONDS[ph] * tempo * j for ph, j in zip(("preparation", *order), jit, strict=False)}
        dur["concentric"] *= 1 + 0.025 * r * subj.fatigability
        if r_plan.random() < 0.004:
            dur["preparation"] += float(r_plan.uniform(2.0, 5.0))  # an occasional long pause
        hi = 1 + 0.04 * subj.variability * float(r_plan.standard_normal()) - 0.008 * r * subj.fatigability
        lo = abs(0.02 * subj.variability * float(r_plan.standard_normal()))
        for sid, (sev, _) in drawn[r].items():
            for eff in ERROR_SPECS[sid.split(":")[1]].effects:
                ph = slot_phase[sid]
                if eff.knob == "ecc_speed" and ph == "eccentric":
                    dur["eccentric"] *= 1 - eff.amp * sev
                elif eff.knob in ("rom_ecc", "rom_con"):
                    phase = "eccentric" if eff.knob == "rom_ecc" else "concentric"
                    if order[0] == phase:
                        hi *= 1 - eff.amp * sev
                    else:
                        lo += eff.amp * sev
        dur = {k: float(np.clip(v, 0.15, 6.0)) for k, v in dur.items()}
        total = sum(dur.values())
        if total * fps < 100:  # FLEX repetitions last at least 100 frames at 120 fps
            dur = {k: v * 100 / (total * fps) * 1.01 for k, v in dur.items()}
        b = [t0]
        for ph in ("preparation", *order):
            b.append(b[-1] + dur[ph])
        spans.append(b)
        roms.append((hi, lo))
        t0 = b[-1]
    return spans, roms


def _progress(t: np.ndarray, spans, roms) -> np.ndarray:
    """The arm progress p(t): minimum-jerk moves between the planned range-of-motion ends."""
    p = np.zeros(len(t))
    prev = 0.0
    for (b0, b1, b2, b3), (hi, lo) in zip(spans, roms, strict=False):
        m = (t >= b0) & (t < b1)
        p[m] = prev * (1 - _minjerk((t[m] - b0) / max(min(0.2, b1 - b0), 1e-3)))
        m = (t >= b1) & (t < b2)
        p[m] = hi * _minjerk((t[m] - b1) / (b2 - b1))
        m = (t >= b2) & (t < b3)
        p[m] = hi + (lo - hi) * _minjerk((t[m] - b2) / (b3 - b2))
        prev = lo
    m = t >= spans[-1][3]
    p[m] = prev * (1 - _minjerk((t[m] - spans[-1][3]) / TAIL))
    return p


def _knobs(t, p, spans, drawn, slot_phase, order, var: float, r_mot) -> dict[str, np.ndarray]:
    """Per-frame effect knobs: natural variability, then each error's effects in its window."""
    n = len(t)
    knobs: dict[str, np.ndarray] = {
        "pitch": _smooth_noise(r_mot, t, 1.2 * var),
        "elbow": _smooth_noise(r_mot, t, 2.0 * var),
        "shoulder_elev": _smooth_noise(r_mot, t, 1.0 * var),
        "neck": _smooth_noise(r_mot, t, 2.0 * var),
        "stance": np.full(n, 0.02 * var * float(r_mot.standard_normal())),
        "grip": np.full(n, 0.015 * var * float(r_mot.standard_normal())),
    }
    for r, (b0, b1, b2, b3) in enumerate(spans):
        bounds = {"preparation": (b0, b3), order[0]: (b1, b2), order[1]: (b2, b3)}
        for sid, (sev, sign) in drawn[r].items():
            ws, we = bounds[slot_phase[sid]]
            i0, i1 = np.searchsorted(t, [ws - RAMP, we + RAMP])
            tt = t[i0:i1]
            w = np.clip(np.minimum(tt - ws, we - tt) / RAMP + 1, 0, 1)  # full strength inside, ramps outside
            u = (tt - ws) / max(we - ws, 1e-6)
            for eff in ERROR_SPECS[sid.split(":")[1]].effects:
                if eff.knob in _PLAN_ONLY:  # already applied to the repetition's plan
                    continue
                amp = eff.amp * sev * (sign if eff.two_sided else 1)
                k = knobs.setdefault(eff.knob, np.zeros(n))
                k[i0:i1] += amp * w * effect_shape(eff.shape, p[i0:i1], u, tt)
    return knobs


def _labels(act, kg, spans, drawn, order, r_lab) -> list[SimRep]:
    """The repetitions with their true errors, the three annotators' labels, the vote and the FKG scores."""

    slot_ids = [s.id for s in act.slots]
    sim_reps = []
    for r, (b0, b1, b2, b3) in enumerate(spans):
        true = {k: v[0] for k, v in drawn[r].items()}
        raw, vote = annotate(slot_ids, true, r_lab)
        dropped = None
        if r_lab.random() < DROP_RATE:
            dropped = DROP_REASONS[int(r_lab.integers(len(DROP_REASONS)))]
        sim_reps.append(
            SimRep(
                index=r + 1,
                start=b0,
                end=b3,
                phases=(("preparation", b0, b1), (order[0], b1, b2), (order[1], b2, b3)),
                true=true,
                signs={k: v[1] for k, v in drawn[r].items()},
                raw=tuple(raw),
                vote=vote,
                score=score(act, vote, kg=kg).score,
                true_score=score(act, list(true), kg=kg).score,
                dropped=dropped,
            )
        )
    return sim_reps


def _signals(
    act, subj: SimSubject, t, fps: float, p, spans, order, knobs, load: float, rngs, with_signals: bool
):
    """``(emg (N, C), heart rate, breath)`` from the phases' muscle activity; empty without ``with_signals``.
    ``rngs``: the sEMG and the physiology random streams."""
    r_emg, r_phy = rngs
    n = len(t)
    phase_at = np.full(n, "rest", dtype=object)
    fatigue = np.zeros(n)
    for r, (b0, b1, b2, b3) in enumerate(spans):
        for name, a, b in (("preparation", b0, b1), (order[0], b1, b2), (order[1], b2, b3)):
            i0, i1 = np.searchsorted(t, [a, b])
            phase_at[i0:i1] = name
            fatigue[i0:i1] = np.clip(
                (r + (t[i0:i1] - b0) / (b3 - b0)) / max(len(spans), 1) * subj.fatigability, 0, 1
            )
    intensity = 0.5 + 0.5 * min(load / subj.one_rm[act.slug], 1.0)
    level = {"rest": 0.04, "preparation": 0.15, "concentric": 1.0, "eccentric": 0.6}
    activity = np.array([level[x] for x in phase_at]) * np.where(phase_at == "rest", 1.0, intensity)
    speed = np.abs(np.gradient(p)) * fps
    activity = activity + 0.15 * speed / max(speed.max(), 1e-6)
    kern = np.ones(int(0.1 * fps)) / int(0.1 * fps)
    activity = np.convolve(activity, kern, mode="same")
    emg = np.zeros((0, len(act.emg_channels)), np.float32)
    hr = breath = np.zeros(0)
    if with_signals:
        emg = synth_emg(act, t, activity, knobs, fatigue, r_emg, gain=subj.emg_gain)
        # the breath the keysteps prescribe in each phase (exhale while lifting), flipped by a breathing error
        direction = np.select(
            [phase_at == ph for ph in BREATHING], [float(b) for b, _ in BREATHING.values()], float(HOLD)
        )
        direction = direction * (1 - 2 * np.clip(knobs.get("breath_flip", np.zeros(n)), 0, 1))
        breath = breath_waveform(t, direction, r_phy)
        exertion = np.convolve(activity, np.ones(int(2 * fps)) / int(2 * fps), mode="same")
        hr = heart_rate(t, exertion, subj.hr_rest, r_phy)
    return emg, hr, breath


def rep_context(trial: SimTrial, rep: SimRep, phase: str) -> tuple[np.ndarray, dict]:
    """Joints of one repetition's ``phase`` window (``preparation`` = the whole repetition) and the context the
    measures of :mod:`flexaqa.synth.errors` read."""
    from flexaqa.synth.emg import side_channels

    spans = {name: (a, b) for name, a, b in rep.phases}
    a, b = (rep.start, rep.end) if phase == "preparation" else spans[phase]
    fps = trial.fps
    i0, i1 = int(np.ceil(a * fps)), int(np.ceil(b * fps))
    j = trial.joints[i0:i1].astype(float)
    prog = PROGRAMS[trial.action.slug]
    r0, r1 = int(np.ceil(rep.start * fps)), int(np.ceil(rep.end * fps))
    e0, e1 = spans["eccentric"]
    left, right = side_channels(trial.action)
    k0, k1 = int(a * trial.emg_rate), int(b * trial.emg_rate)
    emg = trial.emg[k0:k1].astype(float)
    env = np.abs(emg[:, left + right]).mean(-1) if len(emg) else np.zeros(1)
    env = np.convolve(env, np.ones(100) / 100, mode="same") if len(env) > 100 else env
    q0, q1 = int(a * trial.physio_rate), int(b * trial.physio_rate)
    return j, {
        "fps": fps,
        "p": trial.progress[i0:i1],
        "primary": primary_height(prog, trial.joints[r0:r1].astype(float)),
        "primary_kind": prog.primary,
        "end": min(max(int(np.ceil(b * fps)) - i0 - 1, 0), max(len(j) - 1, 0)),
        "primary_ecc": primary_height(
            prog, trial.joints[int(np.ceil(e0 * fps)) : int(np.ceil(e1 * fps))].astype(float)
        ),
        "breath": trial.breath[q0:q1],
        "emg": emg,
        "emg_env": env,
        "emg_rate": trial.emg_rate,
        "left_ch": left,
        "right_ch": right,
    }


def measure_error(trial: SimTrial, rep: SimRep, slot_id: str) -> np.ndarray:
    """The signature of ``slot_id``'s error type (its :data:`~flexaqa.synth.errors.MEASURES` entry) in ``rep``."""
    slot = next(s for s in trial.action.slots if s.id == slot_id)
    j, ctx = rep_context(trial, rep, slot.phase)
    return np.asarray(MEASURES[ERROR_SPECS[slot.error].measure](j, ctx), float)
