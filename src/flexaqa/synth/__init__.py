"""The FLEX simulator: a physically plausible *synthetic* FLEX dataset (see ``docs/simulator.md``).

>>> from flexaqa.synth import make_roster, simulate_trial
>>> subject = make_roster(["P01"], seed=0)[0]
>>> trial = simulate_trial(subject, "squat", reps=2)
>>> trial.joints.shape[1:], len(trial.reps)
((21, 3), 2)
"""

from flexaqa.synth.errors import ERROR_SPECS, MEASURES, ErrorSpec, error_table
from flexaqa.synth.generate import (
    SYNTHETIC_NOTICE,
    SynthConfig,
    SynthError,
    config_for_scale,
    generate,
    synth_trial,
)
from flexaqa.synth.kinematics import PROGRAMS, Program, pose
from flexaqa.synth.simulate import SimRep, SimTrial, measure_error, simulate_trial
from flexaqa.synth.subjects import SimSubject, make_roster, make_subject, subject_ids

__all__ = [
    "ERROR_SPECS",
    "MEASURES",
    "PROGRAMS",
    "SYNTHETIC_NOTICE",
    "ErrorSpec",
    "Program",
    "SimRep",
    "SimSubject",
    "SimTrial",
    "SynthConfig",
    "SynthError",
    "config_for_scale",
    "error_table",
    "generate",
    "make_roster",
    "make_subject",
    "measure_error",
    "pose",
    "simulate_trial",
    "subject_ids",
    "synth_trial",
]
