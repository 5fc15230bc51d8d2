import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mlcroissant")
pytest.importorskip("av")

from flexaqa.data import DataError
from flexaqa.data.croissant import iter_records, make_croissant, validate_croissant, write_croissant
from flexaqa.data.native import read_manifest
from flexaqa.testing import make_tiny_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    t = make_tiny_dataset(tmp_path_factory.mktemp("croissant"), subjects=("P01", "A02", "N01"), reps=2)
    return t, write_croissant(t.root)


def test_mlcroissant_validates_it(tiny):
    _, path = tiny
    assert validate_croissant(path) == []
    exe = Path(sys.executable).parent / "mlcroissant"
    if not exe.is_file():  # pragma: no cover - depends on how mlcroissant was installed
        pytest.skip("the mlcroissant command is not installed beside this Python")
    res = subprocess.run([str(exe), "validate", "--jsonld", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_record_sets_iterate_with_the_manifest_values(tiny):
    t, path = tiny
    samples = iter_records(path, "samples")
    manifest = {r.id: r for r in read_manifest(t.root)}
    assert sorted(s["sample_id"] for s in samples) == sorted(manifest)
    for s in samples:
        m = manifest[s["sample_id"]]
        assert (
            s["score"] == pytest.approx(m.score)
            and s["class_index"] == m.class_index
            and s["subject"] == m.subject
        )
    subjects = iter_records(path, "subjects")
    assert sorted(s["id"] for s in subjects) == ["A02", "N01", "P01"]
    files = iter_records(path, "files")
    assert all((t.root / f["path"]).is_file() for f in files)
    assert {f["modality"] for f in files} == {"video", "pose", "emg", "heart_rate", "breath", "annotations"}


def test_checksums_and_placement(tiny, tmp_path):
    t, path = tiny
    doc = json.loads(path.read_text())
    manifest = next(d for d in doc["distribution"] if d["@id"] == "manifest")
    import hashlib

    assert manifest["sha256"] == hashlib.sha256((t.root / "manifest.csv").read_bytes()).hexdigest()
    with pytest.raises(DataError, match="must sit in the dataset folder"):
        write_croissant(t.root, tmp_path / "elsewhere.json")
    with pytest.raises(DataError, match=r"no manifest\.csv"):
        make_croissant(tmp_path)


def test_broken_metadata_is_reported(tiny, tmp_path):
    _, path = tiny
    doc = json.loads(path.read_text())
    doc["recordSet"][0]["field"][0]["source"]["fileObject"]["@id"] = "does-not-exist"
    bad = path.parent / "broken-croissant.json"
    bad.write_text(json.dumps(doc))
    try:
        assert validate_croissant(bad)
    finally:
        bad.unlink()
