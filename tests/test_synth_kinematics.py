"""Skeleton sanity of the simulator: constant bones, human joint ranges, feet on the floor, exercise shapes."""

import numpy as np
import pytest

from flexaqa.kg import load_kg
from flexaqa.skeleton import FLEX21_BONES, J, joint_angle
from flexaqa.synth import PROGRAMS, make_roster, simulate_trial
from flexaqa.synth.errors import trunk_pitch

KG = load_kg()
SUBJECTS = make_roster(["P01", "N07"], seed=5)
SLUGS = [a.slug for a in KG.actions]


def _clean(subj, slug, reps=2):
    return simulate_trial(subj, slug, reps=reps, seed=1, errors=[{}] * reps, with_signals=False)


def test_every_action_has_a_program():
    assert set(PROGRAMS) == set(SLUGS)


@pytest.mark.parametrize("slug", SLUGS)
def test_bone_lengths_constant_with_random_errors(slug):
    for subj in SUBJECTS:
        tr = simulate_trial(subj, slug, reps=3, seed=2, with_signals=False)
        j = tr.joints.astype(float)
        lengths = np.stack([np.linalg.norm(j[:, a] - j[:, b], axis=-1) for a, b in FLEX21_BONES], -1)
        assert np.all(np.ptp(lengths, axis=0) < 1e-4), slug
        assert np.all(lengths.min(0) > 0.02)


@pytest.mark.parametrize("slug", SLUGS)
def test_joint_angles_within_human_limits(slug):
    tr = simulate_trial(SUBJECTS[1], slug, reps=3, seed=3, with_signals=False)
    j = tr.joints.astype(float)
    for s in ("right", "left"):
        elbow = joint_angle(j[:, J[f"{s}_shoulder"]], j[:, J[f"{s}_elbow"]], j[:, J[f"{s}_wrist"]])
        knee = joint_angle(j[:, J[f"{s}_hip"]], j[:, J[f"{s}_knee"]], j[:, J[f"{s}_ankle"]])
        assert elbow.min() >= 20 and elbow.max() <= 180.0 + 1e-6
        assert knee.min() >= 45 and knee.max() <= 180.0 + 1e-6
    assert np.all(j[..., 2] > -1e-6), "nothing goes below the floor"


@pytest.mark.parametrize("slug", [s for s in SLUGS if PROGRAMS[s].posture in ("stand", "bent")])
def test_feet_flat_on_the_floor_when_standing(slug):
    j = _clean(SUBJECTS[0], slug).joints
    feet = j[:, [J["right_heel"], J["right_toe"], J["left_heel"], J["left_toe"]]]
    assert np.abs(feet[..., 2]).max() < 1e-4
    assert np.ptp(feet[..., :2], axis=0).max() < 1e-4  # planted: feet do not slide


def _range(x):
    return float(np.ptp(x))


def test_exercises_look_like_themselves():
    s = SUBJECTS[0]
    sq = _clean(s, "squat").joints
    hip = sq[:, [J["right_hip"], J["left_hip"]], 2].mean(-1)
    knee = joint_angle(sq[:, J["right_hip"]], sq[:, J["right_knee"]], sq[:, J["right_ankle"]])
    assert _range(hip) > 0.25 and knee.min() < 100 and knee.max() > 160  # hips descend, knees flex
    bp = _clean(s, "flat-barbell-bench-press").joints
    assert abs(trunk_pitch(bp).mean() + 90) < 5  # supine
    wrist = bp[:, J["right_wrist"]]
    chest = bp[:, J["spine_shoulder"]]
    assert _range(wrist[:, 2]) > 0.3  # the bar moves vertically...
    assert np.abs(wrist[:, 1] - chest[:, 1]).max() < 0.35  # ...above the chest
    lr = _clean(s, "dumbbell-lateral-raise").joints
    abd = joint_angle(lr[:, J["right_elbow"]], lr[:, J["right_shoulder"]], lr[:, J["right_hip"]])
    assert abd.min() < 35 and abd.max() > 75  # shoulders abduct to about horizontal
    dl = _clean(s, "deadlift").joints
    assert trunk_pitch(dl).max() > 35 and trunk_pitch(dl).min() < 10  # hinge then stand tall


def test_repetitions_follow_kg_phase_order():
    tr = _clean(SUBJECTS[0], "squat", reps=3)
    for r in tr.reps:
        names = [p[0] for p in r.phases]
        assert tuple(names) == KG.action("squat").phase_names
        assert all(a < b for _, a, b in r.phases)
    # squat: eccentric (descent) comes first, so the hips are lowest at the eccentric/concentric boundary
    r = tr.reps[1]
    i = round(r.phases[2][1] * tr.fps)
    hip = tr.joints[:, J["right_hip"], 2]
    i0, i1 = int(r.start * tr.fps), int(r.end * tr.fps)
    assert abs(int(np.argmin(hip[i0:i1])) + i0 - i) < 0.1 * tr.fps


@pytest.mark.parametrize("subj", SUBJECTS, ids=lambda s: s.id)
def test_clean_form_meets_the_keysteps(subj):
    def sep(j, a, b):  # (T,) distance between the left and right joint of a pair
        return np.linalg.norm(j[:, J[f"right_{a}"]] - j[:, J[f"left_{b}"]], axis=-1)

    ur = _clean(subj, "barbell-upright-row").joints  # AK02: slightly wider than shoulder-width
    ratio = sep(ur, "wrist", "wrist") / sep(ur, "shoulder", "shoulder")
    assert ratio.min() > 1.05 and ratio.max() < 1.6
    fly = _clean(subj, "bent-over-dumbbell-reverse-fly")  # AK21: about 40 deg to the ground
    i0, i1 = round(fly.reps[0].start * fly.fps), round(fly.reps[-1].end * fly.fps)
    assert abs(np.median(trunk_pitch(fly.joints[i0:i1])) - 50) < 6
    dl = _clean(subj, "deadlift")  # AK40/AK41: bar over the mid-foot, close to the shins, moving straight up
    r = dl.reps[0]
    i0, i1 = round(r.start * dl.fps), round(r.end * dl.fps)
    bar = dl.joints[i0:i1, [J["right_wrist"], J["left_wrist"]]].mean(1)  # (T, 3)
    ankle = dl.joints[i0:i1, [J["right_ankle"], J["left_ankle"]]].mean(1)
    ahead = bar[:, 1] - ankle[:, 1]
    assert np.abs(ahead).max() < 0.1 and np.ptp(ahead) < 0.1
    elbow = joint_angle(*(dl.joints[i0:i1, J[f"right_{n}"]] for n in ("shoulder", "elbow", "wrist")))
    assert elbow.min() > 140  # straight arms all the way
    sq = _clean(subj, "squat").joints  # AK44: thigh-calf angle slightly below 90 deg at the bottom
    knee = joint_angle(*(sq[:, J[f"right_{n}"]] for n in ("hip", "knee", "ankle")))
    assert 70 < knee.min() < 90
