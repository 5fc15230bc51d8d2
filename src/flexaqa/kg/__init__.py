"""The FLEX Fitness Knowledge Graph (FKG) and the paper's penalty score.

>>> from flexaqa.kg import load_kg, score
>>> kg = load_kg()
>>> kg.action("squat").class_id
'A16'
>>> round(score("A01", ["ET001", "ET006", "ET005", "AK04:ET008", "ET018", "AK05:ET003"]).score, 2)
77.02
"""

from flexaqa.kg._load import build_kg, default_path, load_kg, load_kg_file, validate_kg_data
from flexaqa.kg._schema import (
    PHASE_NAMES,
    Action,
    EmgChannel,
    ErrorType,
    Keystep,
    KeystepErrors,
    KnowledgeGraph,
    Phase,
    SeverityClass,
    Slot,
)
from flexaqa.kg.scoring import (
    ObservedError,
    ScoreResult,
    format_score,
    resolve_slots,
    score,
    score_from_mask,
)

__all__ = [
    "PHASE_NAMES",
    "Action",
    "EmgChannel",
    "ErrorType",
    "Keystep",
    "KeystepErrors",
    "KnowledgeGraph",
    "ObservedError",
    "Phase",
    "ScoreResult",
    "SeverityClass",
    "Slot",
    "build_kg",
    "default_path",
    "format_score",
    "load_kg",
    "load_kg_file",
    "resolve_slots",
    "score",
    "score_from_mask",
    "validate_kg_data",
]
