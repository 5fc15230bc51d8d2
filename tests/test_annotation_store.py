"""The annotation store and workflow on SQLite: migrations, assignment, append-only labels, the stage-2 vote,
bad input rejected whole, export into the native layout, and several processes writing at once."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import pytest

from flexaqa.annotation import AnnotationError, LabelSubmission
from flexaqa.annotation.export import export_labels
from flexaqa.annotation.io import read_submissions, write_submissions
from flexaqa.annotation.store import AnnotationStore, default_url
from flexaqa.annotation.workflow import assign_balanced, majority
from flexaqa.kg import load_kg
from flexaqa.testing import make_tiny_dataset

LABELLERS = ["a1", "a2", "a3", "a4"]
REVIEWERS = ["r1", "r2", "r3"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("annot") / "d", subjects=("P01", "A01", "N01", "N02"))


def new_store(url: str, root) -> AnnotationStore:
    store = AnnotationStore.create(url)
    store.init_project(root)
    store.assign(LABELLERS, REVIEWERS)
    return store


@pytest.fixture
def store(tiny, tmp_path):
    s = new_store(f"sqlite:///{tmp_path / 'a.sqlite'}", tiny.root)
    yield s
    s.close()


def slots_of(action: str) -> list[str]:
    return [s.id for s in load_kg().action(action).slots]


def label_all(store, marks=lambda task, who, k: ()) -> None:
    """Stage 1 for every sample: ``marks(task, annotator, k)`` gives the k-th labeller's slots."""
    assigned = store.assignments()
    subs = [
        LabelSubmission(a, 1, t.sample_id, tuple(marks(t, a, k)))
        for t in store.tasks()
        for k, a in enumerate(assigned[(t.sample_id, 1)])
    ]
    store.submit(subs)


