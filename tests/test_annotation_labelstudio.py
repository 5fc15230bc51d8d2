"""Label Studio interop without a server: the generated configs, tasks, and handmade exports (good and bad).

The same code against a real Label Studio: tests/test_annotation_labelstudio_server.py.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

from flexaqa.annotation.labelstudio import (
    LOCAL_FILES_PREFIX,
    build_tasks,
    labelling_config,
    parse_export,
    read_export,
    read_users,
    repetition_bounds,
    write_tasks,
)
from flexaqa.annotation.records import AnnotationError, LabelSubmission
from flexaqa.cli import main
from flexaqa.kg import load_kg
from flexaqa.testing import make_tiny_dataset

KG = load_kg()
USERS = {1: "ann1@lab.org", 2: "ann2@lab.org", 3: "rev1@lab.org"}
ROLES = {"ann1@lab.org": "annotator", "ann2@lab.org": "annotator", "rev1@lab.org": "reviewer"}


# ------------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize("action", [a.slug for a in KG], ids=lambda s: s)
def test_config_has_every_slot_exactly_once_under_its_keystep(action):
    act = KG.action(action)
    root = ET.fromstring(labelling_config(act))
    aliases = Counter()
    for choices in root.iter("Choices"):
        for choice in choices.iter("Choice"):
            aliases[choice.get("alias")] += 1
            if choices.get("name") != "review":
                assert choice.get("alias").split(":")[0] == choices.get("name")
                assert choice.get("value").startswith(choice.get("alias").split(":")[1] + ": ")
    assert aliases == Counter([s.id for s in act.slots] + ["accept"])
    names = [e.get("name") for e in root.iter() if e.get("name")]
    assert sorted(names) == sorted(["video", "timeline", "score", "review", "feedback", *act.keystep_codes])
    assert all(e.get("toName") == "video" for e in root.iter() if e.get("name") not in (None, "video"))
    assert [lab.get("value") for lab in root.find("TimelineLabels")] == ["repetition", *act.phase_names]
    number = root.find("Number")
    assert (number.get("name"), number.get("min"), number.get("max")) == ("score", "0", "100")
    assert root.find("Video").get("frameRate") == "$fps"


def test_config_escapes_text_and_is_stable():
    xml = labelling_config("squat")
    assert xml == labelling_config("A16") == labelling_config(16)
    assert "90°" in xml  # keystep text kept, as XML-safe text
    ET.fromstring(xml)


# ------------------------------------------------------------------------------------------------- tasks


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("ls") / "ds", subjects=("P01", "N01"), reps=2)


def test_tasks_point_at_the_videos_below_the_document_root(tiny):
    root = tiny.root.parent
    tasks = build_tasks(tiny.root, document_root=root)
    assert sorted(t["data"]["sample_id"] for t in tasks) == sorted(tiny.sample_ids)
    for t in tasks:
        d = t["data"]
        assert d["video"].startswith(LOCAL_FILES_PREFIX)
        rel = unquote(d["video"][len(LOCAL_FILES_PREFIX) :])
        assert rel == f"{tiny.root.name}/trials/{d['trial']}/video/View-1.mp4" and (root / rel).is_file()
        assert d["fps"] > 0 and d["end"] > d["start"] and KG.action(d["action"]).slug == d["action"]
    squats = build_tasks(tiny.root, document_root=root, action="A16")
    assert sorted(t["data"]["sample_id"] for t in squats) == sorted(
        s for s in tiny.sample_ids if "-A16-" in s
    )
    out = write_tasks(tiny.root, root / "tasks.json", document_root=root)
    assert json.loads(out.read_text()) == tasks


def test_tasks_refuse_videos_outside_the_root_and_unknown_views(tiny, tmp_path):
    with pytest.raises(AnnotationError, match="not inside the document root"):
        build_tasks(tiny.root, document_root=tmp_path)
    with pytest.raises(AnnotationError, match="no video view 'View-9'"):
        build_tasks(tiny.root, document_root=tiny.root, view="View-9")


def test_tasks_refuse_the_release_layout(tmp_path):
    rel = make_tiny_dataset(tmp_path / "rel", layout="release", subjects=("P01",), actions=("squat",), reps=1)
    with pytest.raises(AnnotationError, match="release layout stores JPEG frames"):
        build_tasks(rel.root, document_root=tmp_path)


# ------------------------------------------------------------------------------------------------ export


def _choices(keystep, *slots):
    return {"from_name": keystep, "to_name": "video", "type": "choices", "value": {"choices": list(slots)}}


def _span(label, start, end):
    value = {"ranges": [{"start": start, "end": end}], "timelinelabels": [label]}
    return {"from_name": "timeline", "to_name": "video", "type": "timelinelabels", "value": value}


def _ann(aid, user, *result, cancelled=False):
    return {"id": aid, "completed_by": user, "result": list(result), "was_cancelled": cancelled}


def _task(tid, sample, *anns, action="squat", rep=1):
    data = {
        "video": "/data/local-files/?d=x.mp4",
        "sample_id": sample,
        "action": action,
        "rep": rep,
        "trial": sample.rsplit("-", 1)[0],
        "fps": 60.0,
    }
    return {"id": tid, "data": data, "annotations": list(anns), "predictions": []}


def _good_export():
    return [
        _task(
            12,
            "P01-A16-r01",
            _ann(
                3,
                1,
                _choices("AK45", "AK45:ET002"),
                _choices("AK44", "AK44:ET056", "AK44:ET005"),
                {"from_name": "score", "to_name": "video", "type": "number", "value": {"number": 80}},
                {
                    "from_name": "feedback",
                    "to_name": "video",
                    "type": "textarea",
                    "value": {"text": ["a", "b"]},
                },
                _span("eccentric", 7, 30),
                _span("repetition", 1, 60),
                _span("concentric", 31, 60),
            ),
            _ann(4, {"id": 2, "email": "ann2@lab.org"}),
            _ann(5, 3, _choices("AK44", "AK44:ET056")),
            _ann(6, 2, cancelled=True),
        ),
        _task(
            13,
            "P01-A17-r02",
            _ann(
                7,
                3,
                {
                    "from_name": "review",
                    "to_name": "video",
                    "type": "choices",
                    "value": {"choices": ["accept"]},
                },
            ),
            action="barbell-bent-over-row",
            rep=2,
        ),
    ]


def _write(tmp_path: Path, tasks) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks) if not isinstance(tasks, str) else tasks)
    return path


def test_parse_export_reads_every_label_with_stage_by_role(tmp_path):
    path = _write(tmp_path, _good_export())
    got = parse_export(path, role_of=ROLES, users=USERS)
    src = "export.json: task"
    assert got == [
        LabelSubmission(
            "ann1@lab.org",
            1,
            "P01-A16-r01",
            ("AK44:ET005", "AK44:ET056", "AK45:ET002"),
            80.0,
            "a\nb",
            1,
            f"{src} 12, annotation 3",
        ),
        LabelSubmission("ann2@lab.org", 1, "P01-A16-r01", (), None, "", 1, f"{src} 12, annotation 4"),
        LabelSubmission(
            "rev1@lab.org", 2, "P01-A16-r01", ("AK44:ET056",), None, "", 1, f"{src} 12, annotation 5"
        ),
        LabelSubmission(
            "rev1@lab.org", 2, "P01-A17-r02", (), None, "", 2, f"{src} 13, annotation 7", accept=True
        ),
    ]
    full = read_export(path, role_of=ROLES, users=USERS)
    assert full.cancelled == (f"{src} 12, annotation 6",)
    assert [(g.annotator, g.label, g.start, g.end, g.trial, g.rep) for g in full.segments] == [
        ("ann1@lab.org", "eccentric", 0.1, 0.5, "P01-A16", 1),
        ("ann1@lab.org", "repetition", 0.0, 1.0, "P01-A16", 1),
        ("ann1@lab.org", "concentric", 0.5, 1.0, "P01-A16", 1),
    ]
    assert repetition_bounds(full.segments) == {("ann1@lab.org", "P01-A16"): [(1, 0.0, 0.5, 1.0)]}
    assert repetition_bounds(full.segments[1:2]) == {("ann1@lab.org", "P01-A16"): [(1, 0.0, None, 1.0)]}
    stage1_only = _write(tmp_path, _good_export()[:1])
    assert [s.stage for s in parse_export(stage1_only, users=USERS, kg=KG)] == [1, 1, 1]  # no roles: stage 1


def _mutate(fn):
    tasks = _good_export()
    fn(tasks)
    return tasks


def test_repetition_bounds_need_one_repetition_holding_its_phases(tmp_path):
    def bounds(*spans):
        path = _write(tmp_path, [_task(12, "P01-A16-r01", _ann(3, 1, *spans))])
        return repetition_bounds(read_export(path, users=USERS).segments)

    assert bounds(_span("repetition", 1, 60), _span("preparation", 1, 6)) == {
        ("ann1@lab.org", "P01-A16"): [(1, 0.0, None, 1.0)]
    }
    with pytest.raises(AnnotationError, match=r"task 12, annotation 3: ann1@lab.org drew 0 repetition spans"):
        bounds(_span("eccentric", 7, 30))
    with pytest.raises(AnnotationError, match="drew 2 repetition spans for sample P01-A16-r01"):
        bounds(_span("repetition", 1, 60), _span("repetition", 61, 90))
    with pytest.raises(AnnotationError, match=r"result #1: the concentric span 0.500-1.167 s lies outside"):
        bounds(_span("repetition", 1, 60), _span("concentric", 31, 70))
    with pytest.raises(AnnotationError, match=r"result #2: the concentric span must start inside"):
        bounds(_span("repetition", 1, 60), _span("eccentric", 1, 30), _span("concentric", 1, 60))


BAD = {
    "not json": ('[{"id": 1, "annotations": [', "not a Label Studio JSON export"),
    "not a list": ('{"tasks": []}', "a Label Studio JSON export is a list of tasks"),
    "slot of another keystep": (
        _mutate(lambda t: t[0]["annotations"][0]["result"].append(_choices("AK45", "AK44:ET005"))),
        r"task 12, annotation 3, result #7: 'AK44:ET005' is not a slot of keystep AK45",
    ),
    "error the action lacks": (
        _mutate(lambda t: t[0]["annotations"][2]["result"].append(_choices("AK45", "AK45:ET013"))),
        r"task 12, annotation 5 \(sample P01-A16-r01\): ET013 .* is not an error of Squat",
    ),
    "unknown error code": (
        _mutate(lambda t: t[0]["annotations"][2]["result"].append(_choices("AK45", "AK45:ET999"))),
        r"task 12, annotation 5 \(sample P01-A16-r01\): unknown error type",
    ),
    "slot twice": (
        _mutate(lambda t: t[0]["annotations"][2]["result"].append(_choices("AK44", "AK44:ET056"))),
        r"task 12, annotation 5",
    ),
    "keystep of another action": (
        _mutate(lambda t: t[1]["annotations"][0]["result"].append(_choices("AK44", "AK44:ET005"))),
        r"task 13, annotation 7, result #1: unknown control 'AK44'",
    ),
    "annotator twice": (
        _mutate(lambda t: t[0]["annotations"].append(_ann(9, 1))),
        r"task 12, annotation 9: ann1@lab.org labelled sample P01-A16-r01 twice \(also in annotation 3\)",
    ),
    "unknown user id": (
        _mutate(lambda t: t[0]["annotations"].append(_ann(9, 42))),
        r"task 12, annotation 9: completed_by is user id 42",
    ),
    "user without role": (
        _mutate(lambda t: t[0]["annotations"].append(_ann(9, {"id": 8, "email": "who@lab.org"}))),
        r"task 12, annotation 9: who@lab.org has no role",
    ),
    "annotator accepts": (
        _mutate(lambda t: t[1]["annotations"][0].update(completed_by=1)),
        r"task 13, annotation 7, result #0: ann1@lab.org is an annotator \(stage 1\) and cannot accept",
    ),
    "accept and vote": (
        _mutate(lambda t: t[1]["annotations"][0]["result"].append(_choices("AK46", "AK46:ET006"))),
        r"task 13, annotation 7: rev1@lab.org accepted the stage-1 labels and also voted",
    ),
    "score out of range": (
        _mutate(lambda t: t[0]["annotations"][0]["result"][2]["value"].update(number=130)),
        r"task 12, annotation 3, result #2: value.number must be a score between 0 and 100, got 130",
    ),
    "unknown action": (
        _mutate(lambda t: t[1]["data"].update(action="pogo")),
        r"task 13 \(sample P01-A17-r02\): data.action: unknown action 'pogo'",
    ),
    "no sample id": (_mutate(lambda t: t[0]["data"].pop("sample_id")), r"task 12: data.sample_id must be"),
    "bad timeline label": (
        _mutate(lambda t: t[0]["annotations"][0]["result"][4]["value"].update(timelinelabels=["rep"])),
        r"task 12, annotation 3, result #4: value.timelinelabels must be one of",
    ),
    "timeline without fps": (
        _mutate(lambda t: t[0]["data"].pop("fps")),
        r"task 12, annotation 3, result #4: a timeline needs the task's data.fps",
    ),
    "result not a list": (
        _mutate(lambda t: t[0]["annotations"][1].update(result={})),
        r"task 12, annotation 4: 'result' must be a list",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_parse_export_rejects_bad_input_naming_task_and_annotation(tmp_path, case):
    content, message = BAD[case]
    path = _write(tmp_path, content)
    with pytest.raises(AnnotationError, match=message):
        parse_export(path, role_of=ROLES, users=USERS)


def test_read_users_from_api_answer_or_mapping(tmp_path):
    api = tmp_path / "users.json"
    api.write_text(
        json.dumps([{"id": 1, "email": "ann1@lab.org", "username": ""}, {"id": 3, "email": "r@l"}])
    )
    assert read_users(api) == {1: "ann1@lab.org", 3: "r@l"}
    api.write_text(json.dumps({"1": "ann1@lab.org"}))
    assert read_users(api) == {1: "ann1@lab.org"}
    api.write_text(json.dumps([{"id": "1"}]))
    with pytest.raises(AnnotationError, match=r"users.json: user #0"):
        read_users(api)


# --------------------------------------------------------------------------------------------------- CLI


def test_cli_config_tasks_and_dry_run_import(tiny, tmp_path, capsys):
    assert main(["annotate", "labelstudio", "config", "squat"]) == 0
    assert capsys.readouterr().out == labelling_config("squat")
    out = tmp_path / "tasks.json"
    args = ["--data", str(tiny.root), "--out", str(out), "--document-root", str(tiny.root.parent)]
    assert main(["annotate", "labelstudio", "tasks", *args, "--action", "squat"]) == 0
    assert len(json.loads(out.read_text())) == sum("-A16-" in s for s in tiny.sample_ids)
    export = _write(tmp_path, _good_export())
    users = tmp_path / "users.json"
    users.write_text(json.dumps({str(k): v for k, v in USERS.items()}))
    base = ["annotate", "labelstudio", "import", str(export), "--users", str(users), "--dry-run"]
    roles = ["--annotators", "ann1@lab.org,ann2@lab.org", "--reviewers", "rev1@lab.org"]
    assert main([*base, *roles]) == 2  # stage 1 and 2 in one export: one stage at a time
    assert "import it twice: --stage 1, then --stage 2" in capsys.readouterr().err
    assert main([*base, *roles, "--stage", "1"]) == 0
    printed = capsys.readouterr().out
    assert "2 stage-2 label(s) left out (--stage 1)" in printed
    assert "stage 1  P01-A16-r01  ann1@lab.org: AK44:ET005, AK44:ET056, AK45:ET002" in printed
    assert "rev1@lab.org" not in printed
    assert "segment  P01-A16 rep 1  ann1@lab.org: 0.000-1.000 s, turn 0.500" in printed
    assert main([*base, *roles, "--stage", "2"]) == 0
    printed = capsys.readouterr().out
    assert "stage 2  P01-A17-r02  rev1@lab.org: accept" in printed
    assert "not imported (cancelled in Label Studio): export.json: task 12, annotation 6" in printed
    assert main([*base, "--reviewers", "rev1@lab.org"]) == 3  # ann1 and ann2 have no role: bad data
    assert "ann1@lab.org has no role" in capsys.readouterr().err
    assert main([*base, "--annotators", "rev1@lab.org", "--reviewers", "rev1@lab.org"]) == 2
    assert "rev1@lab.org is given as both annotator and reviewer" in capsys.readouterr().err
    stage1 = _write(tmp_path, _good_export()[:1])  # no roles given: everyone labels (stage 1)
    assert main(["annotate", "labelstudio", "import", str(stage1), "--users", str(users), "--dry-run"]) == 0
    assert "stage 1  P01-A16-r01  rev1@lab.org: AK44:ET056" in capsys.readouterr().out


def test_cli_import_writes_labels_and_segments_to_the_store(tmp_path, capsys):
    import flexaqa.annotation

    if not (Path(flexaqa.annotation.__file__).parent / "store.py").is_file():
        pytest.skip("the annotation store is not on this branch yet")
    from flexaqa.annotation import AnnotationStore, default_url

    ds = make_tiny_dataset(tmp_path / "ds", subjects=("P01",), actions=("squat",), reps=2)
    labellers, reviewers = ["a1@l", "a2@l", "a3@l"], ["r1@l", "r2@l", "r3@l"]
    data = ["--data", str(ds.root)]
    assert main(["annotate", "init", *data]) == 0
    assert (
        main(
            [
                "annotate",
                "assign",
                *data,
                "--labellers",
                ",".join(labellers),
                "--reviewers",
                ",".join(reviewers),
            ]
        )
        == 0
    )
    users = {i + 1: name for i, name in enumerate(labellers + reviewers)}
    tasks, aid = [], 0
    for k, t in enumerate(build_tasks(ds.root, document_root=tmp_path)):
        d = t["data"]
        first, last = round(d["start"] * d["fps"]) + 1, round(d["end"] * d["fps"])
        anns = []
        for uid in users:
            aid += 1
            result = [_choices("AK44", "AK44:ET056")] if (uid + k) % 2 else []
            if uid == 1:
                result += [
                    _span("repetition", first, last),
                    _span("eccentric", first, first + 20),
                    _span("concentric", first + 21, last),
                ]
            anns.append(_ann(aid, uid, *result))
        tasks.append({"id": k + 1, "data": d, "annotations": anns})
    export = _write(tmp_path, tasks)
    (tmp_path / "users.json").write_text(json.dumps({str(k): v for k, v in users.items()}))
    common = [
        "annotate",
        "labelstudio",
        "import",
        str(export),
        *data,
        "--users",
        str(tmp_path / "users.json"),
        "--annotators",
        ",".join(labellers),
        "--reviewers",
        ",".join(reviewers),
    ]
    assert main([*common, "--stage", "1"]) == 0
    assert "imported 6 labels and 2 repetition segments" in capsys.readouterr().out
    assert main([*common, "--stage", "2"]) == 0
    assert main([*common, "--stage", "2"]) == 3  # the same reviews again: refused, nothing written
    assert "already labelled" in capsys.readouterr().err
    with AnnotationStore.open(default_url(ds.root)) as store:
        labels = store.current_labels()
        segments = store.segments()
    assert len(labels) == 12
    for t in tasks:
        for a in t["annotations"]:
            who = users[a["completed_by"]]
            row = labels[(t["data"]["sample_id"], who, 1 if who in labellers else 2)]
            assert row.slots == tuple(
                c for r in a["result"] if r["type"] == "choices" for c in r["value"]["choices"]
            )
    for t in tasks:
        d = t["data"]
        seg = segments[(d["trial"], d["rep"])]
        assert (seg["annotator"], seg["start"], seg["end"]) == (
            "a1@l",
            pytest.approx(d["start"]),
            pytest.approx(d["end"]),
        )
        assert d["start"] < seg["turn"] < d["end"]
