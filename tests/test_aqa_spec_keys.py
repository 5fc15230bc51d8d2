"""FeatureSpec and EndToEndSpec refuse unknown keys (a misspelled key must not fall back to the default)."""

from __future__ import annotations

import pytest

from flexaqa.aqa import AQAError
from flexaqa.aqa.features import FeatureSpec
from flexaqa.errors import reject_unknown_keys


def test_feature_spec_round_trips_and_refuses_a_misspelled_key():
    spec = FeatureSpec(video_frames=16, views=("View-1", "View-5"))
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    bad = {**spec.to_dict(), "video_frams": 8}
    with pytest.raises(
        AQAError, match=r"FeatureSpec: unknown key 'video_frams' \(did you mean 'video_frames'\?\)"
    ):
        FeatureSpec.from_dict(bad)


def test_end_to_end_spec_round_trips_and_refuses_a_misspelled_key():
    pytest.importorskip("torch")
    from flexaqa.aqa._endtoend_model import EndToEndSpec

    spec = EndToEndSpec(frames=8, size=32)
    assert EndToEndSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(
        AQAError, match=r"unknown key 'video_frams' \(did you mean 'video'\?\); known keys: emg, frames, pose"
    ):
        EndToEndSpec.from_dict({**spec.to_dict(), "video_frams": 8})
    with pytest.raises(AQAError, match=r"unknown key 'szie' \(did you mean 'size'\?\)"):
        EndToEndSpec.from_dict({"szie": 64})


def test_reject_unknown_keys_names_the_first_unknown_key():
    reject_unknown_keys({"a": 1}, ["a", "b"], what="x")  # known keys pass
    with pytest.raises(ValueError, match=r"cfg: unknown key 'bb' \(did you mean 'b'\?\); known keys: a, b"):
        reject_unknown_keys({"a": 1, "bb": 2, "zz": 3}, ["b", "a"], what="cfg")
