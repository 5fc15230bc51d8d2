"""Export to LLaMA-Factory ShareGPT JSON + dataset_info.json and JSONL, read back: every video path exists and
every answer matches its sample's labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from flexaqa.kg import load_kg
from flexaqa.vqa import QA, QUESTION_TYPES, QASource, VQAError, answer_problems, build_qa_set
from flexaqa.vqa.export import VideoOptions, export_qa_set, load_export, sample_frame_indices
from flexaqa.vqa.synthetic import make_sources

KG = load_kg()


def _check_round_trip(out: Path, split: str, sources: list[QASource], root: Path | None = None) -> int:
    conversations, rows, media_root = load_export(out, split)
    assert media_root == root
    expected = {s.sample_id: s for s in sources if s.split == split}
    assert {c["id"] for c in conversations} == set(expected)
    assert len(rows) == 4 * len(expected)
    rows_by_sample: dict[str, list[dict]] = {}
    for row in rows:
        rows_by_sample.setdefault(row["sample_id"], []).append(row)
    n_paths = 0
    for conv in conversations:
        src = expected[conv["id"]]
        msgs = conv["messages"]
        assert [m["role"] for m in msgs] == ["user", "assistant"] * 4
        assert msgs[0]["content"].count("<video>") == len(conv["videos"]) > 0
        assert all("<video>" not in m["content"] for m in msgs[1:])
        for video in conv["videos"]:
            for p in video if isinstance(video, list) else [video]:
                path = (media_root / p) if media_root else Path(p)
                assert path.exists(), path
                n_paths += 1
        sample_rows = sorted(rows_by_sample[src.sample_id], key=lambda r: r["turn"])
        assert [r["qtype"] for r in sample_rows] == list(QUESTION_TYPES)
        for k, row in enumerate(sample_rows):
            qa = QA.from_dict(row)
            # labels in the export are the sample's labels, and both exports carry the same answer
            assert qa.action == KG.action(src.action).slug and set(qa.slots) == set(src.slots)
            assert qa.score == pytest.approx(src.score, abs=1e-3)
            assert msgs[2 * k + 1]["content"] == qa.answer
            assert msgs[2 * k]["content"].endswith(qa.question)
            assert answer_problems(qa, msgs[2 * k + 1]["content"], kg=KG) == []
            assert row["video_refs"] == conv["videos"]
    return n_paths


def test_file_mode_round_trip(tmp_path):
    sources = make_sources(tmp_path / "media", 12, seed=1)
    build_qa_set(sources, tmp_path / "qa", kg=KG)
    counts = export_qa_set(tmp_path / "qa", tmp_path / "export")
    assert counts == {"train": 6, "test": 6}
    info = json.loads((tmp_path / "export" / "dataset_info.json").read_text())
    assert info["flex_videoqa_test"]["formatting"] == "sharegpt"
    assert info["flex_videoqa_test"]["columns"] == {"messages": "messages", "videos": "videos"}
    assert info["flex_videoqa_test"]["tags"]["user_tag"] == "user"
    for split in counts:
        assert _check_round_trip(tmp_path / "export", split, sources) == 2 * counts[split]  # two views each
    config = json.loads((tmp_path / "export" / "export_config.json").read_text())
    assert config["llamafactory_args"] == {"video_fps": 2.0, "video_maxlen": 32}


def test_frames_mode_relative_paths_and_views(tmp_path):
    sources = make_sources(tmp_path / "media", 6, seed=2, frames=103)
    build_qa_set(sources, tmp_path / "qa", kg=KG)
    options = VideoOptions(mode="frames", views=("View-2",), fps=10.0, max_frames=8, media_root=str(tmp_path))
    export_qa_set(tmp_path / "qa", tmp_path / "export", options=options, splits=["test"])
    n = _check_round_trip(tmp_path / "export", "test", sources, root=tmp_path.resolve())
    conversations, _, _ = load_export(tmp_path / "export", "test")
    for conv in conversations:
        (frames,) = conv["videos"]
        assert len(frames) == 8 and all(f.startswith("media/") and "/View-2/" in f for f in frames)
        assert frames[0].endswith("img_00001.jpg") and frames[-1].endswith("img_00103.jpg")
    assert n == 8 * len(conversations)
    with pytest.raises(KeyError):
        json.loads((tmp_path / "export" / "dataset_info.json").read_text())["flex_videoqa_train"]


def test_dataset_info_is_merged_not_replaced(tmp_path):
    sources = make_sources(tmp_path / "media", 4, seed=0)
    build_qa_set(sources, tmp_path / "qa", kg=KG)
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "dataset_info.json").write_text(
        json.dumps({"alpaca_en_demo": {"file_name": "a.json"}})
    )
    export_qa_set(tmp_path / "qa", tmp_path / "export")
    info = json.loads((tmp_path / "export" / "dataset_info.json").read_text())
    assert set(info) == {"alpaca_en_demo", "flex_videoqa_train", "flex_videoqa_test"}


def test_sample_frame_indices():
    idx = sample_frame_indices(103, 120.0, fps=2.0, max_frames=32)
    assert idx.tolist() == [0, 60]  # 103 frames at 120 fps last 0.86 s: frames at 0 s and 0.5 s
    idx = sample_frame_indices(1200, 120.0, fps=30.0, max_frames=5, start=1.0, end=2.0)
    assert idx[0] == 120 and idx[-1] == 239 and len(idx) == 5
    assert np.all(np.diff(sample_frame_indices(500, 60.0, fps=60.0, max_frames=1000)) == 1)
    with pytest.raises(VQAError, match="empty time window"):
        sample_frame_indices(100, 120.0, fps=2.0, max_frames=4, start=0.5, end=0.5)


def test_export_errors(tmp_path):
    sources = make_sources(tmp_path / "media", 2, seed=0, frames=5)
    build_qa_set(sources, tmp_path / "qa", kg=KG)
    with pytest.raises(VQAError, match="frame folder; export it with video mode 'frames'"):
        export_qa_set(tmp_path / "qa", tmp_path / "out")
    with pytest.raises(VQAError, match="no view 'View-9'"):
        export_qa_set(
            tmp_path / "qa", tmp_path / "out", options=VideoOptions(mode="frames", views=("View-9",))
        )
    with pytest.raises(VQAError, match="no split"):
        export_qa_set(tmp_path / "qa", tmp_path / "out", splits=["val"])
    with pytest.raises(VQAError, match="not inside media_root"):
        export_qa_set(
            tmp_path / "qa", tmp_path / "out", options=VideoOptions("frames", media_root=str(tmp_path / "x"))
        )
    with pytest.raises(VQAError, match="video mode must be"):
        VideoOptions(mode="gif")
    src = QASource("gone", "squat", "test", videos={"View-1": str(tmp_path / "missing.mp4")})
    build_qa_set([src], tmp_path / "qa2", kg=KG)
    with pytest.raises(VQAError, match="does not exist"):
        export_qa_set(tmp_path / "qa2", tmp_path / "out2")


def _write_video(path: Path, n: int, fps: int) -> None:
    av = pytest.importorskip("av")
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(n):
            img = np.full((32, 32, 3), (i * 8) % 256, dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))


def test_windowed_sample_is_cut_to_its_clip(tmp_path):
    av = pytest.importorskip("av")
    video = tmp_path / "trial.mp4"
    _write_video(video, 48, 12)  # 4 s
    src = QASource(
        "rep1",
        "squat",
        "test",
        ("AK43:ET006",),
        videos={"View-1": str(video)},
        fps=12.0,
        n_frames=48,
        start=1.0,
        end=2.5,
    )
    build_qa_set([src], tmp_path / "qa", kg=KG)
    export_qa_set(tmp_path / "qa", tmp_path / "export")
    conversations, _, _ = load_export(tmp_path / "export", "test")
    (clip,) = conversations[0]["videos"]
    assert Path(clip).parent.name == "rep1"
    with av.open(clip) as c:
        assert sum(1 for _ in c.decode(video=0)) == 18  # 1.5 s at 12 fps
        assert c.streams.video[0].average_rate == 12  # the clip keeps the video's frame rate
    export_qa_set(tmp_path / "qa", tmp_path / "frames", options=VideoOptions("frames", fps=2.0))
    conversations, _, _ = load_export(tmp_path / "frames", "test")
    (frames,) = conversations[0]["videos"]
    assert [Path(f).name for f in frames] == ["img_00013.jpg", "img_00019.jpg", "img_00025.jpg"]
    assert all(Path(f).is_file() for f in frames)
