"""The FLEX-21 3D skeleton: joint names and bones defined once, the NTU-25 remap used by the FLEX baseline
(ST-GCN pretrained on NTU RGB+D) and the map from MediaPipe Pose's 33 landmarks.

Arrays of joints always have the joint axis second to last: ``(..., 21, 3)`` for FLEX-21.
Coordinates are metres in a right-handed world frame with +z up (``UP_AXIS``); the simulator and readers
document any other convention they meet.
"""

from __future__ import annotations

import numpy as np

FLEX21_JOINTS: tuple[str, ...] = (
    "head",  # 0
    "neck",  # 1
    "spine_shoulder",  # 2
    "right_shoulder",  # 3
    "right_elbow",  # 4
    "right_wrist",  # 5
    "right_hand",  # 6
    "left_shoulder",  # 7
    "left_elbow",  # 8
    "left_wrist",  # 9
    "left_hand",  # 10
    "right_hip",  # 11
    "right_knee",  # 12
    "right_ankle",  # 13
    "right_heel",  # 14
    "right_toe",  # 15
    "left_hip",  # 16
    "left_knee",  # 17
    "left_ankle",  # 18
    "left_heel",  # 19
    "left_toe",  # 20
)
# The official release names only the joint order implied by its NTU remap; the two foot points of each side
# (14/15, 19/20) are used only through their mean, so calling them heel and toe is our convention.
J = {name: i for i, name in enumerate(FLEX21_JOINTS)}
NUM_JOINTS = len(FLEX21_JOINTS)
UP_AXIS = 2

FLEX21_BONES: tuple[tuple[int, int], ...] = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (4, 5),
    (5, 6),
    (2, 7),
    (7, 8),
    (8, 9),
    (9, 10),
    (2, 11),
    (2, 16),
    (11, 16),
    (11, 12),
    (12, 13),
    (13, 14),
    (13, 15),
    (14, 15),
    (16, 17),
    (17, 18),
    (18, 19),
    (18, 20),
    (19, 20),
)

LEFT_RIGHT_PAIRS: tuple[tuple[int, int], ...] = (
    (7, 3),
    (8, 4),
    (9, 5),
    (10, 6),
    (16, 11),
    (17, 12),
    (18, 13),
    (19, 14),
    (20, 15),
)

NTU25_JOINTS: tuple[str, ...] = (
    "spine_base",
    "spine_mid",
    "neck",
    "head",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "left_hand",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "right_hand",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_foot",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_foot",
    "spine_shoulder",
    "left_hand_tip",
    "left_thumb",
    "right_hand_tip",
    "right_thumb",
)

# NTU joint -> FLEX joints averaged to make it (the official FLEX baseline's remap). spine_mid is special:
# the mean of NTU spine_base and FLEX spine_shoulder.
_NTU_FROM_FLEX: dict[int, tuple[int, ...]] = {
    0: (11, 16),
    2: (1,),
    3: (0,),
    4: (7,),
    5: (8,),
    6: (9,),
    7: (10,),
    8: (3,),
    9: (4,),
    10: (5,),
    11: (6,),
    12: (16,),
    13: (17,),
    14: (18,),
    15: (19, 20),
    16: (11,),
    17: (12,),
    18: (13,),
    19: (14, 15),
    20: (2,),
    21: (9,),
    22: (9,),
    23: (5,),
    24: (5,),
}


def _ntu_matrix() -> np.ndarray:
    m = np.zeros((25, NUM_JOINTS))
    for ntu, flex in _NTU_FROM_FLEX.items():
        m[ntu, list(flex)] = 1.0 / len(flex)
    m[1] = 0.5 * m[0]
    m[1, 2] += 0.5
    return m


FLEX21_TO_NTU25 = _ntu_matrix()  # (25, 21): ntu = FLEX21_TO_NTU25 @ flex


def flex21_to_ntu25(joints: np.ndarray, *, normalize: bool = True, eps: float = 1e-6) -> np.ndarray:
    """Remap ``(..., 21, C)`` FLEX joints to ``(..., 25, C)`` NTU joints as the FLEX baseline does.

    With ``normalize`` (the baseline's behaviour), subtract NTU joint 0 (spine base) and divide by the
    per-frame distance between NTU joints 1 and 0.
    """
    joints = np.asarray(joints, dtype=float)
    if joints.shape[-2] != NUM_JOINTS:
        raise ValueError(f"expected FLEX-21 joints on axis -2, got shape {joints.shape}")
    ntu = np.einsum("nj,...jc->...nc", FLEX21_TO_NTU25, joints)
    if normalize:
        ntu = ntu - ntu[..., :1, :]
        scale = np.linalg.norm(ntu[..., 1, :], axis=-1)[..., None, None]
        ntu = ntu / np.maximum(scale, eps)
    return ntu


