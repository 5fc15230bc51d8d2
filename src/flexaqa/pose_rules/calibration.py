"""What one camera can measure: the video path's calibration, the ``video:`` section of ``pose_rules/data/rules.yaml``.

A pose from one video (MediaPipe world landmarks) is good across the image and poor along the camera's depth
axis. On rendered simulator video (``benchmarks/diag_coach_video.py``, results in
``benchmarks/results/coach_video_diag.md``) some features track the true 3D value within the rules' tolerance
from a given view and others are off by more than the rules' thresholds, whatever the threshold: the elbow angle
of a curl filmed from the front (the forearm swings toward the camera), the upper arm's forward swing, the
torso's lean, the hands' forward position. A rule on such a feature is reported as *not assessed from this view*,
with the reason, instead of firing on noise; the assessed-weight coverage drops accordingly.

The section lists, per view (``front``, ``side``, ``oblique``), the features a single camera measures well
enough, with per-action exceptions, and why the others are not measurable::

    video:
      measurable:
        front: [knee_angle, ...]
      actions:
        barbell-biceps-curl: {front: {drop: [elbow_angle]}}
      why:
        elbow_angle: the forearm moves along the camera's line of sight
      margin:
        side: {knee_angle: 8.0}

A ``feature.change`` entry makes only the statistics of a change within the window (rise, drop, range, wobble)
measurable, where a constant bias cancels (from the side, the squat's torso lean is read well as a change and
with a bias as a level). Duration and tempo rules are as measurable as the feature the repetition trace follows
(the phases come from it; its change suffices). A true 3D pose (``view="3d"``) is never limited. ``margin``
replaces the rules' ``monocular_margin`` (how far every single-camera threshold is widened) for the features whose
error from a view is known to be smaller; ``feature.change`` applies to the change statistics, and
``feature.<stat>`` (e.g. ``torso_pitch.wobble``) to one of them alone (a sway's amplitude errs far less than a
lean's drop).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from flexaqa.pose_rules.features import FEATURES
from flexaqa.pose_rules.geometry import geometric_limit, trace_limit
from flexaqa.pose_rules.rules import RULES_PATH, load_rules_file
from flexaqa.pose_rules.sequence import PoseRulesError

VIDEO_VIEWS = ("front", "side", "oblique")
CHANGE_STATS = ("rise", "drop", "range", "wobble")  # statistics of a change within the window: bias cancels


class VideoCalibrationError(PoseRulesError):
    """The ``video:`` section of the rules file breaks its format."""


@dataclass(frozen=True)
class VideoCalibration:
    """Per view, the features one camera measures within the rules' tolerance; per feature, why not."""

    measurable: dict[str, frozenset[str]]  # view -> features
    actions: dict[str, dict[str, dict[str, frozenset[str]]]] = field(
        default_factory=dict
    )  # slug -> view -> add/drop
    why: dict[str, str] = field(default_factory=dict)  # feature -> reason it is view-dependent
    margin: dict[str, dict[str, float]] = field(default_factory=dict)  # view -> feature -> threshold widening
    source: str = ""

    def features(self, view: str, action: str | None = None) -> frozenset[str]:
        """The features measurable from ``view`` for ``action`` (a slug), after its exceptions."""
        base = self.measurable.get(view, frozenset(FEATURES))
        ex = self.actions.get(action or "", {}).get(view, {})
        return (base | ex.get("add", frozenset())) - ex.get("drop", frozenset())


def _features(raw, where: str, *, change: bool = False) -> frozenset[str]:
    if not isinstance(raw, list):
        raise VideoCalibrationError(f"{where}: expected a list of feature names, got {raw!r}")
    bad = [f for f in raw if (str(f).removesuffix(".change") if change else f) not in FEATURES]
    if bad:
        raise VideoCalibrationError(
            f"{where}: unknown feature(s) {bad}; features: {', '.join(sorted(FEATURES))}"
        )
    return frozenset(raw)


def _views(raw, where: str) -> dict:
    if not isinstance(raw, dict) or set(raw) - set(VIDEO_VIEWS):
        raise VideoCalibrationError(f"{where}: expected a mapping with keys among {VIDEO_VIEWS}, got {raw!r}")
    return raw


@lru_cache(maxsize=4)
def load_video_calibration(path: str | Path | None = None) -> VideoCalibration:
    """The ``video:`` section of the rules file (default ``pose_rules/data/rules.yaml``); none: nothing is limited."""

    path = str(path or RULES_PATH)
    raw = load_rules_file(path).get("video")
    if raw is None:
        return VideoCalibration({}, source=path)
    if not isinstance(raw, dict) or set(raw) - {"measurable", "actions", "why", "margin"}:
        raise VideoCalibrationError(
            f"{path}: video: expected keys measurable, actions, why, margin; got {raw!r}"
        )
    where = f"{path}: video.measurable"
    measurable = {
        v: _features(f, f"{where}.{v}", change=True)
        for v, f in _views(raw.get("measurable", {}), where).items()
    }
    actions = {}
    for slug, per_view in (raw.get("actions") or {}).items():
        w = f"{path}: video.actions.{slug}"
        actions[slug] = {}
        for v, ex in _views(per_view, w).items():
            if not isinstance(ex, dict) or set(ex) - {"add", "drop"}:
                raise VideoCalibrationError(f"{w}.{v}: expected add/drop lists, got {ex!r}")
            actions[slug][v] = {k: _features(x, f"{w}.{v}.{k}", change=True) for k, x in ex.items()}
    why = {str(k): str(v) for k, v in (raw.get("why") or {}).items()}
    _features(list(why), f"{path}: video.why")
    margin = {}
    for v, per in _views(raw.get("margin") or {}, f"{path}: video.margin").items():
        _features([str(k).split(".")[0] for k in per], f"{path}: video.margin.{v}")
        bad = [k for k in per if "." in str(k) and str(k).split(".", 1)[1] not in ("change", *CHANGE_STATS)]
        if bad:
            raise VideoCalibrationError(
                f"{path}: video.margin.{v}: unknown suffix in {bad}; expected feature, feature.change or "
                f"feature.<stat> with stat among {CHANGE_STATS}"
            )
        margin[v] = {str(f): float(m) for f, m in per.items()}
    return VideoCalibration(measurable, actions, why, margin, path)


