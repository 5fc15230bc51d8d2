"""The ``keysteps`` pose feature: coach-rule margins per repetition, consistent with the coach's decisions."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.aqa import AQAError
from flexaqa.aqa.features import FeatureSpec, cache_configs, extract_features
from flexaqa.aqa.keysteps import keystep_margins, rule_names
from flexaqa.coach import analyse_pose, synthetic_set


@pytest.mark.parametrize(("action", "slot"), [("squat", "AK44:ET039"), ("barbell-biceps-curl", "AK08:ET023")])
def test_margins_agree_with_the_coach(action, slot):
    s = synthetic_set(action, n_reps=2, errors=[(), (slot,)])
    report = analyse_pose(s.pose, action, reps=s.reps)
    names = [n.split()[0] for n in rule_names(action)]
    for rep, out in zip(s.reps, report["repetitions"], strict=True):
        f = keystep_margins(s.pose.joints, s.pose.t, action, rep.start, rep.end, list(rep.phases))
        r = len(names)
        assert f.shape == (2 * r,) and f.dtype == np.float32
        assert f[r:].min() == 1.0  # a clean 3D pose: every rule is assessed
        assert {names[k] for k in np.flatnonzero(f[:r] > 0)} == set(out["detected"])
    assert slot in out["detected"]  # the faulty repetition is the last one


def test_rule_slot_mask_is_the_coach_decision():
    from flexaqa.aqa.keysteps import rule_slot_mask
    from flexaqa.kg import load_kg

    act = load_kg().action("squat")
    s = synthetic_set("squat", n_reps=2, errors=[(), ("AK44:ET039",)])
    feats = np.stack(
        [keystep_margins(s.pose.joints, s.pose.t, act, r.start, r.end, list(r.phases)) for r in s.reps]
    )
    mask = rule_slot_mask(feats, act)
    assert mask.shape == (2, len(act.slots))
    assert mask[0].sum() == 0 and mask[1][[x.id for x in act.slots].index("AK44:ET039")] == 1
    with pytest.raises(ValueError, match="--pose keysteps"):
        rule_slot_mask(feats[:, :3], act)


def test_without_phases_phase_rules_are_unassessed():
    s = synthetic_set("squat", n_reps=1)
    rep = s.reps[0]
    with_phases = keystep_margins(s.pose.joints, s.pose.t, "squat", rep.start, rep.end, list(rep.phases))
    without = keystep_margins(s.pose.joints, s.pose.t, "squat", rep.start, rep.end, [])
    r = len(with_phases) // 2
    assert without[r:].sum() < with_phases[r:].sum()
    assert np.all(without[:r][without[r:] == 0] == 0)  # unassessed rules carry no margin


def test_keysteps_feature_through_the_cache(tmp_path):
    from flexaqa.data import open_dataset
    from flexaqa.testing import make_tiny_dataset

    make_tiny_dataset(tmp_path / "d", subjects=("P01", "N01"), actions=("squat",), reps=2)
    source = open_dataset(tmp_path / "d")
    ids = [r.id for r in source.records]
    spec = FeatureSpec(pose="keysteps+stats")
    assert "rules" in cache_configs(spec)["pose"][1]  # edited rules never read stale margins
    feats = extract_features(source, ids, spec, keys=("pose",), progress=False)["pose"]
    stats = extract_features(source, ids, FeatureSpec(pose="stats"), keys=("pose",), progress=False)["pose"]
    r = len(rule_names("squat"))
    assert feats.shape == (len(ids), 2 * r + stats.shape[1])
    np.testing.assert_allclose(feats[:, 2 * r :], stats, rtol=1e-6)
    assert np.isfinite(feats).all() and np.abs(feats[:, :r]).max() <= 5.0


def test_end_to_end_refuses_fixed_pose_features():
    from flexaqa.aqa.endtoend import EndToEndSpec

    with pytest.raises(AQAError, match="nothing to fine-tune"):
        EndToEndSpec(pose="keysteps")
