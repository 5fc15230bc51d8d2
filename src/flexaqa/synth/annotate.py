"""Labels as FLEX made them: three stage-1 annotators per repetition, a stage-2 majority vote, the FKG score.

An annotator sees a true error with a probability that grows with its severity (breathing errors are easier
to hear than subtle posture faults are to see) and marks a few false slots.
"""

from __future__ import annotations

import numpy as np

ANNOTATORS = ("annotator-1", "annotator-2", "annotator-3")
FALSE_POSITIVE = 0.012


def detection_probability(slot: str, severity: float | None, skill: float = 1.0) -> float:
    """The chance that one simulated annotator marks ``slot``: ``severity`` of the true error, ``None`` if absent.

    Two annotators then disagree on the slot with probability ``2 p (1 - p)``; ``flexaqa annotate agreement``
    on simulated labels reproduces that rate (tests/test_annotation_agreement.py).
    """
    if severity is None:
        return FALSE_POSITIVE
    pdet = 0.92 if slot.endswith(("ET014", "ET017")) else 0.55 + 0.42 * severity
    return min(pdet * skill, 0.99)


def annotate(slot_ids, true: dict[str, float], rng: np.random.Generator, skill: float = 1.0):
    """Three raw label sets and their majority vote.

    Args:
        slot_ids: all slot ids (``AKxx:ETyyy``) of the action.
        true: slot id -> severity of the errors really present.
    Returns:
        ``(raw, vote)``: a list of three tuples of slot ids and the tuple of slots at least two annotators marked.
    """
    raw = []
    for _ in ANNOTATORS:
        marked = []
        for s in slot_ids:
            if rng.random() < detection_probability(s, true.get(s), skill):
                marked.append(s)
        raw.append(tuple(marked))
    vote = tuple(s for s in slot_ids if sum(s in r for r in raw) >= 2)
    return raw, vote
