"""Exercise sets with known repetitions and injected errors for the coach's tests and benchmarks, taken from
the FLEX simulator (:func:`flexaqa.synth.simulate.simulate_trial`), plus a panned-photo clip for the video path.

The coach has no motion generator of its own: :func:`synthetic_set` runs the simulator with the error slots
forced (severity 1) and wraps its 3D pose and true repetitions as a :class:`SyntheticSet`, so the detectors are
checked against the same documented error signatures (``docs/simulator.md``) as every other module.

>>> s = synthetic_set("squat", n_reps=2, errors=[(), ("AK44:ET056",)])
>>> len(s.reps), s.errors[1]
(2, ('AK44:ET056',))
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from flexaqa.kg import load_kg
from flexaqa.pose_rules.sequence import PoseSequence, Rep
from flexaqa.synth.subjects import make_roster

# Slots whose simulator signature at severity 1 breaks the coach's keystep threshold, per action (all 20): the
# cases of "every detector fires on its error and stays silent on a clean repetition". Checked by
# tests/test_coach_rules.py and benchmarks/bench_coach.py. Every other slot with a rule is in SYNTH_LEFT_OUT with
# its reason: slots the simulator injects in a way the pose cannot show at the keystep, and set-up slots whose
# effect fades in during the last frames of the previous repetition (docs/coach.md, "Where false alarms came
# from, and what the simulator can and cannot show").
SYNTH_SLOTS: dict[str, tuple[str, ...]] = {
    "standing-barbell-overhead-press": (
        "AK01:ET001",
        "AK01:ET004",
        "AK02:ET007",
        "AK03:ET010",
        "AK03:ET011",
        "AK03:ET013",
        "AK04:ET003",
        "AK04:ET005",
        "AK04:ET008",
        "AK04:ET013",
        "AK04:ET015",
        "AK04:ET016",
        "AK05:ET003",
        "AK05:ET011",
        "AK05:ET013",
        "AK05:ET018",
        "AK05:ET019",
    ),
    "barbell-biceps-curl": (
        "AK01:ET001",
        "AK01:ET004",
        "AK06:ET007",
        "AK07:ET008",
        "AK07:ET021",
        "AK08:ET003",
        "AK08:ET005",
        "AK08:ET015",
        "AK08:ET022",
        "AK08:ET023",
        "AK09:ET008",
        "AK09:ET018",
        "AK09:ET020",
    ),
    "barbell-upright-row": (
        "AK01:ET001",
        "AK01:ET004",
        "AK02:ET007",
        "AK02:ET008",
        "AK11:ET005",
        "AK11:ET015",
        "AK11:ET024",
        "AK11:ET025",
        "AK12:ET003",
        "AK12:ET008",
        "AK12:ET018",
    ),
    "dumbbell-front-raise": (
        "AK01:ET001",
        "AK01:ET003",
        "AK01:ET004",
        "AK13:ET008",
        "AK14:ET005",
        "AK14:ET008",
        "AK14:ET015",
        "AK14:ET022",
        "AK14:ET027",
        "AK14:ET028",
        "AK15:ET008",
        "AK15:ET018",
    ),
    "dumbbell-biceps-curl": (
        "AK01:ET001",
        "AK01:ET004",
        "AK07:ET008",
        "AK07:ET021",
        "AK17:ET003",
        "AK17:ET005",
        "AK17:ET015",
        "AK17:ET022",
        "AK17:ET029",
        "AK18:ET008",
        "AK18:ET018",
        "AK18:ET020",
    ),
    "dumbbell-lateral-raise": (
        "AK01:ET001",
        "AK01:ET003",
        "AK01:ET004",
        "AK19:ET008",
        "AK19:ET031",
        "AK20:ET005",
        "AK20:ET008",
        "AK20:ET015",
        "AK20:ET022",
        "AK20:ET027",
        "AK15:ET008",
        "AK15:ET018",
    ),
    "bent-over-dumbbell-reverse-fly": (
        "AK21:ET001",
        "AK21:ET032",
        "AK21:ET033",
        "AK22:ET008",
        "AK23:ET008",
        "AK23:ET027",
        "AK23:ET034",
        "AK23:ET035",
        "AK15:ET008",
        "AK15:ET018",
    ),
    "flat-barbell-bench-press": (
        "AK24:ET036",
        "AK25:ET007",
        "AK26:ET018",
        "AK26:ET038",
        "AK26:ET039",
        "AK27:ET008",
        "AK27:ET040",
        "AK27:ET041",
        "AK27:ET042",
        "AK27:ET043",
        "AK27:ET044",
    ),
    "incline-barbell-bench-press": (
        "AK28:ET036",
        "AK25:ET007",
        "AK26:ET018",
        "AK26:ET019",
        "AK26:ET038",
        "AK27:ET008",
        "AK27:ET040",
        "AK27:ET041",
        "AK27:ET042",
        "AK27:ET043",
        "AK27:ET044",
    ),
    "decline-barbell-bench-press": (
        "AK29:ET036",
        "AK25:ET007",
        "AK26:ET018",
        "AK26:ET038",
        "AK26:ET039",
        "AK27:ET008",
        "AK27:ET040",
        "AK27:ET041",
        "AK27:ET042",
        "AK27:ET043",
        "AK27:ET044",
    ),
    "flat-dumbbell-bench-press": (
        "AK24:ET036",
        "AK24:ET037",
        "AK31:ET008",
        "AK31:ET040",
        "AK31:ET041",
        "AK31:ET042",
        "AK31:ET046",
        "AK31:ET047",
        "AK31:ET048",
        "AK32:ET004",
        "AK32:ET018",
        "AK32:ET038",
        "AK32:ET049",
    ),
    "incline-dumbbell-bench-press": (
        "AK28:ET036",
        "AK28:ET037",
        "AK30:ET011",
        "AK31:ET008",
        "AK31:ET040",
        "AK31:ET041",
        "AK31:ET042",
        "AK31:ET046",
        "AK31:ET047",
        "AK31:ET048",
        "AK32:ET004",
        "AK32:ET018",
        "AK32:ET038",
        "AK32:ET049",
    ),
    "dumbbell-fly": (
        "AK24:ET036",
        "AK34:ET018",
        "AK34:ET027",
        "AK34:ET049",
        "AK34:ET050",
        "AK35:ET040",
        "AK35:ET041",
        "AK35:ET042",
        "AK35:ET047",
    ),
    "seated-dumbbell-shoulder-press": (
        "AK36:ET004",
        "AK36:ET036",
        "AK36:ET037",
        "AK37:ET011",
        "AK38:ET008",
        "AK38:ET041",
        "AK38:ET042",
        "AK38:ET046",
        "AK38:ET047",
        "AK38:ET048",
        "AK39:ET018",
        "AK39:ET049",
        "AK39:ET050",
    ),
    "deadlift": (
        "AK01:ET001",
        "AK01:ET004",
        "AK40:ET051",
        "AK41:ET005",
        "AK41:ET025",
        "AK41:ET044",
        "AK41:ET063",
        "AK42:ET018",
        "AK42:ET063",
    ),
    "squat": (
        "AK56:ET061",
        "AK56:ET003",
        "AK56:ET004",
        "AK43:ET010",
        "AK44:ET005",
        "AK44:ET033",
        "AK44:ET039",
        "AK44:ET055",
        "AK44:ET056",
        "AK45:ET032",
    ),
    "barbell-bent-over-row": (
        "AK01:ET001",
        "AK01:ET004",
        "AK46:ET007",
        "AK46:ET032",
        "AK46:ET033",
        "AK47:ET008",
        "AK48:ET004",
        "AK48:ET005",
        "AK48:ET038",
        "AK48:ET043",
        "AK48:ET044",
        "AK49:ET018",
        "AK49:ET039",
    ),
    "t-bar-row": (
        "AK01:ET001",
        "AK01:ET004",
        "AK46:ET032",
        "AK47:ET008",
        "AK47:ET010",
        "AK48:ET004",
        "AK48:ET005",
        "AK48:ET043",
        "AK48:ET044",
        "AK49:ET018",
        "AK49:ET039",
    ),
    "dumbbell-bent-over-row": (
        "AK01:ET001",
        "AK01:ET004",
        "AK50:ET032",
        "AK50:ET033",
        "AK51:ET005",
        "AK51:ET015",
        "AK51:ET021",
        "AK51:ET047",
        "AK51:ET048",
        "AK52:ET003",
        "AK52:ET008",
        "AK52:ET018",
        "AK52:ET049",
        "AK52:ET050",
    ),
    "dumbbell-bent-over-triceps-extension": (
        "AK01:ET001",
        "AK01:ET004",
        "AK50:ET013",
        "AK50:ET032",
        "AK50:ET033",
        "AK53:ET021",
        "AK54:ET005",
        "AK54:ET015",
        "AK54:ET021",
        "AK54:ET047",
        "AK54:ET048",
        "AK54:ET060",
        "AK55:ET018",
        "AK55:ET049",
        "AK55:ET050",
        "AK55:ET059",
    ),
}

# Why a slot with a keystep rule is not in SYNTH_SLOTS: each reason is checked by tests/test_coach_rules.py, and
# the sizes of both tables are pinned there, so a slot cannot leave SYNTH_SLOTS (hiding a regression) unnoticed.
SILENT = "the simulator's signature at severity 1 stays inside the keystep rule's threshold: the rule does not fire"
FADES_IN = (
    "a set-up error: its simulated effect fades in over the last frames of the previous repetition, where it "
    "makes that clean repetition's end-of-repetition keystep fire"
)
SYNTH_LEFT_OUT: dict[str, dict[str, str]] = {
    "standing-barbell-overhead-press": {"AK01:ET003": FADES_IN},
    "barbell-biceps-curl": {"AK01:ET003": FADES_IN, "AK07:ET020": SILENT, "AK08:ET019": SILENT},
    "barbell-upright-row": {"AK01:ET003": FADES_IN, "AK10:ET010": SILENT, "AK11:ET019": SILENT},
    "dumbbell-biceps-curl": {"AK01:ET003": FADES_IN, "AK07:ET020": SILENT, "AK17:ET028": SILENT},
    "dumbbell-lateral-raise": {"AK20:ET028": SILENT},
    "flat-barbell-bench-press": {"AK24:ET004": FADES_IN, "AK24:ET037": FADES_IN, "AK26:ET019": SILENT},
    "incline-barbell-bench-press": {"AK28:ET004": FADES_IN, "AK28:ET037": FADES_IN, "AK26:ET039": SILENT},
    "decline-barbell-bench-press": {"AK29:ET004": FADES_IN, "AK29:ET037": FADES_IN, "AK26:ET019": SILENT},
    "flat-dumbbell-bench-press": {
        "AK24:ET004": FADES_IN,
        "AK30:ET011": SILENT,
        "AK30:ET045": SILENT,
        "AK32:ET011": SILENT,
    },
    "incline-dumbbell-bench-press": {"AK28:ET004": FADES_IN, "AK30:ET045": SILENT, "AK32:ET011": SILENT},
    "dumbbell-fly": {
        "AK24:ET004": FADES_IN,
        "AK24:ET037": FADES_IN,
        "AK33:ET008": SILENT,
        "AK33:ET045": SILENT,
        "AK34:ET008": SILENT,
        "AK35:ET008": SILENT,
        "AK35:ET046": SILENT,
        "AK35:ET048": SILENT,
    },
    "seated-dumbbell-shoulder-press": {"AK37:ET013": SILENT, "AK38:ET040": SILENT},
    "deadlift": {
        "AK40:ET007": SILENT,
        "AK40:ET058": SILENT,
        "AK41:ET052": SILENT,
        "AK41:ET062": SILENT,
        "AK42:ET054": SILENT,
        "AK42:ET062": SILENT,
    },
    "squat": {"AK43:ET007": SILENT, "AK45:ET052": SILENT},
    "barbell-bent-over-row": {"AK47:ET010": SILENT, "AK47:ET013": SILENT},
    "t-bar-row": {"AK46:ET033": SILENT, "AK47:ET013": SILENT, "AK48:ET038": SILENT},
    "dumbbell-bent-over-row": {"AK50:ET013": SILENT, "AK51:ET058": SILENT},
    "dumbbell-bent-over-triceps-extension": {
        "AK53:ET011": SILENT,
        "AK53:ET059": SILENT,
        "AK54:ET020": SILENT,
    },
}


@dataclass
class SyntheticSet:
    """A simulated set: the pose, the true repetitions and, per repetition, the injected error slots."""

    action: str
    pose: PoseSequence
    reps: list[Rep]
    errors: list[tuple[str, ...]]

    def segmenter(self, pose: PoseSequence | None = None, action=None) -> list[Rep]:
        """A segmenter that returns the true repetitions (plug it into the coach in tests)."""
        return list(self.reps)


def _slot_id(act, e: str) -> str:
    """``AK44:ET056`` as given, or the action's single slot of a bare ``ET056``."""
    ids = [s.id for s in act.slots]
    if ":" in e:
        if e not in ids:
            raise ValueError(f"{e} is not a slot of {act.name}; slots: {', '.join(ids)}")
        return e
    cands = [i for i in ids if i.endswith(":" + e)]
    if len(cands) != 1:
        raise ValueError(f"{e}: give a slot (AKxx:{e}) of {act.name}; candidates {cands}")
    return cands[0]


