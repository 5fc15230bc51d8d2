"""VideoQA metrics agree with their reference libraries called on the same strings; score parsing; WordNet."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.vqa import parse_score
from flexaqa.vqa.metrics import (
    bertscore_f1_scores,
    bleu_score,
    chrf_pp_score,
    default_bertscore_model,
    meteor_scores,
    rouge_l_scores,
)
from flexaqa.vqa.wordnet import (
    LEXNAMES,
    WORDNET_FILES,
    WordNetMissingError,
    lexnames_text,
    load_wordnet,
    setup_wordnet,
)

REFS = [
    "The person is performing a Squat.",
    "In the eccentric phase I noticed: knees caving inward. Push your knees out over your toes.",
    "The score is 84.21/100.",
]
HYPS = [
    "This is a squat with a barbell.",
    "The knees cave inward while lowering; keep them pushed out in line with the toes.",
    "I would rate it 80 out of 100.",
]


def test_bleu_matches_sacrebleu():
    import sacrebleu

    expected = sacrebleu.corpus_bleu(HYPS, [REFS]).score / 100.0
    assert bleu_score(REFS, HYPS) == pytest.approx(expected, abs=1e-12)
    assert bleu_score(REFS, REFS) == pytest.approx(1.0)


def test_bleu_and_rouge_l_against_values_worked_out_by_hand():
    pytest.importorskip("sacrebleu")
    pytest.importorskip("rouge_score")
    # every n-gram of the 6-word prediction is in the 7-word reference: BLEU is the brevity penalty exp(1 - 7/6)
    ref, pred = "the cat sat on the mat today", "the cat sat on the mat"
    assert bleu_score([ref], [pred]) == pytest.approx(np.exp(1 - 7 / 6), abs=1e-9)
    # the longest common subsequence is 5 words: precision 5/5, recall 5/6, F = 2PR / (P + R) = 10/11
    assert rouge_l_scores(["the cat sat on the mat"], ["the cat on the mat"])[0] == pytest.approx(10 / 11)


def test_chrf_pp_matches_sacrebleu():
    from sacrebleu.metrics import CHRF

    expected = CHRF(word_order=2).corpus_score(HYPS, [REFS]).score
    assert chrf_pp_score(REFS, HYPS) == pytest.approx(expected, abs=1e-9)
    assert chrf_pp_score(REFS, REFS) == pytest.approx(100.0)


def test_rouge_l_matches_rouge_score():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    expected = [scorer.score(r, h)["rougeL"].fmeasure for r, h in zip(REFS, HYPS, strict=True)]
    assert rouge_l_scores(REFS, HYPS).tolist() == pytest.approx(expected, abs=1e-12)


def test_meteor_matches_nltk():
    from nltk.tokenize import wordpunct_tokenize
    from nltk.translate.meteor_score import meteor_score

    wordnet = load_wordnet()  # fails with the install hint when WordNet is missing: see docs/videoqa.md
    expected = [
        meteor_score([wordpunct_tokenize(r)], wordpunct_tokenize(h), wordnet=wordnet)
        for r, h in zip(REFS, HYPS, strict=True)
    ]
    got = meteor_scores(REFS, HYPS)
    assert got.tolist() == pytest.approx(expected, abs=1e-12)
    assert got.min() > 0.0 and got.max() < 1.0
    # WordNet is really used: a synonym ("rate" ~ "grade") raises METEOR over an unrelated word
    syn = meteor_scores(["rate the lift"], ["grade the lift"])[0]
    other = meteor_scores(["rate the lift"], ["paint the lift"])[0]
    assert syn > other


def test_bertscore_matches_bert_score():
    import bert_score

    model = default_bertscore_model()
    refs, hyps = ["Keep your knees out."], ["Push the knees outward."]
    _, _, f1 = bert_score.score(hyps, refs, model_type=model.model_type, num_layers=model.num_layers)
    got = bertscore_f1_scores(refs, hyps, model=model)
    assert got.tolist() == pytest.approx(f1.tolist(), abs=1e-6)
    assert "all-MiniLM-L6-v2" in model.describe() and "layer 6" in model.describe()


def test_metrics_reject_mismatched_or_empty_input():
    from flexaqa.vqa import VQAError

    with pytest.raises(VQAError, match="2 references but 1 predictions"):
        bleu_score(["a", "b"], ["a"])
    with pytest.raises(VQAError, match="no text pairs"):
        rouge_l_scores([], [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This performance scores 94.30 out of 100.", 94.3),
        ("The score is 77.02/100. Six errors cost 37 of 161 penalty points.", 77.02),
        ("It earns a score of 100.00 out of 100.", 100.0),
        ("Score: 61", 61.0),
        ("I'd give this rep 85 points.", 85.0),
        ("Roughly 72%.", 72.0),
        ("88", 88.0),
        ("After 10 reps the person scores 80 out of 100.", 80.0),
        ("I would give this performance 75 out of 100.", 75.0),
        ("It scored 64.5.", 64.5),
        ("100.0/100", 100.0),
        ("Between 70 and 80.", None),
        ("The score is 120.", None),
        ("Good form overall.", None),
        ("", None),
    ],
)
def test_parse_score(text, expected):
    assert parse_score(text) == expected


def test_parse_score_reads_every_reference_answer():
    from flexaqa.kg import load_kg
    from flexaqa.vqa import QASource, build_dialogue

    kg = load_kg()
    for a in kg.actions:
        for k, slots in enumerate(((), tuple(s.id for s in a.slots[:3]), tuple(s.id for s in a.slots))):
            for seed in range(3):
                qa = build_dialogue(QASource(f"{a.slug}{k}", a.slug, "t", slots), kg=kg, seed=seed)[3]
                assert parse_score(qa.answer) == pytest.approx(qa.score, abs=0.005)


def test_lexnames_is_wordnet_30():
    lines = lexnames_text().splitlines()
    assert len(lines) == len(LEXNAMES) == 45
    assert lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.Tops\t1" and lines[44] == "44\tadj.ppl\t3"
    assert all(line.split("\t")[2] == "2" for line in lines if "\tverb." in line)


def test_setup_wordnet_copies_and_is_idempotent(tmp_path):
    src = tmp_path / "debian"
    src.mkdir()
    for name in WORDNET_FILES:
        (src / name).write_text(f"content of {name}\n")
    dest = setup_wordnet(tmp_path / "nltk", source=src)
    corpus = dest / "corpora" / "wordnet"
    assert all((corpus / n).read_text() == f"content of {n}\n" for n in WORDNET_FILES)
    assert (corpus / "lexnames").read_text() == lexnames_text()
    (src / "data.noun").write_text("new\n")
    setup_wordnet(tmp_path / "nltk", source=src)
    assert (corpus / "data.noun").read_text() == "new\n"
    assert [p.name for p in (dest / "corpora").iterdir()] == ["wordnet"]  # no temporary folders left


def test_setup_wordnet_names_the_package_when_source_missing(tmp_path):
    with pytest.raises(WordNetMissingError, match="apt-get install -y wordnet-base"):
        setup_wordnet(tmp_path / "nltk", source=tmp_path / "nowhere")


def test_missing_wordnet_gives_the_fix(tmp_path, monkeypatch):
    import nltk

    from flexaqa.vqa import wordnet as wn_module

    monkeypatch.setenv("FLEXAQA_NLTK_DATA", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "empty")])
    monkeypatch.setattr(wn_module, "DEBIAN_WORDNET", tmp_path / "no-debian-package")
    with pytest.raises(WordNetMissingError, match="flexaqa vqa setup-wordnet"):
        load_wordnet()


def test_setup_wordnet_keeps_an_existing_corpus_when_asked(tmp_path):
    src = tmp_path / "debian"
    src.mkdir()
    for name in WORDNET_FILES:
        (src / name).write_text("v1\n")
    setup_wordnet(tmp_path / "nltk", source=src)
    (src / "data.noun").write_text("v2\n")
    setup_wordnet(tmp_path / "nltk", source=src, replace=False)
    assert (tmp_path / "nltk" / "corpora" / "wordnet" / "data.noun").read_text() == "v1\n"
    assert [p.name for p in (tmp_path / "nltk" / "corpora").iterdir()] == ["wordnet"]
