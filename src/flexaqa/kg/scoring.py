"""The FLEX penalty score (paper section 7.6).

An action's *slots* are its (keystep, error type) pairs. Score = (1 - penalty / total) x 100, where total is
the sum of the weights of all slots and penalty the sum of the weights of the observed ones.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from flexaqa._text import format_table
from flexaqa.errors import KGError
from flexaqa.kg._load import load_kg
from flexaqa.kg._schema import Action, KnowledgeGraph, Slot


@dataclass(frozen=True)
class ObservedError:
    """One observed slot, explained: where it happens, what it costs, how to fix it."""

    keystep: str
    error: str
    phase: str
    weight: int
    text: str
    severity: str
    feedback: str


@dataclass(frozen=True)
class ScoreResult:
    action: str  # slug
    action_name: str
    score: float  # 0..100
    penalty: int
    total: int
    errors: tuple[ObservedError, ...]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["errors"] = [asdict(e) for e in self.errors]
        return d


def parse_error_token(token: str) -> tuple[str | None, str]:
    """``'AK04:ET005'`` -> ``('AK04', 'ET005')``; ``'et5'`` -> ``(None, 'ET005')``."""
    raw = str(token).strip().upper().replace(" ", "")
    m = re.match(r"^(?:AK(\d{1,2}):)?ET(\d{1,3})$", raw)
    if not m:
        raise KGError(
            f"cannot read error {token!r}: write an error type like ET005 or a slot like AK04:ET005"
        )
    ak = f"AK{int(m.group(1)):02d}" if m.group(1) else None
    return ak, f"ET{int(m.group(2)):03d}"


def resolve_slots(action: Action, errors: Iterable[str], *, kg: KnowledgeGraph | None = None) -> list[Slot]:
    """Map error tokens to distinct slots of ``action``, in the action's slot order.

    Explicit slots (``AK04:ET003``) claim theirs first; each bare code (``ET003``) then takes the first free
    slot of that error. Raises :class:`KGError` for unknown codes, errors the action or keystep lacks,
    a slot given twice, or more bare occurrences than the action has slots.
    """
    kg = kg or load_kg()
    parsed = [parse_error_token(t) for t in errors]
    for ak, et in parsed:
        kg.error(et)
        if ak is not None:
            kg.keystep(ak)
    taken: set[tuple[str, str]] = set()
    bare: Counter = Counter()
    for ak, et in parsed:
        if not action.slots_of(et):
            raise KGError(
                f"{et} ({kg.errors[et].text}) is not an error of {action.name}; "
                f"its errors are {', '.join(sorted(action.error_codes))}"
            )
        if ak is None:
            bare[et] += 1
            continue
        if ak not in action.keystep_codes:
            raise KGError(
                f"{action.name} has no keystep {ak}; its keysteps are {', '.join(action.keystep_codes)}"
            )
        if not any(s.keystep == ak for s in action.slots_of(et)):
            where = ", ".join(s.id for s in action.slots_of(et))
            raise KGError(f"{ak} of {action.name} has no error {et}; {et} appears at {where}")
        if (ak, et) in taken:
            raise KGError(f"slot {ak}:{et} is given twice")
        taken.add((ak, et))
    for et, n in bare.items():
        free = [s for s in action.slots_of(et) if (s.keystep, et) not in taken]
        if n > len(free):
            total = len(action.slots_of(et))
            raise KGError(
                f"{et} is given {n} time(s) without a keystep, but {action.name} has {total} slot(s) of {et}"
                + (f" and {total - len(free)} already given explicitly" if total != len(free) else "")
            )
        taken.update((s.keystep, et) for s in free[:n])
    return [s for s in action.slots if (s.keystep, s.error) in taken]


def score(
    action: str | int | Action, errors: Iterable[str] = (), *, kg: KnowledgeGraph | None = None
) -> ScoreResult:
    """Score a sample of ``action`` with the observed ``errors`` (``ET005`` or ``AK04:ET005`` tokens)."""
    kg = kg or load_kg()
    act = kg.action(action)
    slots = resolve_slots(act, errors, kg=kg)
    penalty = sum(s.weight for s in slots)
    observed = tuple(
        ObservedError(
            keystep=s.keystep,
            error=s.error,
            phase=s.phase,
            weight=s.weight,
            text=kg.errors[s.error].text,
            severity=kg.errors[s.error].severity,
            feedback=kg.feedback(s.error, s.keystep),
        )
        for s in slots
    )
    return ScoreResult(
        action=act.slug,
        action_name=act.name,
        score=penalty_score(penalty, act.total_weight),
        penalty=penalty,
        total=act.total_weight,
        errors=observed,
    )


def penalty_score(penalty: float, total: float) -> float:
    """Equation (1) of the paper: ``(1 - penalty / total) * 100``."""
    if total <= 0:
        raise KGError("an action's total weight must be positive")
    return (1.0 - penalty / total) * 100.0


def score_from_mask(action: Action, mask):
    """Score from a 0/1 (or probability) vector over ``action.slots``; probabilities give the expected score.

    ``mask`` may be a sequence, a numpy array or a torch tensor (last axis = slots, leading axes batch), so
    models can train on the differentiable expected score.
    """
    n = mask.shape[-1] if hasattr(mask, "shape") else len(mask)
    if n != len(action.slots):
        raise KGError(f"{action.name} has {len(action.slots)} slots; the mask has {n}")
    weights = [float(s.weight) for s in action.slots]
    if hasattr(mask, "new_tensor"):  # torch: stay on the graph and the device
        penalty = (mask * mask.new_tensor(weights)).sum(-1)
    else:
        penalty = np.asarray(mask, dtype=float) @ np.asarray(weights)
    return 100.0 - penalty * (100.0 / action.total_weight)


def format_score(result: ScoreResult) -> str:
    """Human-readable score with its breakdown."""
    lines = [
        f"{result.action_name}: score {result.score:.2f} / 100 "
        f"(penalty {result.penalty} of total weight {result.total})"
    ]
    if not result.errors:
        lines.append("no errors observed")
        return "\n".join(lines)
    rows = [(e.phase, e.keystep, e.error, e.weight, e.text) for e in result.errors]
    lines.append(format_table(("phase", "keystep", "error", "weight", "description"), rows, align="<<<><"))
    lines.append("")
    lines.append("feedback (heaviest first):")
    for e in sorted(result.errors, key=lambda e: -e.weight):
        lines.append(f"  - [{e.error}] {e.feedback}")
    return "\n".join(lines)