def trace_feature(action: str | None) -> str | None:
    """The feature that follows the repetition trace :mod:`flexaqa.signal` segments ``action`` by (wrist height
    -> ``hand_height``, hip height -> ``hip_height``, elbow angle -> ``elbow_angle``); ``None`` when none does."""
    if not action:
        return None
    from flexaqa.signal.segment import REP_SIGNALS  # scipy: only when a rule needs the trace

    spec = REP_SIGNALS.get(action)
    if spec is None or (spec.kind == "height" and set(spec.joints) == {"left_wrist", "right_wrist"}):
        return "hand_height"  # the default trace: the wrists' height
    if spec.kind == "height" and set(spec.joints) == {"left_hip", "right_hip"}:
        return "hip_height"
    return "elbow_angle" if spec.kind == "angle" else None


def _unit_margins() -> dict[str, float]:
    raw = load_rules_file(str(RULES_PATH)).get("monocular_margin") or {}
    return {str(k): float(v) for k, v in raw.items()}


def view_limit(rule, view: str, action: str | None = None, *, calib: VideoCalibration | None = None) -> str:
    """Why ``rule`` (a :class:`~flexaqa.pose_rules.rules.Rule`) cannot be assessed from one ``view`` camera filming
    ``action`` (a slug), or ``""`` when it can. The camera geometry decides
    (:func:`flexaqa.pose_rules.geometry.geometric_limit`: what lies in the image plane is seen), and the reason says
    what lies along the line of sight; a measure the geometry does not support is still assessed where the
    rendered-video calibration found the pose estimator's own depth estimate measuring it within the margin
    (:func:`calibrated`: MediaPipe's world landmarks from an oblique camera). The calibration never silences a
    measure the geometry supports; it only widens its threshold (:func:`video_margin`). A pose without any depth
    estimate (2D keypoints) is limited by the geometry alone (:func:`geometric_limit` directly).
    ``view="3d"`` (a true 3D pose) is never limited. Timing rules (duration, tempo) are as measurable as the
    repetition trace their phases come from (:func:`trace_feature`)."""
    if view not in VIDEO_VIEWS:
        return ""
    margins = _unit_margins()
    if rule.feature is None:
        f = trace_feature(action)
        why = trace_limit(f, view, action, margins.get(FEATURES[f].unit, 0.0) if f else 0.0)
    else:
        why = geometric_limit(rule, view, action, margins.get(rule.unit, 0.0))
    if why and calibrated(rule, view, action, calib=calib):
        return ""  # the estimator's depth measured it on rendered video
    return why


def geometry_limit(rule, view: str, action: str | None = None) -> str:
    """:func:`view_limit` for a pose with no depth estimate at all (2D keypoints): the geometry alone."""
    if view not in VIDEO_VIEWS:
        return ""
    margins = _unit_margins()
    if rule.feature is None:
        f = trace_feature(action)
        return trace_limit(f, view, action, margins.get(FEATURES[f].unit, 0.0) if f else 0.0)
    return geometric_limit(rule, view, action, margins.get(rule.unit, 0.0))


def calibrated(rule, view: str, action: str | None = None, *, calib: VideoCalibration | None = None) -> bool:
    """Whether the rendered-video calibration found ``rule``'s feature measured within the margin from ``view``
    (a pose estimator's error, not the geometry); timing rules follow their trace feature."""
    if view not in VIDEO_VIEWS:
        return True
    calib = calib or load_video_calibration()
    feats = calib.features(view, action)
    f = rule.feature or trace_feature(action)
    if f is None:
        return True
    change = rule.feature is None or rule.stat in CHANGE_STATS
    return f in feats or (change and f"{f}.change" in feats)


def video_margin(
    rule, view: str, default: float, *, action: str | None = None, calib: VideoCalibration | None = None
) -> float:
    """How far to widen ``rule``'s threshold for a single-camera pose from ``view``: the feature's own margin from
    the calibration (about twice its error on rendered video) where it has one, else ``default`` (the rules'
    ``monocular_margin`` for the unit); twice ``default`` where the calibration found the estimator's error on
    ``action`` past the margin (:func:`calibrated`) though the geometry lets the view see it. A change statistic looks up ``feature.<stat>``, then ``feature.change``,
    then ``feature``. ``view="3d"`` is not widened."""
    if view not in VIDEO_VIEWS:
        return 0.0 if view == "3d" else default
    calib = calib or load_video_calibration()
    if rule.feature is not None and action is not None and not calibrated(rule, view, action, calib=calib):
        return 2.0 * default  # the estimator erred past the margin on rendered video: twice as tolerant
    own = calib.margin.get(view, {})
    if rule.stat in CHANGE_STATS:
        for key in (f"{rule.feature}.{rule.stat}", f"{rule.feature}.change"):
            if key in own:
                return own[key]
    return own.get(rule.feature or "", default)
