import json

import numpy as np
import pytest

pytest.importorskip("av")

from flexaqa.data.stats import compute_stats, write_stats
from flexaqa.kg.scoring import parse_error_token
from flexaqa.testing import make_tiny_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("stats"), subjects=("P01", "A01", "N01"), reps=3)


def test_statistics_match_the_written_annotations(tiny):
    st = compute_stats(tiny.root)
    assert st["samples"] == 18 and st["subjects"] == 3
    assert list(st["per_action"]) == ["squat", "dumbbell-bent-over-row"]  # paper order (A16, A19)
    for slug, v in st["per_action"].items():
        scores = [a.score for t in tiny.trials if t.action == slug for a in t.reps]
        assert v["samples"] == 9
        assert v["mean_score"] == pytest.approx(np.mean(scores), abs=1e-3)
        assert v["mean_duration_s"] == pytest.approx(0.5) and v["mean_duration_frames"] == pytest.approx(60)
    counts = {}
    for t in tiny.trials:
        for a in t.reps:
            for tok in a.slots:
                code = parse_error_token(tok)[1]
                counts[code] = counts.get(code, 0) + 1
    assert {e["code"]: e["count"] for e in st["top_errors"]} == dict(
        sorted(counts.items(), key=lambda kv: -kv[1])[:20]
    )
    assert sum(st["score"]["histogram"]["counts"]) == 18
    for s in tiny.subjects:
        assert st["loads_kg"][s.id] == pytest.approx(s.loads_kg)


def test_write_stats_pngs_and_json(tiny, tmp_path):
    paths = write_stats(tiny.root, tmp_path / "out")
    names = {p.name for p in paths}
    assert {
        "stats.json",
        "fig7a_samples_per_action.png",
        "fig7b_duration_score_per_action.png",
        "fig7c_scores_and_errors.png",
        "fig8_loads.png",
    } == names
    for p in paths:
        assert p.stat().st_size > 1000
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["samples"] == 18


def test_release_layout_stats(tmp_path):
    t = make_tiny_dataset(tmp_path / "r", layout="release", subjects=("P01",), actions=("squat",), reps=2)
    st = compute_stats(t.root)
    assert st["per_action"]["squat"]["samples"] == 2
    assert st["per_action"]["squat"]["mean_duration_s"] == pytest.approx(0.5)  # from EMG length at 2000 Hz
    assert st["top_errors"] == [] and st["loads_kg"] == {}
    assert len(write_stats(t.root, tmp_path / "o")) == 5