def test_migrated_schema_matches_the_tables(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from flexaqa.annotation._schema import metadata

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert store.schema_revision() == "0001"
    store.migrate()  # idempotent
    assert len(store.tasks()) == 24


def test_open_refuses_a_missing_or_foreign_store(tmp_path, tiny):
    with pytest.raises(AnnotationError, match="annotate init"):
        AnnotationStore.open(f"sqlite:///{tmp_path / 'none.sqlite'}")
    with pytest.raises(AnnotationError, match="in-memory"):
        AnnotationStore.create("sqlite://")
    s = AnnotationStore.create(f"sqlite:///{tmp_path / 'x.sqlite'}")
    s.init_project(tiny.root)
    with pytest.raises(AnnotationError, match="3 labellers"):
        s.init_project(tiny.root, labellers=2)
    assert s.init_project(tiny.root) == 0  # re-running adds nothing
    assert default_url(tiny.root).endswith("annotations.sqlite")
    with pytest.raises(AnnotationError, match="cannot open the store"):
        AnnotationStore.open(f"postgresql://nobody@/x?host={tmp_path}&port=1")


@pytest.mark.parametrize("overlap", [False, True])
def test_assignment_is_balanced_and_nobody_reviews_their_own_labels(overlap):
    samples = [f"s{i:02d}" for i in range(25)]
    labellers = ["p1", "p2", "p3", "p4", "p5", "p6", "p7"]
    reviewers = (
        labellers if overlap else ["q1", "q2", "q3", "q4"]
    )  # one pool: the store keeps the stages apart
    got = assign_balanced(samples, labellers, reviewers)
    for stage in (1, 2):
        load = Counter(p for (s, st), ps in got.items() if st == stage for p in ps)
        assert max(load.values()) - min(load.values()) <= (2 if overlap and stage == 2 else 1), load
    for s in samples:
        assert len(got[(s, 1)]) == 3 and len(got[(s, 2)]) == 3
        assert not set(got[(s, 1)]) & set(got[(s, 2)])
    half = assign_balanced(samples[:10], labellers, reviewers)
    rest = assign_balanced(samples, labellers, reviewers, existing=half)
    assert set(rest) == {(s, st) for s in samples[10:] for st in (1, 2)}  # assigned samples keep theirs
    with pytest.raises(AnnotationError, match="reviewers who did not label"):
        assign_balanced(samples, labellers[:3], labellers[:4])
    with pytest.raises(AnnotationError, match="only 2 given"):
        assign_balanced(samples, labellers[:2], reviewers)


def test_edits_append_revisions_and_nothing_is_overwritten(store):
    t = store.tasks()[0]
    who = store.assignments()[(t.sample_id, 1)][0]
    s = slots_of(t.action)
    store.submit([LabelSubmission(who, 1, t.sample_id, (s[0],), score=90, feedback="stance")])
    store.submit([LabelSubmission(who, 1, t.sample_id, (s[1],))], revise=True)
    store.submit([LabelSubmission(who, 1, t.sample_id, ())], revise=True)
    rows = store.history(t.sample_id)
    assert [(r.revision, r.slots) for r in rows] == [(1, (s[0],)), (2, (s[1],)), (3, ())]
    assert rows[1].replaces == rows[0].id and rows[2].replaces == rows[1].id
    assert rows[0].score == 90 and rows[0].feedback == "stance" and rows[2].fkg_score == 100.0
    assert store.current_labels(1)[(t.sample_id, who, 1)].id == rows[2].id


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda t, a, s: LabelSubmission(a, 1, t.sample_id, ("ET999",)), "unknown error type 'ET999'"),
        (
            lambda t, a, s: LabelSubmission(a, 1, t.sample_id, ("AK01:ET001",)),
            "not an error of|has no keystep",
        ),
        (lambda t, a, s: LabelSubmission(a, 1, "P09-A16-r01", ()), "'P09-A16-r01' is not in the dataset"),
        (lambda t, a, s: LabelSubmission("r1", 1, t.sample_id, ()), "r1 is not assigned"),
        (lambda t, a, s: LabelSubmission(a, 1, t.sample_id, (), score=120), "score must be 0..100"),
        (lambda t, a, s: LabelSubmission(a, 3, t.sample_id, ()), "stage must be 1"),
        (lambda t, a, s: LabelSubmission(a, 1, t.sample_id, (), repetition=9), "repetition 9"),
        (lambda t, a, s: LabelSubmission("r1", 2, t.sample_id, (), accept=True), "before its stage-1 labels"),
    ],
)
def test_bad_rows_are_named_and_nothing_is_written(store, make, message):
    tasks = store.tasks()
    good = tasks[1]
    a_good = store.assignments()[(good.sample_id, 1)][0]
    t = next(t for t in tasks if t.action == "squat")
    a = store.assignments()[(t.sample_id, 1)][0]
    bad = make(t, a, slots_of(t.action))
    bad = LabelSubmission(**{**bad.__dict__, "source": "labels.jsonl: line 2"})
    with pytest.raises(AnnotationError, match=message) as err:
        store.submit([LabelSubmission(a_good, 1, good.sample_id, ()), bad])
    assert "labels.jsonl: line 2" in str(err.value) and "nothing written" in str(err.value)
    assert store.history() == []


def test_labelling_twice_and_reviewing_own_labels_are_refused(store):
    t = store.tasks()[0]
    a = store.assignments()[(t.sample_id, 1)][0]
    with pytest.raises(AnnotationError, match="twice in one submission"):
        store.submit([LabelSubmission(a, 1, t.sample_id, ()), LabelSubmission(a, 1, t.sample_id, ())])
    store.submit([LabelSubmission(a, 1, t.sample_id, ())])
    with pytest.raises(AnnotationError, match=r"already labelled .* use --revise"):
        store.submit([LabelSubmission(a, 1, t.sample_id, ())])
    with pytest.raises(AnnotationError, match=f"{a} is not assigned to sample .* at stage 2"):
        store.submit([LabelSubmission(a, 2, t.sample_id, (), accept=True)])
    assert len(store.history()) == 1


