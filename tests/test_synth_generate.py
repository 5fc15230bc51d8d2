"""End to end: the synthetic dataset is deterministic, valid in both layouts, labelled synthetic, and has
FLEX-like statistics on a small run."""

import json
from collections import Counter

import numpy as np
import pytest

from flexaqa.data.schema import FLEX_SUBJECT_IDS
from flexaqa.kg import load_kg
from flexaqa.synth import SYNTHETIC_NOTICE, SynthConfig, generate, make_roster, simulate_trial, subject_ids
from flexaqa.synth.subjects import BAR_KG

KG = load_kg()


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _cfg(out, **kw):
    base = dict(subjects=2, actions=("squat", "A07"), reps=2, video=False, seed=3)
    base.update(kw)
    return SynthConfig(out=str(out), **base)


def test_roster_matches_flex():
    assert len(FLEX_SUBJECT_IDS) == 38
    assert subject_ids() == FLEX_SUBJECT_IDS
    assert Counter(s[0] for s in subject_ids(6)) == {"P": 2, "A": 2, "N": 2}
    roster = make_roster(FLEX_SUBJECT_IDS, seed=0)
    for s in roster:
        assert 150 < s.subject.height_cm < 200
        for act in KG.actions:
            load = s.subject.loads_kg[act.slug]
            assert load <= s.one_rm[act.slug] * 0.8 + 2.5  # 80% of the maximum, rounded to real plates
            if act.equipment == "barbell":
                assert load >= BAR_KG and load % 2.5 == 0
    dl = {
        lvl: np.mean([s.subject.loads_kg["deadlift"] for s in roster if s.skill == lvl])
        for lvl in ("expert", "novice")
    }
    assert dl["expert"] > dl["novice"]


def test_same_seed_same_files_other_seed_differs(tmp_path):
    generate(_cfg(tmp_path / "a"), progress=False)
    generate(_cfg(tmp_path / "b"), progress=False)
    generate(_cfg(tmp_path / "c", seed=4), progress=False)
    fa, fb, fc = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    fa.pop("synth.json"), fb.pop("synth.json"), fc.pop("synth.json")  # holds timings
    assert fa == fb
    assert fa["trials/P01-A16/pose.npy"] != fc["trials/P01-A16/pose.npy"]


@pytest.mark.parametrize("layout", ["native", "release"])
def test_generated_dataset_validates(tmp_path, layout):
    pytest.importorskip("av")  # H.264 video: the [video] extra
    from flexaqa.data.validate import validate_dataset

    out = tmp_path / layout
    s = generate(
        _cfg(out, subjects=1, video=True, size=(32, 24), fps=8.0, layout=layout, views=("View-1", "View-2")),
        progress=False,
    )
    assert validate_dataset(out) == []
    assert s["synthetic"] and s["frames_rendered"] > 0
    assert SYNTHETIC_NOTICE in (out / "SYNTHETIC.md").read_text()
    if layout == "native":
        assert "SYNTHETIC" in json.loads((out / "dataset.json").read_text())["description"]
        truth = json.loads((out / "trials" / "P01-A16" / "synth.json").read_text())
        assert truth["synthetic"] and len(truth["reps"]) == 2


def test_small_run_statistics():
    """120 trials (6 subjects x 20 actions x 10 reps): FLEX-like scores, durations, error list, cleaning."""
    roster = make_roster(subject_ids(6), seed=0)
    scores, frames, errors, dropped, n = [], [], Counter(), 0, 0
    by_skill, n_true = {}, np.zeros(10)
    for subj in roster:
        for act in KG.actions:
            tr = simulate_trial(subj, act, reps=10, seed=0, with_signals=False)
            for i, r in enumerate(tr.reps):
                n += 1
                n_true[i] += len(r.true)
                by_skill.setdefault(subj.skill, []).append(r.true_score)
                if r.dropped:
                    dropped += 1
                    continue
                scores.append(r.score)
                frames.append((r.end - r.start) * 120)
                errors.update(s.split(":")[1] for s in r.vote)
    scores, frames = np.array(scores), np.array(frames)
    assert 62 < scores.mean() < 75  # FLEX: 68.15
    assert scores.max() == 100 and scores.min() < 40
    assert 10 < scores.std() < 22
    assert abs(np.median(scores) - scores.mean()) < 5  # roughly symmetric
    assert 205 < frames.mean() < 265  # FLEX: 233.76 frames at 120 fps
    assert frames.min() >= 100 and frames.max() <= 1000
    assert dropped / n < 0.035
    top = [e for e, _ in errors.most_common(20)]
    assert {"ET014", "ET017", "ET018"} & set(top[:8])  # breathing and tempo errors are common
    assert not {"ET052", "ET056", "ET063"} & set(top[:5])  # rarer joint-safety faults are not at the top
    mean = {k: np.mean(v) for k, v in by_skill.items()}
    assert mean["expert"] > mean["amateur"] + 4 > mean["novice"] + 8  # skill lowers the error rate
    assert n_true[-3:].sum() > 1.15 * n_true[:3].sum()  # fatigue raises it over the repetitions


def test_cli(tmp_path, capsys):
    from flexaqa.cli import main

    out = tmp_path / "cli"
    rc = main(
        [
            "synth",
            "--out",
            str(out),
            "--subjects",
            "1",
            "--actions",
            "1,squat",
            "--reps",
            "1",
            "--no-video",
            "--quiet",
        ]
    )
    assert rc == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    assert (out / "manifest.csv").exists()
    assert main(["synth", "--out", str(out), "--size", "31x20"]) == 2  # odd sizes cannot be H.264
    assert main(["synth"]) == 2  # --out is required to generate
    assert main(["synth", "--out", str(out), "--no-video"]) == 73  # never mixes with an existing dataset
    capsys.readouterr()
    assert main(["synth", "--list-errors"]) == 0
    listing = capsys.readouterr().out
    assert all(f"ET{i:03d}" in listing for i in range(1, 64))


def test_synth_trial_fixture_carries_truth():
    from flexaqa.testing import synth_trial

    # frames are rendered in memory (no encoding), so this needs no extra
    trial, sim = synth_trial("A01", reps=1, errors=[{"AK01:ET001": 1.0}], video=True, size=(32, 24))
    assert set(sim.reps[0].true) == {"AK01:ET001"}
    assert trial.pose.data.shape[1:] == (21, 3) and trial.emg.rate == 2000
    assert trial.frames["View-1"].shape[1:] == (24, 32, 3)
    assert trial.views[0].camera is not None
    uv = trial.views[0].camera.project(trial.pose.data[:1])  # the body is in the picture
    assert np.all((uv >= 0) & (uv < [32, 24]))
