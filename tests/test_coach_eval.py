"""``flexaqa coach eval --labels``: repetition counts and per-error precision/recall/F1 on labelled clips."""

from __future__ import annotations

import json

import pytest

from flexaqa.coach import synthetic_set
from flexaqa.coach.evaluate import LabelsError, evaluate_labels, match_reps, read_labels
from flexaqa.testing import keypoint_file


def test_match_reps_is_one_to_one_by_overlap():
    true = [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]
    pred = [(0.1, 2.1), (2.3, 3.9), (9.0, 10.0)]
    assert match_reps(true, pred) == [(0, 0), (1, 1)]
    assert match_reps(true, [(0.0, 6.0)]) == []  # one long "repetition" overlaps each true one by a third


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A FLEX-21 squat set with depth missed in its second repetition, and its labels: the truth, except that the
    third repetition is labelled with an error the coach will not find and the first one's label is absent."""
    d = tmp_path_factory.mktemp("eval")
    s = synthetic_set("squat", n_reps=3, errors=[(), ("AK44:ET039",), ()])
    path = keypoint_file(d, "flex", s)
    rows = ["file,action,start,end,errors,pose_format,fps"]
    labels = ["", "AK44:ET039", "ET056"]  # rep 3: knees caving that is not there -> a miss
    for r, e in zip(s.reps, labels, strict=True):
        rows.append(f"{path.name},squat,{r.start},{r.end},{e},flex,30")
    (d / "labels.csv").write_text("\n".join(rows) + "\n")
    return d / "labels.csv"


def test_evaluate_counts_repetitions_and_scores_each_error(labelled):
    res = evaluate_labels(labelled)
    assert res["clips"] == 1 and res["rep_count_accuracy"] == 1.0 and res["matched_reps"] == 3
    assert res["errors"]["ET039"]["tp"] == 1 and res["errors"]["ET039"]["fp"] == 0
    assert res["errors"]["ET056"] == {**res["errors"]["ET056"], "tp": 0, "fn": 1, "fp": 0, "recall": 0.0}
    tot = res["errors_total"]
    assert tot["tp"] == 1 and tot["fn"] == 1 and tot["precision"] == 1.0 and tot["recall"] == 0.5


def test_cli_coach_eval_writes_markdown_and_json(labelled, tmp_path, capsys):
    from flexaqa.cli import main

    assert main(["coach", "eval", "--labels", str(labelled), "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "eval.json").read_text())
    md = (tmp_path / "eval.md").read_text()
    assert res["rep_count_accuracy"] == 1.0 and "| ET039 | 1 | 0 | 0 |" in md
    assert main(["coach", "eval", "--out", str(tmp_path)]) == 2  # --labels missing


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("file,action\nx,squat\n", "columns missing \\['start', 'end'\\]"),
        ("file,action,start,end,colour\nx,squat,0,1,red\n", "unknown \\['colour'\\]"),
        ("file,action,start,end\nx,squat,2,1\n", "row 2: start and end must be numbers with end > start"),
        ("file,action,start,end,errors\nx,squat,0,1,knees\n", "row 2: errors must be slots"),
        ("file,action,start,end,unit\nx,squat,0,30,frame\n", "unit=frame needs the clip's fps"),
        ("file,action,start,end\n", "no labelled row"),
    ],
)
def test_bad_labels_name_the_file_row_and_column(text, match, tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text(text)
    with pytest.raises(LabelsError, match=match) as ei:
        read_labels(p)
    assert "labels.csv" in str(ei.value)


def test_frame_index_labels_use_the_clip_fps(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("file,action,start,end,unit,fps,errors\nx,squat,30,90,frame,30,ET039\nx,squat,,,,30,\n")
    (clip,) = read_labels(p)
    assert clip["reps"] == [(1.0, 3.0, ("ET039",))]
