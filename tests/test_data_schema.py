import numpy as np
import pytest

from flexaqa.data import (
    FLEX_SUBJECT_IDS,
    FLEX_VIEWS,
    Annotation,
    Camera,
    DataError,
    Keyframes,
    PhaseSpan,
    Stream,
    Subject,
    View,
    flex_roster,
    sample_id,
    skill_of,
)
from flexaqa.testing import FIGURE6_EXAMPLE


def test_roster_matches_paper():
    roster = flex_roster()
    assert len(roster) == len(FLEX_SUBJECT_IDS) == 38
    counts = {lvl: sum(s.skill == lvl for s in roster) for lvl in ("expert", "amateur", "novice")}
    assert counts == {"expert": 10, "amateur": 8, "novice": 20}
    assert "A06" not in FLEX_SUBJECT_IDS and "A09" not in FLEX_SUBJECT_IDS
    assert {"P10", "A10", "N20"} <= set(FLEX_SUBJECT_IDS)


def test_skill_of_and_subject_validation():
    assert skill_of("N07") == "novice" and skill_of("p01") == "expert"
    with pytest.raises(DataError, match="P, A or N"):
        skill_of("X01")
    with pytest.raises(DataError, match="skill must be one of"):
        Subject("P01", "pro")


def test_views_rates_and_resolutions():
    cinema = [v for v in FLEX_VIEWS if v.kind == "cinema"]
    assert len(cinema) == 4 and all((v.fps, v.width, v.height) == (120.0, 3840, 2160) for v in cinema)
    phone = [v for v in FLEX_VIEWS if v.kind == "phone"]
    assert [(v.fps, v.width, v.height) for v in phone] == [(60.0, 1920, 1080)]


def test_camera_projects_and_roundtrips():
    cam = Camera(K=[[100, 0, 50], [0, 100, 40], [0, 0, 1]], R=np.eye(3), t=[0, 0, 2.0])
    uv = cam.project(np.array([[0.0, 0.0, 0.0], [0.2, -0.2, 0.0]]))
    np.testing.assert_allclose(uv, [[50, 40], [60, 30]])
    v = View("View-1", 120.0, 64, 48, camera=cam)
    back = View.from_dict(v.to_dict())
    np.testing.assert_allclose(back.camera.K, cam.K)
    assert (back.fps, back.width, back.height) == (120.0, 64, 48)


def test_stream_slice_and_at_use_seconds():
    s = Stream(np.arange(2000 * 2), rate=2000.0)  # 2 s at 2000 Hz; value == sample index
    cut = s.slice(0.5, 0.75)
    assert len(cut) == 500 and cut.data[0] == 1000 and cut.start == pytest.approx(0.5)
    np.testing.assert_array_equal(s.at([0.0, 1.0, 5.0, 0.9999]), [0, 2000, 3999, 1999])
    assert s.at([0.9999], rounding="nearest")[0] == 2000
    assert s.duration == 2.0
    with pytest.raises(DataError, match="positive"):
        Stream(np.zeros(3), rate=0)


def test_keyframes_problems():
    ok = Keyframes(1.0, 2.0, (PhaseSpan("preparation", 1.0, 1.2), PhaseSpan("concentric", 1.2, 2.0)))
    assert ok.problems() == []
    assert Keyframes.from_dict(ok.to_dict()) == ok
    assert "start < end" in Keyframes(2.0, 1.0).problems()[0]
    assert "outside" in Keyframes(1.0, 2.0, (PhaseSpan("eccentric", 1.5, 2.5),)).problems()[0]


def test_annotation_score_check_against_fkg():
    action, slots, expected = FIGURE6_EXAMPLE
    good = Annotation(action, 1, Keyframes(0, 1), slots, score=expected)
    assert good.fkg_score() == pytest.approx(expected, abs=0.01)
    assert good.score_problem() is None
    bad = Annotation(action, 1, Keyframes(0, 1), slots, score=90.0)
    assert "disagrees with the FKG" in bad.score_problem()
    unknown = Annotation(action, 1, Keyframes(0, 1), ("AK01:ET999",), score=100.0)
    assert "ET999" in unknown.score_problem()
    assert Annotation.from_dict(good.to_dict()) == good


def test_sample_id_puts_subject_first():
    assert sample_id("A01", "A16", 3) == "A01-A16-r03"


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, flexaqa.data; print(sorted(m for m in ('torch', 'av', 'mlcroissant', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
