"""Every FLEX error type has a documented signature that the simulator really produces (all 63)."""

import numpy as np
import pytest

from flexaqa.kg import load_kg
from flexaqa.synth import ERROR_SPECS, MEASURES, make_roster, measure_error, simulate_trial
from flexaqa.synth.errors import SHAPES

KG = load_kg()
SUBJECT = make_roster(["A02"], seed=11)[0]


def _slots(code):
    return [(a, s) for a in KG.actions for s in a.slots_of(code)]


def test_specs_cover_the_knowledge_graph():
    assert set(ERROR_SPECS) == set(KG.errors)
    for spec in ERROR_SPECS.values():
        assert spec.measure in MEASURES
        assert spec.signature and spec.threshold > 0
        assert all(e.shape in SHAPES for e in spec.effects)
        assert spec.modality.split("+")[0] in ("pose", "timing", "sEMG", "breath")


@pytest.mark.parametrize("code", sorted(ERROR_SPECS))
def test_error_changes_its_signal(code):
    spec = ERROR_SPECS[code]
    slots = _slots(code)
    assert slots, f"{code} belongs to no action"
    # the first and the last action listing the error (different equipment / posture where possible)
    for act, slot in {id(x): x for x in (slots[0], slots[-1])}.values():
        clean = simulate_trial(SUBJECT, act, reps=1, seed=4, errors=[{}])
        bad = simulate_trial(SUBJECT, act, reps=1, seed=4, errors=[{slot.id: 1.0}])
        m0 = measure_error(clean, clean.reps[0], slot.id)
        m1 = measure_error(bad, bad.reps[0], slot.id)
        change = float(np.linalg.norm(m1 - m0))
        assert change >= spec.threshold, f"{code} in {act.slug} {slot.id}: {spec.measure} moved {change:.3f}"


def test_severity_scales_the_signature():
    act = KG.action("squat")
    slot = act.slots_of("ET056")[0]
    clean = simulate_trial(SUBJECT, act, reps=1, seed=4, errors=[{}])
    m0 = measure_error(clean, clean.reps[0], slot.id)
    changes = []
    for sev in (0.3, 0.6, 1.0):
        tr = simulate_trial(SUBJECT, act, reps=1, seed=4, errors=[{slot.id: sev}])
        changes.append(float(np.linalg.norm(measure_error(tr, tr.reps[0], slot.id) - m0)))
    assert changes[0] < changes[1] < changes[2]


def test_forced_errors_are_the_truth_and_scored_by_the_fkg():
    act = KG.action("A01")
    slots = ["AK01:ET001", "AK02:ET006", "AK04:ET005"]
    tr = simulate_trial(SUBJECT, act, reps=1, seed=0, errors=[dict.fromkeys(slots, 1.0)])
    rep = tr.reps[0]
    assert set(rep.true) == set(slots)
    from flexaqa.kg import score

    assert rep.true_score == pytest.approx(score(act, slots).score)
    assert rep.score == pytest.approx(score(act, rep.vote).score)
    assert len(rep.raw) == 3
    for s in rep.vote:  # the vote keeps only slots at least two annotators marked
        assert sum(s in r for r in rep.raw) >= 2
