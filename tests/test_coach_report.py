"""Coach report: the JSON validates against its schema, the HTML has what a person needs, streaming works."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from flexaqa.coach import (
    Coach,
    NoRepetitionError,
    analyse_pose,
    report_problems,
    synthetic_set,
    validate_report,
)
from flexaqa.coach.schema import ReportSchemaError, report_schema


@pytest.fixture(scope="module")
def report_and_pose():
    s = synthetic_set("squat", n_reps=3, errors=[(), ("AK44:ET056",), ("AK44:ET056", "AK44:ET039")])
    return analyse_pose(s.pose, "squat", segmenter=s.segmenter), s.pose


def test_report_validates(report_and_pose):
    report, _ = report_and_pose
    assert report_problems(report) == []
    json.loads(json.dumps(report))  # plain JSON types only
    assert report["set"]["n_reps"] == 3
    assert report["set"]["score_mean"] == pytest.approx(
        np.mean([r["score"] for r in report["repetitions"]]), abs=0.01
    )


def test_schema_catches_broken_reports(report_and_pose):
    report, _ = report_and_pose
    bad = json.loads(json.dumps(report))
    bad["repetitions"][1]["score"] = 130
    bad["repetitions"][0]["detected"] = ["ET056"]
    del bad["coverage"]["share"]
    problems = report_problems(bad)
    assert any("score" in p and "maximum" in p for p in problems)
    assert any("detected[0]" in p for p in problems)
    assert any("share" in p for p in problems)
    with pytest.raises(ReportSchemaError):
        validate_report(bad)


def test_schema_is_valid_json_schema(report_and_pose):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(report_schema())
    jsonschema.validate(report_and_pose[0], report_schema())


def test_no_repetition_gives_a_valid_partial_report():
    s = synthetic_set("squat", n_reps=1)
    with pytest.raises(NoRepetitionError) as info:
        analyse_pose(s.pose, "squat", segmenter=lambda pose, action: [])
    rep = info.value.report
    assert info.value.code == 7 and rep["status"] == "failed"
    assert rep["problems"][0]["code"] == "no_repetition"
    assert report_problems(rep) == []


def test_html_report(report_and_pose):
    from flexaqa.coach.html import render_html

    report, pose = report_and_pose
    page = render_html(report, pose)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert page.count("data:image/png;base64,") >= 4  # score chart, 2 key frames, measures plot
    assert "Push your knees out" in page  # the FKG cue of ET056
    assert "Not checked from this video" in page and "breathing" in page


def test_streaming_coach_reports_each_repetition_once():
    s = synthetic_set("squat", n_reps=3, errors=[(), ("AK44:ET039",), ()])
    coach = Coach("squat", view="3d", segmenter=s.segmenter)
    events = []
    for i, t in enumerate(s.pose.t):
        events += coach.update_pose(s.pose.joints[i], None, t)
    events += coach.flush()
    reps = [e for e in events if e.kind == "rep"]
    assert [e.rep for e in reps] == [0, 1, 2]
    assert [e.data["errors"] for e in reps] == [[], ["AK44:ET039"], []]
    # every repetition is reported after it ended, and before the stream ended when it could be
    assert all(e.t >= s.reps[e.rep].end - 1e-4 for e in reps)  # the report rounds times to 0.1 ms
    assert events[0].kind == "person_found"


def test_streaming_coach_notices_the_person_leaving():
    s = synthetic_set("squat", n_reps=1)
    coach = Coach("squat", view="3d", segmenter=s.segmenter)
    kinds = []
    for i, t in enumerate(s.pose.t[:20]):
        kinds += [e.kind for e in coach.update_pose(None if 5 <= i < 10 else s.pose.joints[i], None, t)]
    assert kinds == ["person_found", "person_lost", "person_found"]


def _with_image(pose):
    """A front projection of a 3D pose as normalised image coordinates (x right, y down)."""
    from flexaqa.coach import PoseSequence

    xz = np.stack([pose.joints[..., 0], -pose.joints[..., 2]], -1)
    img = (xz - np.array([-1.0, -2.0])) / 3.0
    return PoseSequence(pose.t, pose.joints, pose.visibility, pose.present, image=img, image_size=(96, 96))


def test_annotated_frames_show_skeleton_counter_and_faulty_joints():
    pytest.importorskip("cv2")
    from flexaqa.coach.annotate import annotate_frames

    s = synthetic_set("squat", n_reps=2, errors=[(), ("AK44:ET056",)])
    pose = _with_image(s.pose)
    report = analyse_pose(pose, "squat", segmenter=s.segmenter)
    frames = np.zeros((len(pose), 96, 96, 3), np.uint8)
    out = annotate_frames(frames, pose.t, pose, report)
    assert out.shape == frames.shape and not frames.any()  # input untouched
    bottom_clean = pose.frame_at(s.reps[0].turn)
    bottom_bad = pose.frame_at(s.reps[1].turn)
    red = lambda im: int(((im[..., 0] > 180) & (im[..., 1] < 90)).sum())  # noqa: E731
    assert out[bottom_clean].any() and red(out[bottom_clean]) == 0
    assert red(out[bottom_bad]) > 20  # the valgus knees are drawn in red


def test_full_video_pipeline_on_a_real_person(tmp_path):
    pytest.importorskip("mediapipe")
    from flexaqa.coach import Rep
    from flexaqa.coach.pipeline import coach_video, write_outputs
    from flexaqa.coach.synthetic import panned_photo_video
    from flexaqa.data.video import write_mp4

    video = write_mp4(tmp_path / "pan.mp4", panned_photo_video(8, step=4), 30)

    def one_rep(pose, action):  # a portrait holds no movement: inject a repetition to run every stage
        t = pose.t
        return [Rep(0, t[1], t[-2], (("concentric", t[1], t[4]), ("eccentric", t[4], t[-2])))]

    res = coach_video(video, "barbell-biceps-curl", segmenter=one_rep)
    r = res.report
    assert r["input"]["view_detected"] == "front" and r["pose"]["share_with_person"] == 1.0
    # hips and legs are out of the portrait: their errors are listed as not assessed, never as absent
    cov = r["coverage"]
    assert cov["share"] < 0.3
    assert any("not visible" in n["reason"] for n in cov["not_assessed"])
    assert any("%" in w and "assessed" in w for w in r["warnings"])
    files = write_outputs(res, tmp_path / "out", video=video)
    from pathlib import Path

    assert report_problems(json.loads(Path(files["json"]).read_text())) == []
    assert "data:image/png;base64," in Path(files["html"]).read_text()


def test_a_partly_assessed_slot_is_not_counted_clean():
    """AK08:ET015 of the curl has two rules: from the front one of them cannot be measured and the other does
    not fire. The slot is then not assessed (its error may be there), never clean; in 3D both run: clean."""
    from flexaqa.coach import load_rules, synthetic_set

    action, slot = "barbell-biceps-curl", "AK08:ET015"
    assert len(load_rules(action).rules[slot]) == 2
    s = synthetic_set(action, n_reps=1, errors=[()], seed=0)
    front = analyse_pose(s.pose, action, segmenter=s.segmenter, view="front")
    rep = front["repetitions"][0]
    assert slot not in {c["slot"] for c in rep["clean"]} and slot not in rep["detected"]
    reasons = {x["slot"]: x["reason"] for x in rep["not_assessed"]}
    assert reasons[slot]  # says which measure the view cannot give
    assert slot not in front["coverage"]["assessed"]
    full = analyse_pose(s.pose, action, segmenter=s.segmenter, view="3d")["repetitions"][0]
    assert slot in {c["slot"] for c in full["clean"]}
    assert rep["assessed_weight"] < full["assessed_weight"]


def test_evidence_spans_are_merged_runs_of_frames_and_oblique_confidence_is_discounted():
    s = synthetic_set("squat", n_reps=2, errors=[(), ("AK44:ET056",)])
    for view, top in (("3d", 1.0), ("oblique", 0.75)):
        rep = analyse_pose(s.pose, "squat", segmenter=s.segmenter, view=view)["repetitions"][1]
        fired = [ev for e in rep["errors"] for ev in e["evidence"] if ev.get("fired")]
        assert fired and all(0.0 < ev["confidence"] <= top for ev in fired)
        for ev in fired:
            spans = ev["spans"]
            assert spans and all(a <= b for a, b in spans)
            # runs of consecutive frames are one span: the next span starts more than one frame later
            assert all(nxt[0] - prev[1] > 1.5 / s.pose.fps for prev, nxt in itertools.pairwise(spans))
            assert any(b - a >= 1.5 / s.pose.fps for a, b in spans)
