"""The joint-mapping tables of the keypoint formats (``coach/formats/data/formats.yaml``), validated when loaded.

>>> t = load_tables()
>>> t.layout("coco17").missing["left_heel"][:24]
'the 17/18-keypoint COCO '
>>> t.layout("coco17").matrix.shape
(21, 17)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from flexaqa.errors import FlexaqaError
from flexaqa.skeleton import FLEX21_JOINTS, NUM_JOINTS, J

TABLES_PATH = Path(__file__).with_name("data") / "formats.yaml"
POSE_FORMATS = ("openpose", "coco", "mediapipe", "h36m", "flex")
BODY_KEYS = ("upper_arm", "forearm", "thigh", "shin", "torso_side", "shoulder_width", "hip_width")


class PoseFormatError(FlexaqaError, ValueError):
    """A keypoint file (or the format tables) breaks its format; the message names the file and what was expected."""


@dataclass(frozen=True)
class Layout:
    """One keypoint layout: its keypoint names, dimension, FLEX-21 mapping and the joints it lacks."""

    name: str
    dims: int
    keypoints: tuple[str, ...]
    matrix: np.ndarray  # (21, K): flex = matrix @ keypoints; rows of missing joints are 0
    sources: dict[str, tuple[int, ...]]  # FLEX-21 joint -> keypoint indices it is built from
    missing: dict[str, str]  # FLEX-21 joint -> why the layout cannot give it

    def to_flex(self, kp: np.ndarray, conf: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(..., K, C)`` keypoints (NaN where not detected) and ``(..., K)`` confidences -> FLEX-21
        ``(..., 21, C)`` joints (NaN for a missing joint or one with an undetected source) and ``(..., 21)``
        visibility (the minimum over its sources, 0 where missing)."""
        kp = np.asarray(kp, float)
        if kp.shape[-2] != len(self.keypoints):
            raise ValueError(f"{self.name}: expected {len(self.keypoints)} keypoints, got shape {kp.shape}")
        conf = np.ones(kp.shape[:-1]) if conf is None else np.asarray(conf, float)
        joints = np.full((*kp.shape[:-2], NUM_JOINTS, kp.shape[-1]), np.nan)
        vis = np.zeros((*kp.shape[:-2], NUM_JOINTS))
        for name, idx in self.sources.items():
            j = J[name]
            w = self.matrix[j, list(idx)]
            joints[..., j, :] = np.einsum("k,...kc->...c", w, kp[..., list(idx), :])
            vis[..., j] = conf[..., list(idx)].min(axis=-1)
        vis = np.where(np.isfinite(joints).all(-1), vis, 0.0)
        return joints, vis


@dataclass(frozen=True)
class FormatTables:
    formats: dict[str, tuple[str, ...]]  # --pose-format -> layout names
    layouts: dict[str, Layout]
    body: dict[str, float]  # nominal adult proportions (m)
    source: str = ""

    def layout(self, name: str) -> Layout:
        return self.layouts[name]

    def by_count(self, fmt: str, k: int) -> Layout | None:
        """The layout of ``fmt`` with ``k`` keypoints, or ``None``."""
        for name in self.formats[fmt]:
            if len(self.layouts[name].keypoints) == k:
                return self.layouts[name]
        return None


def _layout(name: str, raw, where: str) -> Layout:
    if not isinstance(raw, dict) or set(raw) != {"dims", "keypoints", "flex21", "missing"}:
        raise PoseFormatError(f"{where}: expected keys dims, keypoints, flex21, missing; got {raw!r:.200}")
    dims, kps = raw["dims"], raw["keypoints"]
    if dims not in (2, 3):
        raise PoseFormatError(f"{where}.dims: expected 2 or 3, got {dims!r}")
    if not isinstance(kps, list) or len(set(kps)) != len(kps) or not kps:
        raise PoseFormatError(f"{where}.keypoints: expected a list of distinct names, got {kps!r:.200}")
    flex, missing = raw["flex21"] or {}, raw["missing"] or {}
    if not isinstance(flex, dict) or not isinstance(missing, dict):
        raise PoseFormatError(f"{where}: flex21 and missing must be mappings")
    unknown = sorted((set(flex) | set(missing)) - set(FLEX21_JOINTS))
    both = sorted(set(flex) & set(missing))
    absent = [j for j in FLEX21_JOINTS if j not in flex and j not in missing]
    if unknown or both or absent:
        raise PoseFormatError(
            f"{where}: every FLEX-21 joint must be under exactly one of flex21/missing "
            f"(unknown {unknown}, in both {both}, in neither {absent})"
        )
    m = np.zeros((NUM_JOINTS, len(kps)))
    sources = {}
    for joint, src in flex.items():
        w = {k: 1.0 / len(src) for k in src} if isinstance(src, list) else src
        if not isinstance(w, dict) or not w:
            raise PoseFormatError(
                f"{where}.flex21.{joint}: expected a list or a mapping of keypoints, got {src!r}"
            )
        bad = [k for k in w if k not in kps]
        if bad:
            raise PoseFormatError(f"{where}.flex21.{joint}: unknown keypoint(s) {bad}; the layout has {kps}")
        if abs(sum(float(v) for v in w.values()) - 1.0) > 1e-6:
            raise PoseFormatError(f"{where}.flex21.{joint}: weights must sum to 1, got {w}")
        for k, v in w.items():
            m[J[joint], kps.index(k)] = float(v)
        sources[joint] = tuple(kps.index(k) for k in w)
    return Layout(name, int(dims), tuple(kps), m, sources, {str(k): str(v) for k, v in missing.items()})


@lru_cache(maxsize=4)
def load_tables(path: str | Path | None = None) -> FormatTables:
    """Load and validate the format tables (default: the packaged ``formats.yaml``)."""

    path = Path(path or TABLES_PATH)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PoseFormatError(f"{path}: cannot read the format tables ({exc})") from exc
    if not isinstance(raw, dict) or set(raw) != {"body", "formats", "layouts"}:
        raise PoseFormatError(f"{path}: expected top-level keys body, formats, layouts")
    body = raw["body"]
    if not isinstance(body, dict) or set(body) != set(BODY_KEYS):
        raise PoseFormatError(f"{path}: body: expected keys {BODY_KEYS}, got {body!r}")
    layouts = {n: _layout(n, v, f"{path}: layouts.{n}") for n, v in (raw["layouts"] or {}).items()}
    formats = raw["formats"]
    if not isinstance(formats, dict) or set(formats) != set(POSE_FORMATS):
        raise PoseFormatError(f"{path}: formats: expected keys {POSE_FORMATS}, got {formats!r}")
    for f, names in formats.items():
        bad = [n for n in names if n not in layouts]
        if bad:
            raise PoseFormatError(f"{path}: formats.{f}: unknown layout(s) {bad}")
    return FormatTables(
        {f: tuple(v) for f, v in formats.items()}, layouts, {k: float(v) for k, v in body.items()}, str(path)
    )
