"""sEMG, heart rate and breath of the simulator follow phases, load, fatigue and breathing errors."""

import numpy as np

from flexaqa.kg import load_kg
from flexaqa.signal import median_frequency
from flexaqa.synth import make_roster, simulate_trial
from flexaqa.synth.emg import side_channels
from flexaqa.timebase import EMG_HZ

KG = load_kg()
SUBJECT = make_roster(["N03"], seed=2)[0]


def _window(trial, rep, phase):
    return next((a, b) for n, a, b in rep.phases if n == phase)


def test_emg_has_the_actions_channels_at_2000_hz():
    for slug in ("squat", "dumbbell-bent-over-row", "dumbbell-fly"):
        tr = simulate_trial(SUBJECT, slug, reps=2, seed=0)
        assert tr.emg_rate == EMG_HZ
        assert tr.emg.shape[1] == len(KG.action(slug).emg_channels)
        assert abs(len(tr.emg) / EMG_HZ - tr.duration) < 0.01
        assert np.isfinite(tr.emg).all()


def test_emg_envelope_follows_phases():
    tr = simulate_trial(SUBJECT, "dumbbell-biceps-curl", reps=4, seed=0, errors=[{}] * 4)
    agon = tr.emg[:, 0].astype(float)
    ratio = []
    for rep in tr.reps:
        rms = {}
        for ph in ("preparation", "concentric", "eccentric"):
            a, b = _window(tr, rep, ph)
            rms[ph] = np.sqrt(np.mean(agon[int(a * EMG_HZ) : int(b * EMG_HZ)] ** 2))
        assert rms["concentric"] > rms["eccentric"] > rms["preparation"]
        ratio.append(rms["concentric"] / rms["preparation"])
    assert min(ratio) > 1.5
    # the antagonist (triceps) stays quieter than the agonist (biceps)
    labels = [c.muscle for c in tr.action.emg_channels]
    tri = labels.index("triceps brachii")
    assert np.sqrt(np.mean(tr.emg[:, tri] ** 2)) < 0.6 * np.sqrt(np.mean(agon**2))


def test_fatigue_lowers_median_frequency():
    tr = simulate_trial(SUBJECT, "squat", reps=10, seed=1, errors=[{}] * 10)
    mdf = []
    for rep in tr.reps:
        a, b = _window(tr, rep, "concentric")
        mdf.append(float(median_frequency(tr.emg[int(a * EMG_HZ) : int(b * EMG_HZ), 0], EMG_HZ)))
    assert np.mean(mdf[-3:]) < np.mean(mdf[:3]) - 5
    assert np.polyfit(np.arange(10), mdf, 1)[0] < 0


def test_one_arm_dominates_gives_asymmetry():
    act = KG.action("flat-barbell-bench-press")
    slot = act.slots_of("ET043")[0].id
    left, right = side_channels(act)
    logs = []
    for errs in ({}, {slot: 1.0}):
        tr = simulate_trial(SUBJECT, act, reps=1, seed=0, errors=[errs])
        a, b = _window(tr, tr.reps[0], "concentric")
        e = tr.emg[int(a * EMG_HZ) : int(b * EMG_HZ)]
        logs.append(np.log(np.sqrt(np.mean(e[:, left] ** 2)) / np.sqrt(np.mean(e[:, right] ** 2))))
    assert abs(logs[0]) < 0.25 and abs(logs[1]) > 0.4


def test_breath_follows_keysteps_and_errors_flip_it():
    act = KG.action("barbell-biceps-curl")
    inhale_con = act.slots_of("ET014")[0].id
    for errs, sign in (({}, -1), ({inhale_con: 1.0}, +1)):
        tr = simulate_trial(SUBJECT, act, reps=1, seed=0, errors=[errs])
        rep = tr.reps[0]
        a, b = _window(tr, rep, "concentric")
        br = tr.breath[int(a * tr.physio_rate) : int(b * tr.physio_rate)]
        assert np.sign(br[-1] - br[0]) == sign  # exhale (falls) in the concentric phase unless ET014
        a, b = _window(tr, rep, "eccentric")
        br = tr.breath[int(a * tr.physio_rate) : int(b * tr.physio_rate)]
        assert br[-1] > br[0]  # inhale in the eccentric phase


def test_heart_rate_rises_with_exertion():
    tr = simulate_trial(SUBJECT, "deadlift", reps=10, seed=0)
    hr = tr.heart_rate
    n = int(2 * tr.physio_rate)
    assert hr[-n:].mean() > hr[:n].mean() + 5
    assert hr.min() > 40 and hr.max() < 200
