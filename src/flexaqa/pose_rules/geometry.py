"""What one camera can see, from its geometry: ``pose_rules/data/view_geometry.yaml``.

The file (written by ``tools/derive_view_geometry.py``) holds, per action, single-camera view and feature, the
largest change of the action's rule values when the simulator's 3D motion is filmed from that view and lifted
back from the 2D image alone, for level and for change statistics. A rule is *geometrically measurable* from a
view when that error is at most half the rules' single-camera margin (``monocular_margin``): the movement it
reads lies (close enough to) the camera's image plane. Seen from the side, the curl's elbow angle and upper-arm
swing lie in the image plane (error under 1 deg); seen from the front they move along the line of sight (27-32
deg). A measure the geometry supports is never switched off by a pose estimator's own error (the rendered-video
calibration, :mod:`flexaqa.pose_rules.calibration`, only widens its threshold); one it does not support is
assessed only where that calibration found the estimator's depth estimate measuring it (MediaPipe's world
landmarks), never from 2D keypoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from flexaqa.pose_rules.features import FEATURES
from flexaqa.pose_rules.sequence import PoseRulesError

GEOMETRY_PATH = Path(__file__).with_name("data") / "view_geometry.yaml"
GEOMETRY_VIEWS = ("front", "side", "oblique")
CHANGE_STATS = ("rise", "drop", "range", "wobble")


@dataclass(frozen=True)
class ViewGeometry:
    """Per action (slug), view and feature: ``(level error, change error)`` in the feature's unit."""

    errors: dict[str, dict[str, dict[str, tuple[float, float]]]]
    why: dict[str, str]
    cameras: dict[str, str]
    source: str = ""

    def error(self, action: str | None, view: str, feature: str, *, change: bool) -> float | None:
        """The geometric error of ``feature`` read from ``view`` for ``action``; ``None`` when not derived."""
        e = self.errors.get(action or "", {}).get(view, {}).get(feature)
        return None if e is None else e[1 if change else 0]


def _num(v, where: str) -> float:
    if v == "inf":
        return float("inf")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise PoseRulesError(f"{where}: expected a non-negative number or 'inf', got {v!r}")
    return float(v)


@lru_cache(maxsize=4)
def load_geometry(path: str | Path | None = None) -> ViewGeometry:
    """Load and validate the geometry table (default: the packaged ``view_geometry.yaml``)."""

    path = Path(path or GEOMETRY_PATH)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PoseRulesError(f"{path}: cannot read the view geometry ({exc})") from exc
    if not isinstance(raw, dict) or set(raw) != {"cameras", "why", "actions"}:
        raise PoseRulesError(f"{path}: expected keys cameras, why, actions")
    why = {str(k): str(v) for k, v in (raw["why"] or {}).items()}
    bad = sorted(set(why) - set(FEATURES))
    if bad:
        raise PoseRulesError(f"{path}: why: unknown feature(s) {bad}")
    errors: dict = {}
    for slug, per_view in (raw["actions"] or {}).items():
        if not isinstance(per_view, dict) or set(per_view) - set(GEOMETRY_VIEWS):
            raise PoseRulesError(f"{path}: actions.{slug}: expected views among {GEOMETRY_VIEWS}")
        errors[slug] = {}
        for v, feats in per_view.items():
            out = {}
            for f, e in (feats or {}).items():
                where = f"{path}: actions.{slug}.{v}.{f}"
                if f not in FEATURES:
                    raise PoseRulesError(f"{where}: unknown feature")
                if not isinstance(e, list) or len(e) != 2:
                    raise PoseRulesError(f"{where}: expected [level error, change error], got {e!r}")
                out[f] = (_num(e[0], where), _num(e[1], where))
            errors[slug][v] = out
    return ViewGeometry(errors, why, {str(k): str(v) for k, v in raw["cameras"].items()}, str(path))


def geometric_limit(
    rule, view: str, action: str | None, margin: float, *, geom: ViewGeometry | None = None
) -> str:
    """Why the camera geometry keeps ``rule`` from being measured from ``view`` for ``action``, or ``""``.

    ``margin`` is the rules' single-camera margin for the rule's unit; a rule is measurable when its geometric
    error is at most half of it. A rule (or action) the table does not cover is not limited by geometry."""
    if view not in GEOMETRY_VIEWS or rule.feature is None:
        return ""
    geom = geom or load_geometry()
    change = rule.stat in CHANGE_STATS or rule.ref == "rep"
    err = geom.error(action, view, rule.feature, change=change)
    if err is None or err <= 0.5 * margin:
        return ""
    unit = FEATURES[rule.feature].unit
    what = "its change" if change else "its value"
    size = "it is not seen at all" if err == float("inf") else f"{what} moves by up to {err:.3g} {unit}"
    return (
        f"{rule.feature} is not measurable from a single {view} camera: {geom.why.get(rule.feature, 'it lies along the line of sight')}; "
        f"filming the simulated {action or 'action'} from this view and reading the 2D image, {size}, more than "
        f"half the {margin:g} {unit} single-camera margin"
    )


def trace_limit(
    feature: str | None, view: str, action: str | None, margin: float, *, geom: ViewGeometry | None = None
) -> str:
    """Why phase timing is not measurable from ``view``: the repetition trace's ``feature`` changes are not seen."""
    if feature is None or view not in GEOMETRY_VIEWS:
        return ""
    geom = geom or load_geometry()
    err = geom.error(action, view, feature, change=True)
    if err is None or err <= 0.5 * margin:
        return ""
    return (
        f"phase timing is not measurable from a single {view} camera: the phases come from the repetition trace, "
        f"which follows {feature}, and {geom.why.get(feature, 'it lies along the line of sight')}"
    )
