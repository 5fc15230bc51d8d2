"""FLEX-VideoQA dialogues: four QA pairs per sample, always consistent with the labels, seeded and varied."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flexaqa.kg import load_kg, score
from flexaqa.testing import FIGURE6_EXAMPLE
from flexaqa.vqa import (
    QA,
    QUESTION_TYPES,
    QASource,
    VQAError,
    answer_problems,
    build_dialogue,
    build_qa_set,
    load_qa_set,
    parse_score,
    read_sources,
)
from flexaqa.vqa._records import write_jsonl
from flexaqa.vqa.synthetic import make_sources

KG = load_kg()


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return make_sources(tmp_path_factory.mktemp("media"), 40, seed=3)


def test_four_qa_per_sample_in_dialogue_order(sources):
    for src in sources:
        qas = build_dialogue(src, kg=KG)
        assert [q.qtype for q in qas] == list(QUESTION_TYPES)
        assert [q.turn for q in qas] == [0, 1, 2, 3]
        assert len({q.id for q in qas}) == 4
        assert all(q.sample_id == src.sample_id and q.split == src.split for q in qas)


def test_answers_consistent_with_labels(sources):
    for src in sources:
        for qa in build_dialogue(src, kg=KG, seed=7):
            assert answer_problems(qa, kg=KG) == [], (qa.id, qa.answer)
            assert abs(qa.score - src.score) < 1e-3  # the synthetic sample carries its FKG score


def test_figure6_example_scores_and_names_every_error():
    action, slots, expected = FIGURE6_EXAMPLE
    qas = build_dialogue(QASource("fig6", action, "test", slots), kg=KG)
    assert parse_score(qas[3].answer) == pytest.approx(expected, abs=0.005)
    evaluation = qas[2].answer.casefold()
    for e in score(action, slots, kg=KG).errors:
        assert e.text.rstrip(".").casefold() in evaluation
        assert e.feedback.rstrip(".").casefold() in evaluation
    assert "AK0" not in qas[2].answer and "ET0" not in qas[2].answer  # natural language, not codes


def test_flawless_sample_gets_praise_and_full_score():
    qas = build_dialogue(QASource("clean", "squat", "test", ()), kg=KG)
    text = qas[2].answer.casefold()
    assert any(w in text for w in ("well done", "excellent", "great job"))
    assert not any(KG.errors[s.error].text.rstrip(".").casefold() in text for s in KG.action("squat").slots)
    assert parse_score(qas[3].answer) == 100.0


def test_consistency_check_catches_wrong_answers():
    qa = build_dialogue(QASource("s", "squat", "test", ("AK43:ET006",)), kg=KG)
    wrong = {
        "recognition": "This is a deadlift.",
        "standards": "Keep your back straight.",
        "evaluation": "Well done, no errors.",
        "scoring": "The score is 50/100.",
    }
    for q in qa:
        assert answer_problems(q, wrong[q.qtype], kg=KG), q.qtype


def test_seeded_and_order_independent(sources):
    a = [build_dialogue(s, kg=KG, seed=1) for s in sources]
    b = [build_dialogue(s, kg=KG, seed=1) for s in reversed(sources)][::-1]
    assert a == b


def test_templates_vary_across_samples(sources):
    for turn in (0, 2, 3):
        openings = {build_dialogue(s, kg=KG)[turn].answer.split(" ")[0] for s in sources}
        assert len(openings) >= 2, turn


def test_rephrase_hook_only_touches_evaluation():
    src = QASource("s", "deadlift", "test", ())
    seen = []

    def hook(qa: QA) -> str:
        seen.append(qa.qtype)
        return "REPHRASED " + qa.answer

    plain = build_dialogue(src, kg=KG)
    hooked = build_dialogue(src, kg=KG, rephrase=hook)
    assert seen == ["evaluation"]
    assert hooked[2].answer == "REPHRASED " + plain[2].answer
    assert [q.answer for i, q in enumerate(hooked) if i != 2] == [
        q.answer for i, q in enumerate(plain) if i != 2
    ]
    with pytest.raises(VQAError, match="rephrase hook"):
        build_dialogue(src, kg=KG, rephrase=lambda qa: "  ")


@pytest.mark.parametrize(
    ("action", "slots", "match"),
    [
        ("no-such-exercise", (), "unknown action"),
        ("squat", ("AK01:ET002",), "no keystep AK01"),
        ("squat", ("ET999",), "unknown error"),
    ],
)
def test_bad_labels_name_the_sample(action, slots, match):
    with pytest.raises(VQAError, match=f"sample 'bad'.*{match}"):
        build_dialogue(QASource("bad", action, "test", slots), kg=KG)


def test_build_qa_set_writes_splits_and_reads_back(sources, tmp_path):
    counts = build_qa_set(sources, tmp_path / "qa", kg=KG, seed=5)
    n_split = {s: sum(src.split == s for src in sources) for s in ("train", "test")}
    assert counts == {s: 4 * n for s, n in n_split.items()}
    manifest = json.loads((tmp_path / "qa" / "manifest.json").read_text())
    assert manifest["samples"] == len(sources) and manifest["splits"] == counts
    test = load_qa_set(tmp_path / "qa", "test")
    assert len(test) == counts["test"] and {q.split for q in test} == {"test"}
    assert test == [q for s in sources if s.split == "test" for q in build_dialogue(s, kg=KG, seed=5)]
    assert len(load_qa_set(tmp_path / "qa")) == sum(counts.values())


def test_build_rejects_duplicate_ids_and_empty_input(tmp_path):
    src = QASource("dup", "squat", "test")
    with pytest.raises(VQAError, match="repeated: dup"):
        build_qa_set([src, src], tmp_path)
    with pytest.raises(VQAError, match="no samples"):
        build_qa_set([], tmp_path)


def test_sources_jsonl_round_trip_and_bad_files(sources, tmp_path):
    path = write_jsonl(tmp_path / "sources.jsonl", (s.to_dict() for s in sources))
    assert read_sources(path) == sources
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps([s.to_dict() for s in sources[:2]]))
    with pytest.raises(VQAError, match="expected a JSON object per line"):
        read_sources(bad)
    bad.write_text('{"sample_id": "x", "action": "squat"}\n')
    with pytest.raises(VQAError, match=r"bad.jsonl:1: missing field\(s\) split"):
        read_sources(bad)
    bad.write_text('{"sample_id": "x", "action": "squat", "split": "test", "slot": []}\n')
    with pytest.raises(VQAError, match="unknown field"):
        read_sources(bad)
    bad.write_text("sample_id,action\nx,squat\n")
    with pytest.raises(VQAError, match="not a JSON line"):
        read_sources(bad)


def test_load_qa_set_errors(tmp_path):
    with pytest.raises(VQAError, match="no such folder"):
        load_qa_set(tmp_path / "missing")
    with pytest.raises(VQAError, match=r"no qa_<split>\.jsonl"):
        load_qa_set(tmp_path)
    build_qa_set([QASource("a", "squat", "train")], tmp_path)
    with pytest.raises(VQAError, match="no split 'test'"):
        load_qa_set(tmp_path, "test")
    (tmp_path / "qa_x.jsonl").write_text('{"id": "a:recognition", "qtype": "chat"}\n')
    with pytest.raises(VQAError, match="missing field"):
        load_qa_set(tmp_path)


def test_sample_rng_streams_differ():
    from flexaqa.vqa.dialogue import sample_rng

    a = sample_rng(0, "A01/000").integers(1 << 30, size=4)
    b = sample_rng(0, "A01/001").integers(1 << 30, size=4)
    assert not np.array_equal(a, b)
