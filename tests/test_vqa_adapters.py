"""From the data layer's native datasets to QA sources, QA sets and exports of the right frames."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.cli import main
from flexaqa.kg import load_kg
from flexaqa.testing import decode_frame_index, make_tiny_dataset
from flexaqa.vqa import VQAError, answer_problems, build_qa_set, load_qa_set
from flexaqa.vqa.adapters import sources_from_dataset
from flexaqa.vqa.export import VideoOptions, export_qa_set, load_export, sample_frame_indices

KG = load_kg()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_dataset(
        tmp_path_factory.mktemp("ds"), subjects=("P01", "N01"), actions=("squat",), reps=2
    )


def test_sources_carry_the_annotations(tiny):
    from flexaqa.data.base import open_dataset

    ds = open_dataset(tiny.root)
    sources = sources_from_dataset(tiny.root)
    assert [s.sample_id for s in sources] == [r.id for r in ds.records]
    for src in sources:
        rec, ann = ds.record(src.sample_id), ds.annotation(src.sample_id)
        assert src.slots == tuple(ann.slots) and src.score == pytest.approx(tiny.scores[src.sample_id])
        assert src.split == rec.split and (src.start, src.end) == (ann.keyframes.start, ann.keyframes.end)
        assert set(src.videos) == set(ds.view_names) and src.view_fps == {"View-1": 120.0, "View-5": 60.0}
    only = sources_from_dataset(tiny.root, views=["View-1"])
    assert all(set(s.videos) == {"View-1"} for s in only)
    with pytest.raises(VQAError, match="no video for view"):
        sources_from_dataset(tiny.root, views=["View-3"])


def test_frames_export_of_windowed_samples_holds_the_right_frames(tiny, tmp_path):
    from PIL import Image

    sources = sources_from_dataset(tiny.root, views=["View-5"])
    build_qa_set(sources, tmp_path / "qa", kg=KG)
    for qa in load_qa_set(tmp_path / "qa"):
        assert answer_problems(qa, kg=KG) == []
    export_qa_set(tmp_path / "qa", tmp_path / "lf", options=VideoOptions("frames", fps=10.0, max_frames=8))
    by_id = {s.sample_id: s for s in sources}
    split = sources[0].split
    conversations, _, _ = load_export(tmp_path / "lf", split)
    for conv in conversations:
        src = by_id[conv["id"]]
        (frames,) = conv["videos"]
        want = sample_frame_indices(114, 60.0, fps=10.0, max_frames=8, start=src.start, end=src.end)
        pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in frames])  # (K, 32, 32, 3)
        assert decode_frame_index(pixels).tolist() == want.tolist()


def test_release_layout_is_refused(tmp_path):
    make_tiny_dataset(tmp_path / "rel", layout="release", subjects=("P01",), actions=("squat",), reps=1)
    with pytest.raises(VQAError, match="no error annotations"):
        sources_from_dataset(tmp_path / "rel")


def test_cli_build_from_data(tiny, tmp_path, capsys):
    assert main(["vqa", "build", "--data", str(tiny.root), "--out", str(tmp_path / "qa")]) == 0
    assert f"wrote {4 * len(tiny.sample_ids)} QA pairs" in capsys.readouterr().out
