"""`flexaqa.pose_rules`: the whole rules file is checked when it is loaded, whichever action is asked for."""

from __future__ import annotations

import pytest

from flexaqa.pose_rules import RULES_PATH, RulesError, load_rules
from flexaqa.pose_rules.rules import load_rules_file

BASE = "scales: {deg: 10.0}\nnot_assessable: {}\nerrors: {}\nactions: {}\n"


def _file(tmp_path, text: str):
    p = tmp_path / "rules.yaml"
    p.write_text(text)
    return p


def test_the_shipped_rules_file_passes_its_checks():
    data = load_rules_file(str(RULES_PATH))
    assert set(data) >= {"errors", "actions", "not_assessable", "scales", "video"}
    assert load_rules("squat").rules  # and gives the squat rules


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (BASE + "monocular_margins: {deg: 1}\n", r"monocular_margins.*did you mean 'monocular_margin'"),
        (BASE.replace("{deg: 10.0}", "{deg: 10.0, degree: 1}"), "scales: unknown key 'degree'"),
        (BASE.replace("{deg: 10.0}", "{deg: -1}"), r"scales.deg: expected a number >= 0"),
        (BASE + "confidence: {min_visiblity: 0.5}\n", "did you mean 'min_visibility'"),
        (BASE.replace("not_assessable: {}", "not_assessable: {ET999: no}"), r"not_assessable: .*ET999"),
        (BASE.replace("errors: {}", "errors: {ET999: {feature: knee_angle, above: 1}}"), "errors.ET999"),
        (
            BASE.replace("errors: {}", "errors: {ET004@middle: {feature: knee_angle, above: 1}}"),
            "ET004@middle",
        ),
        # a rule of an error no squat slot has, for an action nobody asked for: still checked
        (BASE.replace("errors: {}", "errors: {ET022: {feature: elbow_angel, above: 1}}"), "elbow_angel"),
        (BASE.replace("actions: {}", "actions: {squatt: {}}"), r"actions: .*'squatt'.*did you mean 'squat'"),
        (
            BASE.replace("actions: {}", "actions:\n  barbell-biceps-curl: {AK44:ET056: {skip: x}}"),
            "not a slot",
        ),
        (
            BASE.replace(
                "actions: {}", "actions:\n  barbell-biceps-curl: {AK08:ET022: {feature: x, above: 1}}"
            ),
            "unknown feature 'x'",
        ),
        (BASE.replace("actions: {}", "actions:\n  squat: {AK44:ET056: {skip: ''}}"), "skipped slot"),
    ],
)
def test_a_broken_rules_file_fails_at_load_naming_the_field(tmp_path, text, match):
    with pytest.raises(RulesError, match=match):
        load_rules("squat", path=_file(tmp_path, text))
