"""FLEX-21 definitions, the NTU-25 remap of the official baseline, and the MediaPipe-33 map."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.skeleton import (
    FLEX21_BONES,
    FLEX21_JOINTS,
    LEFT_RIGHT_PAIRS,
    NTU25_JOINTS,
    J,
    flex21_to_ntu25,
    joint_angle,
    mediapipe_to_flex21,
)


def test_joint_layout():
    assert len(FLEX21_JOINTS) == 21 and len(NTU25_JOINTS) == 25
    assert all(0 <= a < 21 and 0 <= b < 21 for a, b in FLEX21_BONES)
    for left, right in LEFT_RIGHT_PAIRS:
        assert FLEX21_JOINTS[left].replace("left", "right") == FLEX21_JOINTS[right]
    # the bone graph is connected
    seen, todo = {0}, [0]
    while todo:
        j = todo.pop()
        for a, b in FLEX21_BONES:
            for u, v in ((a, b), (b, a)):
                if u == j and v not in seen:
                    seen.add(v)
                    todo.append(v)
    assert seen == set(range(21))


def test_ntu_remap_matches_the_official_table():
    x = np.random.default_rng(0).normal(size=(7, 21, 3))
    ntu = flex21_to_ntu25(x, normalize=False)
    assert ntu.shape == (7, 25, 3)
    np.testing.assert_allclose(ntu[:, 3], x[:, 0])  # head
    np.testing.assert_allclose(ntu[:, 8:12], x[:, 3:7])  # right arm
    np.testing.assert_allclose(ntu[:, 4:8], x[:, 7:11])  # left arm
    np.testing.assert_allclose(ntu[:, 16:19], x[:, 11:14])  # right leg
    np.testing.assert_allclose(ntu[:, 12:15], x[:, 16:19])  # left leg
    np.testing.assert_allclose(ntu[:, 19], x[:, 14:16].mean(1))
    np.testing.assert_allclose(ntu[:, 15], x[:, 19:21].mean(1))
    np.testing.assert_allclose(ntu[:, 0], x[:, [11, 16]].mean(1))
    np.testing.assert_allclose(ntu[:, 1], (ntu[:, 0] + x[:, 2]) / 2)
    np.testing.assert_allclose(ntu[:, 21], x[:, 9])
    np.testing.assert_allclose(ntu[:, 24], x[:, 5])


def test_ntu_normalisation_centres_and_scales():
    x = np.random.default_rng(1).normal(size=(5, 21, 3)) * 3 + 10
    ntu = flex21_to_ntu25(x)
    np.testing.assert_allclose(ntu[:, 0], 0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(ntu[:, 1], axis=-1), 1.0)
    with pytest.raises(ValueError, match="FLEX-21"):
        flex21_to_ntu25(np.zeros((5, 25, 3)))


def test_mediapipe_map_and_visibility():
    lm = np.zeros((2, 33, 3))
    lm[:, 12] = [1, 2, 3]  # right shoulder
    lm[:, 11] = [3, 2, 1]  # left shoulder
    vis = np.ones((2, 33))
    vis[1, 11] = 0.1
    joints, jvis = mediapipe_to_flex21(lm, vis)
    np.testing.assert_allclose(joints[0, J["right_shoulder"]], [1, 2, 3])
    np.testing.assert_allclose(joints[0, J["spine_shoulder"]], [2, 2, 2])
    assert jvis[1, J["left_shoulder"]] == pytest.approx(0.1)
    assert jvis[1, J["spine_shoulder"]] == pytest.approx(0.1)  # built from the hidden shoulder
    assert jvis[1, J["right_shoulder"]] == 1.0
    with pytest.raises(ValueError, match="33"):
        mediapipe_to_flex21(np.zeros((4, 21, 3)))


def test_joint_angle():
    a, b, c = np.array([1.0, 0, 0]), np.zeros(3), np.array([1.0, 1.0, 0])
    assert joint_angle(a, b, c) == pytest.approx(45.0)
    batch = joint_angle(np.tile(a, (4, 1)), np.zeros((4, 3)), np.tile(-a, (4, 1)))
    np.testing.assert_allclose(batch, 180.0)