def test_majority_vote_ties_and_missing_votes(tiny, tmp_path):
    store = AnnotationStore.create(f"sqlite:///{tmp_path / 'two.sqlite'}")
    store.init_project(tiny.root, reviewers=2)  # an even panel can tie
    store.assign(LABELLERS, REVIEWERS)
    s = slots_of("squat")
    # the first labeller of each sample marks s[0], the second s[0] and s[1], the third nothing
    label_all(
        store, lambda task, who, k: [slots_of(task.action)[0], slots_of(task.action)[1]][: [1, 2, 0][k]]
    )
    tasks = [t for t in store.tasks() if t.action == "squat"]
    t_acc, t_tie, t_vote, t_miss = (t.sample_id for t in tasks[:4])
    asg = store.assignments()
    r = {sid: asg[(sid, 2)] for sid in (t_acc, t_tie, t_vote, t_miss)}
    store.submit(
        [
            LabelSubmission(r[t_acc][0], 2, t_acc, (), accept=True),
            LabelSubmission(r[t_acc][1], 2, t_acc, (), accept=True),
            LabelSubmission(r[t_tie][0], 2, t_tie, (s[2],)),
            LabelSubmission(r[t_tie][1], 2, t_tie, ()),
            LabelSubmission(r[t_vote][0], 2, t_vote, (s[0], s[2])),
            LabelSubmission(r[t_vote][1], 2, t_vote, (), accept=True),
            LabelSubmission(r[t_miss][0], 2, t_miss, (), accept=True),
        ]
    )
    decisions, written = store.resolve()
    by = {d.sample_id: d for d in decisions}
    assert by[t_acc].status == "resolved" and by[t_acc].method == "accepted" and by[t_acc].slots == (s[0],)
    assert by[t_tie].status == "tie" and s[2] in by[t_tie].detail
    # the accepting reviewer votes for the stage-1 majority (s[0]); both want s[0], they split on s[2]
    assert by[t_vote].status == "tie" and s[2] in by[t_vote].detail
    assert by[t_miss].status == "missing" and r[t_miss][1] in by[t_miss].detail
    assert written == 1 and set(store.resolutions()) == {t_acc}
    assert store.resolve()[1] == 0  # nothing new to record
    blocked = {d.sample_id: d.status for d in store.status().blocked}
    assert blocked[t_tie] == "tie" and blocked[t_miss] == "missing"
    with pytest.raises(AnnotationError, match="not resolved on their current labels"):
        export_labels(store)
    # a stage-1 label revised after the reviewers accepted: their acceptance no longer covers the majority
    a0 = asg[(t_acc, 1)][0]
    store.submit([LabelSubmission(a0, 1, t_acc, (s[1],))], revise=True)  # s[1] now has 2 of 3, s[0] 1 of 3
    d = {d.sample_id: d for d in store.decisions()}[t_acc]
    assert d.status == "stale" and r[t_acc][0] in d.detail
    assert store.resolve()[1] == 0 and store.resolutions()[t_acc]["slots"] == (s[0],)  # the old one stays
    assert t_acc in export_labels(store, partial=True).unresolved  # ... but is not exported
    store.submit([LabelSubmission(x, 2, t_acc, (), accept=True) for x in r[t_acc]], revise=True)
    store.resolve()
    assert store.resolutions()[t_acc]["slots"] == (s[1],)


def test_majority_is_strict():
    assert majority([("a",), ("a", "b"), ()], ["a", "b"]) == (("a",), ())
    assert majority([("a",), ()], ["a", "b"]) == ((), ("a",))


def test_export_writes_labels_into_the_dataset_idempotently(tmp_path):
    from flexaqa.data import open_dataset
    from flexaqa.data.validate import validate_dataset

    root = make_tiny_dataset(tmp_path / "d", subjects=("P01", "N01")).root
    store = new_store(default_url(root), root)
    label_all(store, lambda task, who, k: slots_of(task.action)[:1] if k < 2 else slots_of(task.action)[1:2])
    for rv in REVIEWERS:
        store.submit([LabelSubmission(rv, 2, sid, (), accept=True) for sid in store.pending_reviews(rv)])
    store.resolve()
    first = store.tasks()[0]
    store.add_segments(
        first.trial,
        [(first.rep, first.start + 0.01, None, first.end - 0.01)],
        kind="correction",
        annotator="r1",
    )
    rep = export_labels(store)
    assert rep.n_samples == 12 and rep.unresolved == [] and (root / "manifest.csv") in rep.changed
    before = {p: p.read_bytes() for p in root.rglob("*.json")} | {
        root / "manifest.csv": (root / "manifest.csv").read_bytes()
    }
    again = export_labels(store)
    assert again.changed == []
    assert {p: p.read_bytes() for p in before} == before
    assert validate_dataset(root) == []
    ds = open_dataset(root)
    kg = load_kg()
    for r in ds.records:
        ann = ds.annotation(r)
        s = slots_of(r.action)
        assert ann.slots == (s[0],) and r.score == pytest.approx(kg_score(r.action, [s[0]]), abs=1e-3)
        st1 = [a for a in ann.annotators if a.stage == 1]
        assert sorted(a.slots for a in st1) == sorted([(s[0],), (s[0],), (s[1],)])
        assert all(a.score == pytest.approx(kg_score(r.action, a.slots), abs=1e-3) for a in ann.annotators)
        assert len([a for a in ann.annotators if a.stage == 2]) == 3
        assert ann.feedback == (kg.feedback(s[0].split(":")[1], s[0].split(":")[0]),)
    moved = ds.annotation(first.sample_id).keyframes
    assert moved.start == pytest.approx(first.start + 0.01) and moved.end == pytest.approx(first.end - 0.01)
    assert not moved.problems()
    path = root / "trials" / first.trial / "annotations.json"  # a tampered per-annotator score is caught
    doc = json.loads(path.read_text())
    doc["reps"][0]["annotators"][0]["score"] += 5
    path.write_text(json.dumps(doc))
    assert any("disagrees with the FKG score" in p.message for p in validate_dataset(root))


