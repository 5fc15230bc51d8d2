"""The shipped knowledge graph against the paper (Tables 7-10, section 7.4) and the loader's validation."""

from __future__ import annotations

import copy

import pytest
import yaml

from flexaqa.errors import KGError, KGValidationError
from flexaqa.kg import PHASE_NAMES, build_kg, default_path, load_kg, validate_kg_data

# Table 10, transcribed independently of the data file.
TABLE10_WEIGHTS = [
    6,
    9,
    9,
    8,
    5,
    6,
    6,
    6,
    9,
    5,
    6,
    4,
    7,
    2,
    8,
    7,
    2,
    5,
    7,
    8,
    8,
    8,
    7,
    8,
    9,
    4,
    8,
    7,
    8,
    5,
    5,
    9,
    7,
    6,
    5,
    8,
    9,
    8,
    7,
    7,
    7,
    9,
    9,
    7,
    5,
    5,
    8,
    7,
    7,
    8,
    5,
    10,
    9,
    9,
    10,
    10,
    8,
    6,
    6,
    6,
    9,
    8,
    10,
]

# Table 8: (side initial + muscle) per channel, in the table's column order.
AD, MD, PD, BB, TB, PM, BF, VL, LD = (
    "anterior deltoid",
    "medial deltoid",
    "posterior deltoid",
    "biceps brachii",
    "triceps brachii",
    "pectoralis major",
    "biceps femoris",
    "vastus lateralis",
    "latissimus dorsi",
)
TABLE8 = {
    1: [AD, AD, MD, MD],
    2: [BB, BB, TB, TB],
    3: [MD, MD, AD, AD],
    4: [AD, AD, MD, MD],
    5: [BB, BB, TB, TB],
    6: [MD, MD, AD, AD],
    7: [PD, PD],
    8: [PM] * 4,
    9: [PM] * 4,
    10: [PM] * 4,
    11: [PM] * 4,
    12: [PM] * 4,
    13: [PM] * 4,
    14: [AD, AD, MD, MD],
    15: [BF, BF, VL, VL],
    16: [VL, VL, BF, BF],
    17: [LD, LD],
    18: [LD, LD],
    19: [LD, LD],
    20: [TB, TB, BB, BB],
}

PAPER_ORDER = [
    "Standing Barbell Overhead Press",
    "Barbell Biceps Curl",
    "Barbell Upright Row",
    "Dumbbell Front Raise",
    "Dumbbell Biceps Curl",
    "Dumbbell Lateral Raise",
    "Bent-Over Dumbbell Reverse Fly",
    "Flat Barbell Bench Press",
    "Incline Barbell Bench Press",
    "Decline Barbell Bench Press",
    "Flat Dumbbell Bench Press",
    "Incline Dumbbell Bench Press",
    "Dumbbell Fly",
    "Seated Dumbbell Shoulder Press",
    "Deadlift",
    "Squat",
    "Barbell Bent-Over Row",
    "T-Bar Row",
    "Dumbbell Bent-Over Row",
    "Dumbbell Bent-Over Triceps Extension",
]


@pytest.fixture(scope="module")
def kg():
    return load_kg()


@pytest.fixture()
def raw():
    return yaml.safe_load(default_path().read_text(encoding="utf-8"))


def test_counts_match_the_paper(kg):
    assert len(kg.actions) == 20
    assert len(kg.errors) == 63
    # The paper's Table 9 numbers 56 keysteps: AK56 is the squat's own stance keystep.
    assert sorted(kg.keysteps) == [f"AK{i:02d}" for i in range(1, 57)]
    assert [a.name for a in kg.actions] == PAPER_ORDER
    assert [a.class_id for a in kg.actions] == [f"A{i:02d}" for i in range(1, 21)]
    assert sum(a.equipment == "barbell" for a in kg.actions) == 10
    assert len(kg.muscles) == 15


def test_every_weight_of_table10(kg):
    assert [kg.errors[f"ET{i:03d}"].weight for i in range(1, 64)] == TABLE10_WEIGHTS


def test_every_emg_channel_of_table8(kg):
    for a in kg.actions:
        assert [c.muscle for c in a.emg_channels] == TABLE8[a.index], a.name
        assert [c.side for c in a.emg_channels] == ["left", "right"] * (len(a.emg_channels) // 2)
        assert len({c.label for c in a.emg_channels}) == len(a.emg_channels)
    distinct = {(c.side, c.muscle) for a in kg.actions for c in a.emg_channels}
    assert len(distinct) == 18  # "18 different muscles" of the Video2EMG experiment


def test_phase_order_follows_the_tables(kg):
    eccentric_first = {
        a.slug for a in kg.actions if a.phase_names == ("preparation", "eccentric", "concentric")
    }
    assert eccentric_first == {
        "flat-barbell-bench-press",
        "incline-barbell-bench-press",
        "decline-barbell-bench-press",
        "dumbbell-fly",
        "squat",
    }
    for a in kg.actions:
        assert sorted(a.phase_names) == sorted(PHASE_NAMES)


def test_known_totals_and_slot_rules(kg):
    ohp = kg.action(1)
    assert (len(ohp.slots), ohp.total_weight) == (25, 161)
    # an error under two keysteps of one action is two slots
    assert [s.keystep for s in ohp.slots_of("ET003")] == ["AK01", "AK04", "AK05"]
    for a in kg.actions:
        assert a.total_weight == sum(kg.errors[s.error].weight for s in a.slots)
        assert len({s.id for s in a.slots}) == len(a.slots)


def test_ak01_always_carries_et001_to_et004(kg):
    for a in kg.actions:
        for p in a.phases:
            for ke in p.keysteps:
                if ke.keystep == "AK01":
                    assert ke.errors == ("ET001", "ET002", "ET003", "ET004"), a.name


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("dumbbell-biceps-curl", {"AK01": 4, "AK16": 1, "AK07": 3}),
        ("dumbbell-lateral-raise", {"AK01": 4, "AK19": 3}),
        ("bent-over-dumbbell-reverse-fly", {"AK21": 4, "AK22": 2}),
        ("flat-barbell-bench-press", {"AK24": 4, "AK25": 3}),
    ],
)
def test_merged_rows_are_resolved_keeping_every_error(kg, action, expected):
    prep = kg.action(action).phases[0]
    assert {ke.keystep: len(ke.errors) for ke in prep.keysteps} == expected


