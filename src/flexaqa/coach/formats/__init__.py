"""Keypoint files from other pose estimators, read for the coach (``flexaqa coach --pose PATH --pose-format F``).

Formats: ``openpose`` (a folder of ``*_keypoints.json``, BODY_25 or COCO-18), ``coco`` (COCO keypoint results,
MMPose/RTMPose/ViTPose/Detectron2), ``mediapipe`` (33 landmarks, or the coach's own ``pose.npz``), ``h36m``
(Human3.6M-17 3D, VideoPose3D/MotionBERT), ``flex`` (FLEX-21 3D). One joint-mapping table per format in
``data/formats.yaml`` (:mod:`~flexaqa.coach.formats.tables`); readers in :mod:`~flexaqa.coach.formats.readers`;
2D keypoints lifted to the coach's pose by :mod:`~flexaqa.coach.formats.lift`; test fixtures (the simulator's
3D poses projected through a camera and written in each format) in :mod:`~flexaqa.coach.formats.synthetic`.
"""

from flexaqa.coach.formats.readers import KeypointInput, read_keypoints
from flexaqa.coach.formats.tables import POSE_FORMATS, PoseFormatError, load_tables

__all__ = ["POSE_FORMATS", "KeypointInput", "PoseFormatError", "load_tables", "read_keypoints"]