def kg_score(action, slots) -> float:
    from flexaqa.kg import score

    return score(action, slots).score


def test_import_files_name_the_bad_line(tmp_path, store):
    t = store.tasks()[0]
    a = store.assignments()[(t.sample_id, 1)][0]
    good = tmp_path / "labels.jsonl"
    write_submissions(good, [LabelSubmission(a, 1, t.sample_id, tuple(slots_of(t.action)[:1]), score=80)])
    subs = read_submissions(good)
    assert subs[0].slots == tuple(slots_of(t.action)[:1]) and subs[0].source == "labels.jsonl: line 1"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + '{"annotator": "a1", "stage": 1, "sample_id": \n')
    with pytest.raises(AnnotationError, match=r"bad\.jsonl: line 2: not valid JSON"):
        read_submissions(bad)
    bad.write_text('{"annotator": "a1", "stage": 1, "sample_id": "x", "colour": "red"}\n')
    with pytest.raises(AnnotationError, match=r"line 1: unknown field.*colour"):
        read_submissions(bad)
    csvf = tmp_path / "l.csv"
    csvf.write_text(
        f"annotator,stage,sample_id,slots\n{a},1,{t.sample_id},{slots_of(t.action)[0]};{slots_of(t.action)[1]}\n"
    )
    assert read_submissions(csvf)[0].slots == tuple(slots_of(t.action)[:2])
    store.submit(subs)
    assert store.history()[0].score == 80


# ---------------------------------------------------------------------------------------------- concurrency

WORKER = """
import sys
from flexaqa.annotation import AnnotationStore, LabelSubmission
url, me, hot_sample, hot_who, n_rev = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
store = AnnotationStore.open(url)
mine = [s for (s, st), people in sorted(store.assignments().items()) if st == 1 and me in people and s != hot_sample]
for k, sid in enumerate(mine):  # one transaction per label, interleaved with the revisions of one hot label
    store.submit([LabelSubmission(me, 1, sid, (), feedback=f"{me} {k}")])
    if k < n_rev:
        store.submit([LabelSubmission(hot_who, 1, hot_sample, (), feedback=f"revised by {me}")], revise=True)
print(len(mine))
"""


