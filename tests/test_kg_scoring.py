"""The penalty score of paper section 7.6: the Figure 6 example, properties, and every error path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexaqa.errors import KGError
from flexaqa.kg import load_kg, resolve_slots, score, score_from_mask
from flexaqa.kg.scoring import parse_error_token
from flexaqa.testing import FIGURE6_EXAMPLE

KG = load_kg()
ACTIONS = [a.slug for a in KG.actions]


def test_figure6_example():
    action, errors, expected = FIGURE6_EXAMPLE
    r = score(action, errors)
    assert round(r.score, 2) == expected
    assert (r.penalty, r.total) == (37, 161)
    assert [e.error for e in r.errors] == ["ET001", "ET006", "ET005", "ET008", "ET003", "ET018"]
    assert r.errors[0].phase == "preparation" and r.errors[-1].phase == "eccentric"


def test_bare_codes_give_the_same_score_as_slots():
    action, errors, _ = FIGURE6_EXAMPLE
    bare = [e.split(":")[1] for e in errors]
    assert score(action, bare).score == score(action, errors).score


def test_breakdown_carries_feedback_and_keystep_override():
    r = score("squat", ["AK44:ET039"])
    (e,) = r.errors
    assert (e.keystep, e.phase, e.weight) == ("AK44", "eccentric", 7)
    assert e.feedback == KG.feedback("ET039", "AK44")
    d = r.to_dict()
    assert d["errors"][0]["error"] == "ET039" and d["action"] == "squat"


@st.composite
def action_and_slots(draw):
    a = KG.action(draw(st.sampled_from(ACTIONS)))
    idx = draw(st.lists(st.integers(0, len(a.slots) - 1), unique=True))
    return a, [a.slots[i].id for i in idx]


@settings(max_examples=150, deadline=None)
@given(action_and_slots())
def test_score_bounds_and_formula(case):
    a, slots = case
    r = score(a, slots)
    assert 0.0 <= r.score <= 100.0
    assert r.total == a.total_weight
    assert r.penalty == sum(KG.errors[s.split(":")[1]].weight for s in slots)
    assert r.score == pytest.approx((1 - r.penalty / r.total) * 100)


@settings(max_examples=100, deadline=None)
@given(action_and_slots(), st.data())
def test_adding_an_error_never_raises_the_score(case, data):
    a, slots = case
    free = [s.id for s in a.slots if s.id not in slots]
    if not free:
        return
    extra = data.draw(st.sampled_from(free))
    assert score(a, [*slots, extra]).score < score(a, slots).score


@pytest.mark.parametrize("action", ACTIONS)
def test_no_error_is_100_and_every_slot_is_0(action):
    a = KG.action(action)
    assert score(a, []).score == 100.0
    assert score(a, [s.id for s in a.slots]).score == pytest.approx(0.0)
    # all bare occurrences also reach 0
    assert score(a, [s.error for s in a.slots]).score == pytest.approx(0.0)


@settings(max_examples=60, deadline=None)
@given(action_and_slots())
def test_score_from_mask_matches_score(case):
    a, slots = case
    mask = np.array([s.id in slots for s in a.slots], dtype=float)
    assert score_from_mask(a, mask) == pytest.approx(score(a, slots).score)
    assert score_from_mask(a, list(mask)) == pytest.approx(score(a, slots).score)


def test_score_from_mask_batched_probabilities_and_torch():
    a = KG.action("deadlift")
    probs = np.full((3, len(a.slots)), 0.5)
    assert score_from_mask(a, probs) == pytest.approx([50.0] * 3)
    torch = pytest.importorskip("torch")
    p = torch.full((2, len(a.slots)), 0.25, requires_grad=True)
    s = score_from_mask(a, p)
    s.sum().backward()
    assert torch.allclose(s, torch.tensor([75.0, 75.0]))
    assert p.grad is not None and (p.grad < 0).all()
    with pytest.raises(KGError, match="slots"):
        score_from_mask(a, np.zeros(3))


def test_bare_codes_fill_slots_left_after_explicit_ones():
    slots = resolve_slots(KG.action(1), ["ET003", "AK01:ET003"])
    assert [s.id for s in slots] == ["AK01:ET003", "AK04:ET003"]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("ET005", (None, "ET005")),
        ("et5", (None, "ET005")),
        ("AK04:ET005", ("AK04", "ET005")),
        ("ak4:et005", ("AK04", "ET005")),
    ],
)
def test_parse_error_token(token, expected):
    assert parse_error_token(token) == expected


@pytest.mark.parametrize(
    ("action", "errors", "message"),
    [
        ("A01", ["ET999"], "unknown error type"),
        ("A01", ["XYZ"], "cannot read error"),
        ("A01", ["AK99:ET001"], "unknown keystep"),
        ("squat", ["ET001"], "not an error of Squat"),
        ("squat", ["AK01:ET002"], "Squat has no keystep AK01"),
        ("A01", ["AK02:ET001"], "AK02 of Standing Barbell Overhead Press has no error ET001"),
        ("A01", ["AK01:ET001", "AK01:ET001"], "given twice"),
        ("A01", ["ET003"] * 4, "has 3 slot"),
        ("A01", ["AK01:ET003", "ET003", "ET003", "ET003"], "already given explicitly"),
        ("squats", [], "Did you mean"),
    ],
)
def test_error_paths(action, errors, message):
    with pytest.raises(KGError, match=message):
        score(action, errors)