# MediaPipe Pose landmark indices (33 points) used to build each FLEX-21 joint, averaged with the weights given.
MEDIAPIPE33 = {
    "nose": 0,
    "left_ear": 7,
    "right_ear": 8,
    "mouth_left": 9,
    "mouth_right": 10,
    "left_shoulder": 11,
    "right_shoulder": 12,
    "left_elbow": 13,
    "right_elbow": 14,
    "left_wrist": 15,
    "right_wrist": 16,
    "left_pinky": 17,
    "right_pinky": 18,
    "left_index": 19,
    "right_index": 20,
    "left_hip": 23,
    "right_hip": 24,
    "left_knee": 25,
    "right_knee": 26,
    "left_ankle": 27,
    "right_ankle": 28,
    "left_heel": 29,
    "right_heel": 30,
    "left_foot_index": 31,
    "right_foot_index": 32,
}
_MP = MEDIAPIPE33
MEDIAPIPE_TO_FLEX21_SOURCES: dict[str, dict[int, float]] = {
    "head": {_MP["left_ear"]: 0.5, _MP["right_ear"]: 0.5},
    "neck": {
        _MP["left_shoulder"]: 0.25,
        _MP["right_shoulder"]: 0.25,
        _MP["mouth_left"]: 0.25,
        _MP["mouth_right"]: 0.25,
    },
    "spine_shoulder": {_MP["left_shoulder"]: 0.5, _MP["right_shoulder"]: 0.5},
    "right_shoulder": {_MP["right_shoulder"]: 1.0},
    "right_elbow": {_MP["right_elbow"]: 1.0},
    "right_wrist": {_MP["right_wrist"]: 1.0},
    "right_hand": {_MP["right_pinky"]: 0.5, _MP["right_index"]: 0.5},
    "left_shoulder": {_MP["left_shoulder"]: 1.0},
    "left_elbow": {_MP["left_elbow"]: 1.0},
    "left_wrist": {_MP["left_wrist"]: 1.0},
    "left_hand": {_MP["left_pinky"]: 0.5, _MP["left_index"]: 0.5},
    "right_hip": {_MP["right_hip"]: 1.0},
    "right_knee": {_MP["right_knee"]: 1.0},
    "right_ankle": {_MP["right_ankle"]: 1.0},
    "right_heel": {_MP["right_heel"]: 1.0},
    "right_toe": {_MP["right_foot_index"]: 1.0},
    "left_hip": {_MP["left_hip"]: 1.0},
    "left_knee": {_MP["left_knee"]: 1.0},
    "left_ankle": {_MP["left_ankle"]: 1.0},
    "left_heel": {_MP["left_heel"]: 1.0},
    "left_toe": {_MP["left_foot_index"]: 1.0},
}


def _mp_matrix() -> np.ndarray:
    m = np.zeros((NUM_JOINTS, 33))
    for name, src in MEDIAPIPE_TO_FLEX21_SOURCES.items():
        for k, w in src.items():
            m[J[name], k] = w
    return m


MEDIAPIPE33_TO_FLEX21 = _mp_matrix()  # (21, 33)


def mediapipe_to_flex21(landmarks: np.ndarray, visibility: np.ndarray | None = None):
    """Map ``(..., 33, C)`` MediaPipe landmarks to ``(..., 21, C)`` FLEX joints.

    With ``visibility`` ``(..., 33)``, also return the per-joint visibility ``(..., 21)``: the minimum over the
    landmarks a joint is built from (a joint is only as visible as its least visible source).
    """
    landmarks = np.asarray(landmarks, dtype=float)
    if landmarks.shape[-2] != 33:
        raise ValueError(f"expected 33 MediaPipe landmarks on axis -2, got shape {landmarks.shape}")
    joints = np.einsum("jk,...kc->...jc", MEDIAPIPE33_TO_FLEX21, landmarks)
    if visibility is None:
        return joints
    visibility = np.asarray(visibility, dtype=float)
    vis = np.stack(
        [visibility[..., list(MEDIAPIPE_TO_FLEX21_SOURCES[name])].min(axis=-1) for name in FLEX21_JOINTS],
        axis=-1,
    )
    return joints, vis


def joint_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle at ``b`` (degrees) between segments b->a and b->c, vectorised over leading axes."""
    u = np.asarray(a, float) - np.asarray(b, float)
    v = np.asarray(c, float) - np.asarray(b, float)
    cos = np.sum(u * v, axis=-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