def run_concurrent_writers(url: str, root: Path, n_rev: int = 5) -> None:
    """Four processes, one per labeller, write their labels at once and all revise one shared label; every
    write must be in the store afterwards and the revision chain unbroken."""
    import os
    import subprocess
    import sys

    import flexaqa

    store = new_store(url, root)
    hot = store.tasks()[0].sample_id
    hot_who = store.assignments()[(hot, 1)][0]
    store.submit([LabelSubmission(hot_who, 1, hot, ())])
    env = {**os.environ, "PYTHONPATH": str(Path(flexaqa.__file__).parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, who, hot, hot_who, str(n_rev)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in LABELLERS
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    counts = {who: int(out) for who, (out, _) in zip(LABELLERS, outs, strict=True)}
    rows = store.history()
    written = Counter(r.annotator for r in rows if r.sample_id != hot)
    assert dict(written) == counts
    for who in LABELLERS:
        assert {r.feedback for r in rows if r.annotator == who and r.sample_id != hot} == {
            f"{who} {k}" for k in range(counts[who])
        }
    chain = sorted(
        (r for r in rows if r.sample_id == hot and r.annotator == hot_who), key=lambda r: r.revision
    )
    n_revs = sum(min(n_rev, c) for c in counts.values())
    assert [r.revision for r in chain] == list(range(1, n_revs + 2))
    assert all(b.replaces == a.id for a, b in itertools.pairwise(chain))
    assert Counter(r.feedback for r in chain[1:]) == {
        f"revised by {w}": min(n_rev, c) for w, c in counts.items()
    }
    store.close()


def test_concurrent_writers_on_sqlite(tiny, tmp_path):
    run_concurrent_writers(f"sqlite:///{tmp_path / 'c.sqlite'}", tiny.root)


def test_walkthrough_labels_export_json(tmp_path, store):
    """A review file round-trips: JSON list input with accept flags."""
    label_all(store)
    t = store.tasks()[0]
    rv = store.assignments()[(t.sample_id, 2)]
    f = tmp_path / "reviews.json"
    f.write_text(
        json.dumps([{"annotator": r, "stage": 2, "sample_id": t.sample_id, "accept": True} for r in rv])
    )
    store.submit(read_submissions(f))
    assert store.resolve()[0][0].status == "resolved"


# ------------------------------------------------------------------------ PostgreSQL (server from conftest.py)


def test_workflow_on_postgres(postgres_url, tiny):
    store = new_store(postgres_url, tiny.root)
    assert store.schema_revision() == "0001" and len(store.tasks()) == 24
    label_all(store)
    with pytest.raises(AnnotationError, match="already labelled"):
        label_all(store)
    for rv in REVIEWERS:
        store.submit([LabelSubmission(rv, 2, s, (), accept=True) for s in store.pending_reviews(rv)])
    decisions, written = store.resolve()
    assert written == 24 and {d.status for d in decisions} == {"resolved"}
    again = AnnotationStore.open(postgres_url)  # a second client sees the same project
    assert len(again.resolutions()) == 24 and again.config().labellers == 3
    assert set(again.status().annotators) == set(LABELLERS) | set(REVIEWERS)
    again.close()
    store.close()


def test_concurrent_writers_on_postgres(postgres_url, tiny):
    run_concurrent_writers(postgres_url, tiny.root)


def test_cli_reports_bad_input_and_status(tmp_path, capsys):
    from flexaqa.cli import main

    root = make_tiny_dataset(tmp_path / "d", subjects=("P01", "N01")).root
    d = ["--data", str(root)]
    assert main(["annotate", "status", *d]) == 9  # no store yet
    assert "annotate init" in capsys.readouterr().err
    assert main(["annotate", "init", *d]) == 0
    assert main(["annotate", "assign", *d, "--labellers", "a1,a2,a3", "--reviewers", "r1,r2,r3"]) == 0
    sid = AnnotationStore.open(default_url(root)).tasks()[0].sample_id
    bad = tmp_path / "labels.jsonl"
    bad.write_text(
        json.dumps({"annotator": "a1", "stage": 1, "sample_id": sid, "slots": []})
        + "\n"
        + json.dumps({"annotator": "a2", "stage": 1, "sample_id": sid, "slots": ["ET999"]})
        + "\n"
    )
    assert main(["annotate", "import", str(bad), *d]) == 3  # rejected rows: bad input data
    err = capsys.readouterr().err
    assert "labels.jsonl: line 2: unknown error type 'ET999'" in err and "nothing written" in err
    assert main(["annotate", "label", *d, "--annotator", "a1", "--sample", sid]) == 0
    assert main(["annotate", "review", *d, "--reviewer", "r1", "--sample", sid, "--accept"]) == 3
    assert "before its stage-1 labels are in: 1 of 3" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["annotate", "status", *d, "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["n_tasks"] == 12 and st["stage"]["1"] == {"assigned": 36, "done": 1}
    assert st["annotators"]["a1"]["stage1_done"] == 1 and st["annotators"]["r1"]["stage2_assigned"] == 12
    blocked = {b["sample_id"]: b for b in st["blocked"]}
    assert "stage-1 label missing from a2, a3" in blocked[sid]["detail"]
    assert main(["annotate", "history", *d, "--sample", sid]) == 0
    assert "command line" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:  # the parser range-checks the score
        main(["annotate", "label", *d, "--annotator", "a1", "--sample", sid, "--score", "101"])
    assert info.value.code == 2 and "argument --score" in capsys.readouterr().err
