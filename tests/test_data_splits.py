import json

import pytest

from flexaqa.data import DataError, SampleRecord, skill_of
from flexaqa.data.splits import generate_splits, get_splits, load_splits, save_splits, split_problems


def roster_records(n_per_skill=(4, 4, 8), actions=("squat", "deadlift", "t-bar-row"), reps=4):
    recs = []
    for prefix, n in zip("PAN", n_per_skill, strict=True):
        for k in range(1, n + 1):
            sid = f"{prefix}{k:02d}"
            for a_i, a in enumerate(actions):
                for r in range(1, reps + 1):
                    recs.append(
                        SampleRecord(f"{sid}-{a}-r{r}", a, a_i + 1, subject=sid, skill=skill_of(sid), rep=r)
                    )
    return recs


RECS = roster_records()
IDS = {r.id for r in RECS}
SUBJ = {r.id: r.subject for r in RECS}


@pytest.mark.parametrize("protocol", ["random", "cross_subject", "cross_skill"])
def test_splits_partition_the_samples_and_are_reproducible(protocol):
    sp = generate_splits(RECS, protocol, seed=1)
    assert split_problems(sp, IDS) == []
    assert set().union(*map(set, sp.values())) == IDS
    assert all(sp[k] for k in ("train", "val", "test"))
    assert generate_splits(RECS, protocol, seed=1) == sp
    if protocol != "cross_skill":  # cross_skill's test set is fixed: all novices
        assert generate_splits(RECS, protocol, seed=2) != sp


def test_random_is_75_25_per_action():
    sp = generate_splits(RECS, "random", seed=0, val_fraction=0.0)
    for action in ("squat", "deadlift", "t-bar-row"):
        n = sum(r.action == action for r in RECS)
        test = [i for i in sp["test"] if f"-{action}-" in i]
        assert len(test) == round(0.25 * n)
    assert sp["val"] == []


def test_cross_subject_is_subject_disjoint():
    sp = generate_splits(RECS, "cross_subject", seed=3)
    subjects = {k: {SUBJ[i] for i in v} for k, v in sp.items()}
    assert not subjects["train"] & subjects["test"]
    assert not subjects["val"] & subjects["test"] and not subjects["val"] & subjects["train"]
    assert {s[0] for s in subjects["test"]} == {"P", "A", "N"}  # every skill level is tested


def test_cross_skill_tests_novices_only():
    sp = generate_splits(RECS, "cross_skill", seed=0)
    assert {SUBJ[i][0] for i in sp["test"]} == {"N"}
    assert {SUBJ[i][0] for i in sp["train"] + sp["val"]} == {"P", "A"}


def test_errors():
    with pytest.raises(DataError, match="unknown split protocol"):
        generate_splits(RECS, "by-moon")
    no_subject = [SampleRecord("x", "squat", 16), SampleRecord("y", "squat", 16)]
    with pytest.raises(DataError, match="needs the subject"):
        generate_splits(no_subject, "cross_subject")
    experts = [r for r in RECS if r.skill == "expert"]
    with pytest.raises(DataError, match="novice"):
        generate_splits(experts, "cross_skill")


def test_saved_files_are_readable_json_and_preferred(tmp_path):
    sp = generate_splits(RECS, "random", seed=5)
    path = save_splits(tmp_path, "random", sp, seed=5)
    doc = json.loads(path.read_text())
    assert doc["counts"] == {k: len(v) for k, v in sp.items()} and doc["seed"] == 5
    assert load_splits(tmp_path, "random") == sp

    class Src:
        root = tmp_path
        records = RECS

    assert get_splits(Src(), "random", seed=99) == sp  # saved file wins over a new seed
    fresh = get_splits(Src(), "cross_skill", seed=0)
    assert load_splits(tmp_path, "cross_skill") == fresh  # generated and saved
    doc["test"].append("nope")
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="unknown sample nope"):
        get_splits(Src(), "random")


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(
    n_per_skill=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 6)),
    reps=st.integers(1, 5),
    seed=st.integers(0, 10_000),
    protocol=st.sampled_from(["random", "cross_subject", "cross_skill"]),
)
def test_any_dataset_is_partitioned(n_per_skill, reps, seed, protocol):
    recs = roster_records(n_per_skill, actions=("squat", "deadlift"), reps=reps)
    sp = generate_splits(recs, protocol, seed=seed)
    assert split_problems(sp, {r.id for r in recs}) == []
    assert sum(map(len, sp.values())) == len(recs)
    if protocol != "random":
        subj = {r.id: r.subject for r in recs}
        parts = [{subj[i] for i in sp[k]} for k in ("train", "val", "test")]
        assert not (parts[0] & parts[2]) and not (parts[1] & parts[2]) and not (parts[0] & parts[1])
