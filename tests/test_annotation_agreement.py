"""Agreement statistics: exact on hand-made labels, and on the simulator's three annotators they reproduce the
disagreement rates the simulator's detection model implies (``flexaqa.synth.annotate.detection_probability``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flexaqa.annotation import LabelSubmission
from flexaqa.annotation.agreement import agreement_report, write_agreement
from flexaqa.annotation.io import read_submissions
from flexaqa.annotation.store import AnnotationStore
from flexaqa.kg import load_kg
from flexaqa.synth.annotate import ANNOTATORS, detection_probability
from flexaqa.testing import make_tiny_dataset

SENIORS = ("senior-1", "senior-2", "senior-3")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A simulated dataset (no video) whose three annotators' stage-1 labels are imported into a store."""
    from flexaqa.synth.generate import SynthConfig, generate

    root = tmp_path_factory.mktemp("agr") / "sim"
    generate(
        SynthConfig(
            out=str(root),
            subjects=6,
            actions=("squat", "deadlift", "dumbbell-biceps-curl"),
            reps=10,
            video=False,
        ),
        progress=False,
    )
    store = AnnotationStore.create(f"sqlite:///{root / 'annotations.sqlite'}")
    store.init_project(root)
    store.assign(list(ANNOTATORS), list(SENIORS))
    for a in ANNOTATORS:
        store.submit(read_submissions(root, annotator=a))
    return root, store


def test_simulated_annotators_disagree_as_the_simulator_says(simulated, tmp_path):
    root, store = simulated
    kg = load_kg()
    rep = agreement_report(store)
    # the model: an annotator marks a slot with probability p (detection or false positive); a pair of
    # annotators disagrees with probability 2p(1-p); with three raters an item splits with q = 3p(1-p)
    expected: dict[str, list[float]] = {}
    for f in sorted((root / "trials").glob("*/synth.json")):
        truth = json.loads(f.read_text())
        for r in truth["reps"]:
            if r["dropped"]:
                continue
            for s in kg.action(truth["action"]).slots:
                p = detection_probability(s.id, r["true_slots"].get(s.id))
                expected.setdefault(s.error, []).append(p)
    n_checked = 0
    for code, ps in [("overall", [p for v in expected.values() for p in v]), *sorted(expected.items())]:
        p = np.array(ps)
        row = rep.row(code)
        assert row.n_items == len(p)
        q = 3 * p * (1 - p)
        se = np.sqrt(np.sum(4 / 9 * q * (1 - q))) / len(p)  # an item's pairwise disagreement is 0 or 2/3
        want = np.mean(2 * p * (1 - p))
        if len(p) >= 150:
            assert abs(row.disagreement - want) < 4 * se, (code, row.disagreement, want, se)
            n_checked += 1
        assert row.prevalence == pytest.approx(np.mean(p), abs=5 * np.sqrt(np.sum(p * (1 - p)) / 3) / len(p))
    assert n_checked >= 8
    overall = rep.row("overall")
    assert 0.5 < overall.fleiss_kappa < 0.9
    assert overall.krippendorff_alpha == pytest.approx(
        overall.fleiss_kappa, abs=0.01
    )  # large-sample equality
    fkg = rep.scores["fkg"]
    assert 0 < fkg["icc1"] < fkg["icc1k"] < 1 and fkg["krippendorff_alpha"] == pytest.approx(
        fkg["icc1"], abs=0.05
    )
    assert rep.disputed and rep.disputed[0]["n_split"] >= rep.disputed[-1]["n_split"]
    paths = write_agreement(rep, tmp_path / "out")
    assert {p.name for p in paths} == {"agreement.json", "agreement.csv", "agreement.md", "agreement.png"}
    assert json.loads((tmp_path / "out" / "agreement.json").read_text())["rows"][0]["error"] == "overall"
    assert (tmp_path / "out" / "agreement.png").read_bytes()[:4] == b"\x89PNG"


def fleiss_by_hand(table: np.ndarray) -> float:
    """Fleiss (1971) from the (items, categories) count table."""
    n = table.sum(axis=1)[0]
    p_j = table.sum(axis=0) / table.sum()
    p_i = (np.sum(table**2, axis=1) - n) / (n * (n - 1))
    return (p_i.mean() - np.sum(p_j**2)) / (1 - np.sum(p_j**2))


def test_statistics_on_hand_made_labels(tmp_path):
    root = make_tiny_dataset(tmp_path / "d", subjects=("P01", "N01")).root
    store = AnnotationStore.create(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.init_project(root)
    store.assign(["x", "y", "z"], list(SENIORS))
    tasks = store.tasks()
    kg = load_kg()
    rng = np.random.default_rng(1)
    marks = {}
    for t in tasks:
        slots = [s.id for s in kg.action(t.action).slots]
        base = rng.random(len(slots)) < 0.3
        for who in ("x", "y", "z"):
            flip = rng.random(len(slots)) < (0.0 if who == "x" else 0.15)
            marks[(t.sample_id, who)] = [s for s, b in zip(slots, base ^ flip, strict=True) if b]
    store.submit(
        [
            LabelSubmission(w, 1, t.sample_id, tuple(marks[(t.sample_id, w)]), score=50 + 10 * k)
            for t in tasks
            for k, w in enumerate(("x", "y", "z"))
        ]
    )
    rep = agreement_report(store)
    table = []
    for t in tasks:
        for s in kg.action(t.action).slots:
            pos = sum(s.id in marks[(t.sample_id, w)] for w in ("x", "y", "z"))
            table.append([3 - pos, pos])
    assert rep.row("overall").fleiss_kappa == pytest.approx(fleiss_by_hand(np.array(table)))
    assert rep.row("overall").n_items == len(table)
    # manual scores 50/60/70 on every sample: all variance is within items, so ICC1 = -1 / (k - 1)
    assert rep.scores["manual"]["icc1"] == pytest.approx(-0.5)
    assert rep.scores["manual"]["krippendorff_alpha"] < 0
    assert rep.scores["manual"]["mean_abs_pair_difference"] == pytest.approx(40 / 3)
