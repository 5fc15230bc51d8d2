"""`flexaqa kg ...` and `flexaqa score`: outputs, exports that round-trip, every error path, no heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flexaqa.cli import main
from flexaqa.kg import load_kg
from flexaqa.kg.export import to_json


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_kg_list(capsys):
    code, out, _ = run(capsys, "kg", "list")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 22  # header, rule, 20 actions
    assert "squat" in lines[17] and lines[17].split()[-1] == "132"


def test_kg_list_json(capsys):
    code, out, _ = run(capsys, "kg", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 20
    assert rows[0] == {
        "index": 1,
        "class_id": "A01",
        "slug": "standing-barbell-overhead-press",
        "name": "Standing Barbell Overhead Press",
        "equipment": "barbell",
        "keysteps": 5,
        "slots": 25,
        "total_weight": 161,
    }


def test_kg_show(capsys):
    code, out, _ = run(capsys, "kg", "show", "a16", "--feedback")
    assert code == 0
    assert out.index("PREPARATION") < out.index("ECCENTRIC") < out.index("CONCENTRIC")
    assert "AK56" in out and "ET056 (w 10, joint_safety) Knees caving inward." in out
    assert "Left vastus lateralis" in out and "-> Push your knees out" in out


def test_kg_validate_ok(capsys):
    code, out, _ = run(capsys, "kg", "validate")
    assert code == 0 and "OK" in out and "416 slots" in out


def test_kg_validate_reports_problems(capsys, tmp_path):
    text = load_kg().source
    bad = tmp_path / "fkg.yaml"
    bad.write_text(
        Path(text).read_text(encoding="utf-8").replace("    weight: 10\n", "    weight: 12\n", 1),
        encoding="utf-8",
    )
    code, _, err = run(capsys, "kg", "--file", str(bad), "validate")
    assert code == 1
    assert "weight must be an integer 1-10, got 12" in err and str(bad) in err


def test_score_text_and_json(capsys):
    code, out, _ = run(capsys, "score", "A01", "ET001", "ET006", "ET005", "AK04:ET008", "ET018", "AK05:ET003")
    assert code == 0
    assert out.splitlines()[0].startswith("Standing Barbell Overhead Press: score 77.02 / 100")
    code, out, _ = run(capsys, "score", "squat", "ET056", "--json")
    d = json.loads(out)
    assert code == 0
    assert {"action", "score", "penalty", "total", "errors"} <= set(d)
    assert d["penalty"] == 10 and d["total"] == 132
    assert d["errors"][0]["keystep"] == "AK44"


def test_score_flawless(capsys):
    code, out, _ = run(capsys, "score", "deadlift")
    assert code == 0 and "score 100.00" in out and "no errors observed" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["score", "squatt", "ET001"], "unknown action 'squatt'. Did you mean: squat"),
        (["score", "squat", "ET070"], "unknown error type 'ET070'"),
        (
            ["score", "squat", "ET001"],
            "ET001 (Feet positioned too narrowly or too widely.) is not an error of Squat",
        ),
        (["score", "squat", "AK44:ET056", "AK44:ET056"], "slot AK44:ET056 is given twice"),
        (["score", "squat", "ET002", "ET002", "ET002", "ET002"], "Squat has 3 slot(s) of ET002"),
        (["score", "squat", "AK45:ET056"], "AK45 of Squat has no error ET056"),
        (["score", "squat", "foo"], "cannot read error 'foo'"),
        (["kg", "show", "benchpress"], "unknown action 'benchpress'"),
        (["kg", "draw", "nope", "--out", "x.png"], "unknown action 'nope'"),
    ],
)
def test_cli_error_paths(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert message in err and err.startswith("flexaqa: error:")


def test_missing_kg_file_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "kg", "--file", str(tmp_path / "missing.yaml"), "list")
    assert code == 9 and "file not found" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["kg", "export", "--format", "xml", "--out", "x"])
    assert info.value.code == 2
    assert main([]) == 2


def test_export_json_round_trip(capsys, tmp_path):
    out = tmp_path / "fkg.json"
    code, _, _ = run(capsys, "kg", "export", "--format", "json", "--out", str(out))
    data = json.loads(out.read_text(encoding="utf-8"))
    assert code == 0
    assert data == json.loads(json.dumps(to_json(load_kg())))
    assert [a["total_weight"] for a in data["actions"]] == [a.total_weight for a in load_kg().actions]


def test_export_jsonld_is_valid_rdf(capsys, tmp_path):
    rdflib = pytest.importorskip("rdflib")
    out = tmp_path / "fkg.jsonld"
    run(capsys, "kg", "export", "--format", "jsonld", "--out", str(out))
    g = rdflib.Graph().parse(out, format="json-ld")
    voc = rdflib.Namespace("https://w3id.org/flexaqa/fkg/vocab#")
    errors = set(g.subjects(rdflib.RDF.type, voc.ErrorType))
    actions = set(g.subjects(rdflib.RDF.type, voc.Action))
    slots = set(g.subjects(rdflib.RDF.type, voc.Slot))
    assert (len(errors), len(actions), len(slots)) == (63, 20, 416)
    et056 = rdflib.URIRef("https://w3id.org/flexaqa/fkg/error/ET056")
    assert int(g.value(et056, voc.weight)) == 10


def test_export_graphml_loads_in_networkx(capsys, tmp_path):
    nx = pytest.importorskip("networkx")
    out = tmp_path / "fkg.graphml"
    run(capsys, "kg", "export", "--format", "graphml", "--out", str(out))
    g = nx.read_graphml(out)
    types = {d["type"] for _, d in g.nodes(data=True)}
    assert types == {"action", "phase", "keystep", "error", "feedback", "muscle"}
    assert sum(d["type"] == "action" for _, d in g.nodes(data=True)) == 20
    assert g.nodes["error:ET052"]["weight"] == "10"
    squat_errors = {
        v for u, v, d in g.edges(data=True) if d.get("relation") == "has_error" and d["action"] == "A16"
    }
    assert len(squat_errors) == len(set(load_kg().action("squat").error_codes))


def test_draw_writes_a_png(capsys, tmp_path):
    out = tmp_path / "sub" / "squat.png"
    code, text, _ = run(capsys, "kg", "draw", "squat", "--out", str(out))
    assert code == 0 and str(out) in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize(
    "argv",
    [
        ["kg", "list"],
        ["kg", "show", "squat"],
        ["kg", "validate"],
        ["score", "A01", "ET001"],
        ["score", "--help"],
    ],
)
def test_kg_and_score_never_import_heavy_modules(argv):
    heavy = (
        "scipy",
        "torch",
        "matplotlib",
        "av",
        "mediapipe",
        "pandas",
        "sqlalchemy",
        "ray",
        "fastapi",
        "cv2",
    )
    code = (
        "import sys\nfrom flexaqa.cli import main\n"
        f"try:\n    rc = main({argv!r})\nexcept SystemExit as e:\n    rc = e.code\n"
        f"heavy = [m for m in {heavy!r} if m in sys.modules]\n"
        "print('HEAVY', heavy)\nsys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout


def test_python_dash_m_and_version():
    proc = subprocess.run(
        [sys.executable, "-m", "flexaqa", "--version"], capture_output=True, text=True, check=True
    )
    assert proc.stdout.startswith("flexaqa ")