def synthetic_set(
    action: str = "squat",
    *,
    n_reps: int = 3,
    errors: Sequence[Iterable[str]] | Iterable[str] = (),
    fps: float = 30.0,
    noise: float = 0.0,
    seed: int = 0,
    subject: str = "N01",
) -> SyntheticSet:
    """``n_reps`` simulated repetitions of ``action`` by ``subject`` with the error slots in ``errors``.

    ``errors`` is either one list of slots for every repetition or one list per repetition; each slot is
    injected at severity 1 and every other slot is absent. ``noise`` adds Gaussian jitter (m) to the joints.
    """
    from flexaqa.synth.simulate import simulate_trial

    kg = load_kg()
    act = kg.action(action)
    errors = list(errors)
    per_rep = (
        [tuple(e) for e in errors] if errors and not isinstance(errors[0], str) else [tuple(errors)] * n_reps
    )
    if len(per_rep) != n_reps:
        raise ValueError(f"errors has {len(per_rep)} entries for {n_reps} repetitions")
    norm = [tuple(_slot_id(act, e) for e in errs) for errs in per_rep]
    sim = simulate_trial(
        make_roster([subject], 0)[0],
        act,
        reps=n_reps,
        seed=seed,
        fps=fps,
        with_signals=False,
        errors=[dict.fromkeys(errs, 1.0) for errs in norm],
        kg=kg,
    )
    joints = sim.joints.astype(float)  # (T, 21, 3)
    if noise:
        joints = joints + np.random.default_rng(seed).normal(0.0, noise, joints.shape)
    n = len(joints)
    pose = PoseSequence(
        t=np.arange(n) / fps,
        joints=joints,
        visibility=np.ones((n, joints.shape[1])),
        present=np.ones(n, bool),
        source="synth",
    )
    reps = [
        Rep(i, r.start, r.end, tuple(p for p in r.phases if p[0] != "preparation"))
        for i, r in enumerate(sim.reps)
    ]
    return SyntheticSet(act.slug, pose, reps, norm)


def sample_photo() -> np.ndarray:
    """Matplotlib's sample photograph of a person (Grace Hopper), ``(600, 512, 3)`` uint8 RGB."""
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
