"""The FLEX simulator: a physically plausible *synthetic* FLEX dataset (see ``docs/simulator.md``).

>>> from flexaqa.synth import make_roster, simulate_trial
>>> subject = make_roster(["P01"], seed=0)[0]
>>> trial = simulate_trial(subject, "squat", reps=2)
>>> trial.joints.shape[1:], len(trial.reps)
((21, 3), 2)

Names load lazily (PEP 562), so ``import flexaqa.synth`` and the ``flexaqa`` parser do not import SciPy. The
light :mod:`flexaqa.synth.generate` is imported here: its function ``generate`` must win over the submodule of the
same name.
"""

from __future__ import annotations

import importlib

from flexaqa.synth.generate import (
    SYNTHETIC_NOTICE,
    SynthConfig,
    SynthError,
    config_for_scale,
    generate,
    synth_trial,
)

_EXPORTS = {
    "ERROR_SPECS": "flexaqa.synth.errors",
    "MEASURES": "flexaqa.synth.errors",
    "ErrorSpec": "flexaqa.synth.errors",
    "error_table": "flexaqa.synth.errors",
    "PROGRAMS": "flexaqa.synth.kinematics",
    "Program": "flexaqa.synth.kinematics",
    "pose": "flexaqa.synth.kinematics",
    "SimRep": "flexaqa.synth.simulate",
    "SimTrial": "flexaqa.synth.simulate",
    "measure_error": "flexaqa.synth.simulate",
    "simulate_trial": "flexaqa.synth.simulate",
    "SimSubject": "flexaqa.synth.subjects",
    "make_roster": "flexaqa.synth.subjects",
    "make_subject": "flexaqa.synth.subjects",
    "subject_ids": "flexaqa.synth.subjects",
}

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


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flexaqa.synth' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
