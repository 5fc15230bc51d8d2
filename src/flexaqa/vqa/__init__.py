"""FLEX-VideoQA (paper sections 3.4, 4.2, 8.2 and Figure 9): build the four-turn question-answer dialogues of
every sample from its annotations and the FKG, export them for VLM fine-tuning, answer them (OpenAI-compatible
VLM endpoints or the built-in KG coach) and evaluate answers like the paper's Table 5.

Light at import: the text-metric libraries (``pip install 'flexaqa[text]'``) load only when a metric runs.
"""

from flexaqa.vqa._records import QA, QUESTION_TYPES, QASource, VQAError, read_sources
from flexaqa.vqa.dialogue import (
    QUESTIONS,
    answer_problems,
    build_dialogue,
    build_qa_set,
    load_qa_set,
    render_answers,
)
from flexaqa.vqa.metrics import parse_score

__all__ = [
    "QA",
    "QUESTIONS",
    "QUESTION_TYPES",
    "QASource",
    "VQAError",
    "answer_problems",
    "build_dialogue",
    "build_qa_set",
    "load_qa_set",
    "parse_score",
    "read_sources",
    "render_answers",
]
