import json

import pytest

pytest.importorskip("av")

from flexaqa.cli import main


def test_tiny_info_splits_stats_croissant(tmp_path, capsys):
    root = tmp_path / "tiny"
    assert main(["data", "tiny", str(root), "--subject-ids", "P01,A01,N01,N02", "--reps", "2"]) == 0
    assert "16 samples" in capsys.readouterr().out
    assert main(["data", "info", str(root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["layout"] == "native" and info["samples"] == 16 and info["views"] == ["View-1", "View-5"]
    assert main(["data", "splits", str(root), "--force", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert (
        "cross_skill: train" in out and json.loads((root / "splits" / "random.json").read_text())["seed"] == 7
    )
    assert main(["data", "stats", str(root), "--out", str(tmp_path / "st")]) == 0
    assert (tmp_path / "st" / "fig8_loads.png").is_file()
    assert (
        main(
            ["data", "export-release", str(root), str(tmp_path / "rel"), "--views", "View-1", "--size", "16"]
        )
        == 0
    )
    assert "16 samples in the release layout" in capsys.readouterr().out
    assert main(["data", "validate", str(tmp_path / "rel")]) == 0
    pytest.importorskip("mlcroissant")
    assert main(["data", "croissant", str(root)]) == 0
    assert "mlcroissant: valid" in capsys.readouterr().out


def test_release_layout_commands(tmp_path, capsys):
    root = tmp_path / "rel"
    assert (
        main(
            [
                "data",
                "tiny",
                str(root),
                "--layout",
                "release",
                "--subject-ids",
                "P01,N01",
                "--actions",
                "squat",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["data", "info", str(root)]) == 0
    assert "release layout" in capsys.readouterr().out
    assert main(["data", "splits", str(root), "--protocol", "official"]) == 0
    assert "official: train" in capsys.readouterr().out
    assert main(["data", "croissant", str(root)]) == 3  # native datasets only: a clear error, no traceback
    assert "no manifest.csv" in capsys.readouterr().err


def test_missing_folder_is_a_clean_error(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "nope")]) == 9
    assert "no such dataset folder" in capsys.readouterr().err
    assert main(["data", "validate", str(tmp_path / "nope")]) == 1