def test_severity_classes_follow_section_7_4(kg):
    for e in kg.errors.values():
        c = kg.severity_classes[e.severity]
        assert c.min_weight <= e.weight <= c.max_weight or e.note, e.code
    assert {e.code for e in kg.errors.values() if e.severity == "breathing"} == {"ET014", "ET017"}


def test_breathing_errors_sit_in_the_phase_they_contradict(kg):
    for a in kg.actions:
        for s in a.slots:
            if s.error == "ET014":  # inhaling while lifting
                assert s.phase == "concentric"
                assert kg.keysteps[s.keystep].text.startswith("Exhale")
            if s.error == "ET017":
                assert s.phase == "eccentric"
                assert kg.keysteps[s.keystep].text.startswith("Inhale")


def test_every_error_has_feedback_and_overrides_apply(kg):
    assert all(e.feedback.strip() for e in kg.errors.values())
    assert kg.feedback("ET039", "AK44") != kg.feedback("ET039")
    assert "90" in kg.feedback("ET039", "AK44")
    assert kg.feedback("ET039", "AK49") == kg.keysteps["AK49"].feedback["ET039"]
    assert kg.feedback("ET056", "AK44") == kg.errors["ET056"].feedback  # no override: generic cue


@pytest.mark.parametrize("key", [16, "16", "A16", "a16", "squat", "SQUAT", "Squat", " squat "])
def test_action_lookup_by_any_key(kg, key):
    assert kg.action(key).slug == "squat"


def test_action_lookup_by_alias_and_name(kg):
    assert kg.action("barbell bicep curl").index == 2
    assert kg.action("Dumbbell Bent-Over Triceps Extension").class_id == "A20"
    assert kg.action("t_bar_row").index == 18


def test_unknown_action_suggests_close_names(kg):
    with pytest.raises(KGError, match="squat"):
        kg.action("squatt")
    with pytest.raises(KGError, match="unknown action"):
        kg.action(21)


def test_load_is_cached(kg):
    assert load_kg() is kg


def test_shipped_data_validates(raw):
    assert validate_kg_data(raw) == []


def _first_action_keystep(d):
    return d["actions"][0]["phases"][0]["keysteps"][0]


CORRUPTIONS = {
    "unknown top-level key": (lambda d: d.update(extra=1), "unknown top-level key 'extra'"),
    "weight out of range": (
        lambda d: d["errors"]["ET001"].update(weight=11),
        "ET001.weight must be an integer",
    ),
    "weight outside class": (lambda d: d["errors"]["ET001"].update(weight=9), "outside posture_amplitude"),
    "empty feedback": (lambda d: d["errors"]["ET002"].update(feedback=""), "ET002.feedback is empty"),
    "unknown error in action": (
        lambda d: _first_action_keystep(d)["errors"].append("ET099"),
        "unknown error 'ET099'",
    ),
    "slot listed twice": (
        lambda d: _first_action_keystep(d)["errors"].append("ET001"),
        "error ET001 listed 2 times",
    ),
    "unknown keystep": (lambda d: _first_action_keystep(d).update(keystep="AK77"), "unknown keystep 'AK77'"),
    "bad phase": (
        lambda d: d["actions"][0]["phases"][1].update(name="isometric"),
        "'isometric' must be one of",
    ),
    "breathing error in wrong phase": (
        lambda d: _first_action_keystep(d)["errors"].append("ET014"),
        "breathing error ET014 belongs to the concentric phase",
    ),
    "bad class id": (lambda d: d["actions"][3].update(class_id="A99"), "class_id is 'A99', expected 'A04'"),
    "duplicate slug": (lambda d: d["actions"][1].update(slug="squat"), "'squat' is used by 2 actions"),
    "unknown muscle": (
        lambda d: d["actions"][0]["target_muscles"].append("calves"),
        "'calves' is not one of",
    ),
    "bad emg side": (
        lambda d: d["actions"][0]["emg_channels"][0].update(side="centre"),
        "must be left or right",
    ),
    "override of an error the keystep lacks": (
        lambda d: d["keysteps"]["AK01"].setdefault("feedback", {}).update(ET056="Knees out."),
        "AK01 never carries ET056",
    ),
    "unused error type": (
        lambda d: d["errors"].update(
            ET064={"text": "x", "weight": 5, "severity": "fine_control", "feedback": "y"}
        ),
        "errors.ET064 is not used by any action",
    ),
    "wrong schema version": (lambda d: d.update(schema_version=2), "schema_version is 2"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_validation_reports_each_corruption(raw, name):
    mutate, message = CORRUPTIONS[name]
    bad = copy.deepcopy(raw)
    mutate(bad)
    problems = validate_kg_data(bad)
    assert any(message in p for p in problems), problems
    with pytest.raises(KGValidationError) as info:
        build_kg(bad, source="bad.yaml")
    assert "bad.yaml" in str(info.value)


def test_validation_lists_all_problems_at_once(raw):
    bad = copy.deepcopy(raw)
    bad["errors"]["ET001"]["weight"] = 0
    bad["errors"]["ET002"]["feedback"] = ""
    assert len(validate_kg_data(bad)) >= 2
