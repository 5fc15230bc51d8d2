"""Per-sample features of every modality, extracted once into the feature store (:mod:`flexaqa.data.featurestore`).

:func:`extract_features` (what training calls) reads them and builds what is missing with :func:`build_features`,
the job of ``flexaqa features extract``: the encoders below run batched in :mod:`flexaqa.aqa.extract`.

A Table-4 head reads ``video_v1``, ``video_v2`` (two camera views), ``pose`` and ``emg`` rows. Each key comes
from one extractor whose name and config (encoder, weights file, frames, size, seed) pick its cache folder, so
changing any of them never reads stale features:

- video: a frozen encoder per view — ``small3d`` (random init from ``seed``: the offline default, weak) or
  ``i3d`` with CoRe's 10 x 16-frame clip protocol, meaningful only with Kinetics weights (``video_weights``);
- pose: ``stats`` — interpretable statistics of joint angles, widths, asymmetries and timing
  (:func:`pose_statistics`, numpy only: pose carries signal offline), ``stgcn`` (NTU-25 ST-GCN, frozen; load
  ``pose_weights`` from an st-gcn NTU checkpoint) or ``stgcn+stats``; ``keysteps`` — the signed margin of
  every coach rule of the action against its FKG-keystep threshold (:mod:`flexaqa.aqa.keysteps`), alone or
  as ``keysteps+stats``;
- emg: ``official`` — the FLEX baseline's relative muscle contribution — or ``envelope`` (the conditioned
  envelope variant from :mod:`flexaqa.signal`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from flexaqa._io import check_output_dir, output_dir
from flexaqa.aqa import AQAError
from flexaqa.aqa.extract import SHARD_SIZE, ExtractReport, Job, MissingFeaturesError, StoreJob, plan, run
from flexaqa.aqa.keysteps import rules_digest, sample_keystep_margins
from flexaqa.data.featurestore import FeatureStore
from flexaqa.errors import EXIT_INPUT, MissingFileError, OutputError, reject_unknown_keys
from flexaqa.kg import load_kg
from flexaqa.signal import relative_muscle_contribution, relative_muscle_contribution_envelope
from flexaqa.skeleton import J, joint_angle

FEATURE_KEYS = ("video_v1", "video_v2", "pose", "emg")
VIDEO_ENCODERS = ("small3d", "i3d")
POSE_ENCODERS = ("stats", "stgcn", "stgcn+stats", "keysteps", "keysteps+stats")
EMG_FEATURES = ("official", "envelope")
_VERSION = 1  # bump when an extractor's output changes for the same config


class MissingWeightsError(MissingFileError, AQAError):
    """A weights file named by the feature spec does not exist (exit code 9)."""

    exit_code = EXIT_INPUT


@dataclass
class FeatureSpec:
    """How each feature key is made (saved with every run, so evaluation rebuilds the same features)."""

    video: str = "small3d"  # small3d | i3d
    video_weights: str | None = None  # Kinetics I3D checkpoint (model_rgb.pth / rgb_imagenet.pt)
    video_frames: int = 32  # frames per sample for small3d (I3D always uses CoRe's 103)
    video_size: int = 64  # short side for small3d (I3D: 224)
    views: tuple[str, str] = ("View-1", "View-2")  # the views behind video_v1, video_v2
    pose: str = "stats"  # stats | stgcn | stgcn+stats | keysteps | keysteps+stats
    pose_weights: str | None = None  # st-gcn NTU checkpoint (st_gcn.ntu-xsub.pt)
    emg: str = "official"  # official | envelope
    seed: int = 0  # initialisation of encoders without weights

    def __post_init__(self):
        for name, allowed in (("video", VIDEO_ENCODERS), ("pose", POSE_ENCODERS), ("emg", EMG_FEATURES)):
            if getattr(self, name) not in allowed:
                raise AQAError(
                    f"{name} feature must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        self.views = tuple(self.views)
        if len(self.views) != 2:
            raise AQAError(
                f"views must name the two views behind video_v1 and video_v2, got {list(self.views)}"
            )
        for name in ("video_weights", "pose_weights"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise MissingWeightsError(f"{name}: no file at {path}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["views"] = list(self.views)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSpec:
        """The spec of ``to_dict``; an unknown key (``video_frams``) is refused with a suggestion."""
        reject_unknown_keys(d, (f.name for f in fields(cls)), what="FeatureSpec", error=AQAError)
        return cls(**d)


# ----------------------------------------------------------------------------------------------- pose stats

_ANGLES = {  # name: (a, b, c) joints, angle at b
    "r_elbow": ("right_shoulder", "right_elbow", "right_wrist"),
    "l_elbow": ("left_shoulder", "left_elbow", "left_wrist"),
    "r_knee": ("right_hip", "right_knee", "right_ankle"),
    "l_knee": ("left_hip", "left_knee", "left_ankle"),
    "r_hip": ("right_shoulder", "right_hip", "right_knee"),
    "l_hip": ("left_shoulder", "left_hip", "left_knee"),
    "r_shoulder": ("right_hip", "right_shoulder", "right_elbow"),
    "l_shoulder": ("left_hip", "left_shoulder", "left_elbow"),
}
_SERIES = (*_ANGLES, "trunk_pitch", "trunk_roll", "neck_flexion")
_SUMMARY = ("min", "max", "mean", "std")
_EXTRA = (
    "stance_width",
    "grip_width_mean",
    "grip_width_std",
    "wrist_height_asym_mean",
    "wrist_height_asym_max",
    "elbow_asym",
    "knee_asym",
    "hip_asym",
    "shoulder_asym",
    "pelvis_offset_mean",
    "pelvis_offset_std",
    "wrist_path_range",
    "wrist_speed_mean",
    "wrist_jerk",
    "hip_jerk",
    "trunk_sway",
    "turn_fraction",
    "duration_s",
)
POSE_STAT_NAMES: tuple[str, ...] = (*(f"{s}_{k}" for s in _SERIES for k in _SUMMARY), *_EXTRA)


def pose_statistics(joints: np.ndarray, fps: float) -> np.ndarray:
    """Interpretable statistics of one repetition's FLEX-21 pose ``(T, 21, 3)`` (metres, +z up) at ``fps``.

    Angles in degrees / 100 (min, max, mean, std over time of 8 joint angles, trunk pitch and roll, neck
    flexion), widths and offsets in units of the subject's trunk length, left/right asymmetries, speed and jerk
    of the wrist and hip centres, trunk sway, the turning point as a fraction of the repetition and its
    duration in seconds. Names in :data:`POSE_STAT_NAMES`; returns ``(len(POSE_STAT_NAMES),)`` float32.
    """
    x = np.asarray(joints, dtype=float)
    if x.ndim != 3 or x.shape[1:] != (21, 3) or len(x) < 2:
        raise AQAError(f"pose statistics need a FLEX-21 pose of shape (T>=2, 21, 3), got {x.shape}")
    jt = {name: x[:, i] for name, i in J.items()}  # (T, 3) each
    hip_c = (jt["left_hip"] + jt["right_hip"]) / 2
    ankle_c = (jt["left_ankle"] + jt["right_ankle"]) / 2
    wrist_c = (jt["left_wrist"] + jt["right_wrist"]) / 2
    trunk = jt["neck"] - hip_c  # (T, 3)
    scale = max(float(np.linalg.norm(trunk, axis=1).mean()), 1e-6)
    series = {k: joint_angle(jt[a], jt[b], jt[c]) for k, (a, b, c) in _ANGLES.items()}
    series["trunk_pitch"] = np.degrees(np.arccos(np.clip(trunk[:, 2] / np.linalg.norm(trunk, axis=1), -1, 1)))
    sh = jt["left_shoulder"] - jt["right_shoulder"]
    series["trunk_roll"] = np.degrees(np.arctan2(sh[:, 2], np.linalg.norm(sh[:, :2], axis=1)))
    series["neck_flexion"] = joint_angle(jt["head"], jt["neck"], hip_c)
    s = np.stack([series[k] for k in _SERIES]) / 100.0  # (K, T)
    summary = np.stack([s.min(1), s.max(1), s.mean(1), s.std(1)], axis=1).ravel()  # (K * 4,)
    dt = 1.0 / float(fps)

    def width(a, b):
        return np.linalg.norm(jt[a] - jt[b], axis=1) / scale

    def asym(name):
        return float(np.abs(series[f"l_{name}"] - series[f"r_{name}"]).mean() / 100.0)

    def jerk(p):
        return (
            float(np.linalg.norm(np.diff(p, n=3, axis=0), axis=1).mean() / dt**3 / scale)
            if len(p) > 3
            else 0.0
        )

    grip = width("left_wrist", "right_wrist")
    wz = (jt["left_wrist"][:, 2] - jt["right_wrist"][:, 2]) / scale
    pelvis = np.linalg.norm((hip_c - ankle_c)[:, :2], axis=1) / scale
    wrist_rel = (wrist_c - wrist_c[0]) / scale
    travel = np.linalg.norm(wrist_rel, axis=1)
    pitch = series["trunk_pitch"]
    extra = [
        float(width("left_ankle", "right_ankle").mean()),
        float(grip.mean()),
        float(grip.std()),
        float(wz.mean()),
        float(np.abs(wz).max()),
        asym("elbow"),
        asym("knee"),
        asym("hip"),
        asym("shoulder"),
        float(pelvis.mean()),
        float(pelvis.std()),
        float(np.ptp(wrist_rel, axis=0).max()),
        float(np.linalg.norm(np.diff(wrist_c, axis=0), axis=1).mean() / dt / scale),
        jerk(wrist_c) / 1e3,
        jerk(hip_c) / 1e3,
        float(np.diff(pitch, n=2).std()) if len(pitch) > 2 else 0.0,
        float(np.argmax(travel) / max(len(travel) - 1, 1)),
        len(x) * dt,
    ]
    return np.concatenate([summary, extra]).astype(np.float32)


# ----------------------------------------------------------------------------------------------- extractors


def _file_tag(path: str | None) -> dict | None:
    if path is None:
        return None
    p = Path(path).resolve()
    st = p.stat()
    return {"path": str(p), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def cache_configs(spec: FeatureSpec) -> dict[str, tuple[str, dict]]:
    """``{modality: (extractor name, config)}``; the config decides the cache folder (see module doc)."""
    if spec.video == "i3d":
        video = {"weights": _file_tag(spec.video_weights), "protocol": "core-10x16"}
        frames, size = 103, 224
    else:
        video = {"weights": None}
        frames, size = spec.video_frames, spec.video_size
    video.update(seed=spec.seed, num_frames=frames, size=size, version=_VERSION)
    pose = {"encoder": spec.pose, "version": _VERSION}
    if "stgcn" in spec.pose:
        pose.update(weights=_file_tag(spec.pose_weights), seed=spec.seed, frames=103)
    if "keysteps" in spec.pose:
        pose.update(rules=rules_digest())
    return {
        "video": (f"video-{spec.video}", video),
        "pose": (f"pose-{spec.pose.replace('+', '-')}", pose),
        "emg": (f"emg-{spec.emg}", {"feature": spec.emg, "version": _VERSION}),
    }


def _pose_encoder(spec: FeatureSpec):
    """``(joints (T, 21, 3), fps, sample) -> (D,)`` for ``spec.pose`` (``keysteps`` reads the sample's action
    and keyframes)."""
    stgcn = None
    if "stgcn" in spec.pose:
        import torch

        from flexaqa.models import create_model, flex21_to_stgcn_input, load_stgcn_weights

        torch.manual_seed(spec.seed)
        stgcn = create_model("stgcn").eval()
        if spec.pose_weights:
            load_stgcn_weights(stgcn, spec.pose_weights, keep_head=False)

    def encode(joints: np.ndarray, fps: float, sample=None) -> np.ndarray:
        parts = []
        if "keysteps" in spec.pose:
            if sample is None:
                raise AQAError("the keysteps pose feature needs the loaded sample (its action and keyframes)")
            parts.append(sample_keystep_margins(sample))
        if stgcn is not None:
            import torch

            idx = np.linspace(0, len(joints) - 1, 103).round().astype(int)  # the baseline's 103 frames
            with torch.no_grad():
                parts.append(stgcn(flex21_to_stgcn_input(joints[idx]))[0].numpy())
        if "stats" in spec.pose:
            parts.append(pose_statistics(joints, fps))
        return np.concatenate(parts).astype(np.float32)

    return encode


def emg_feature(emg: np.ndarray, fs: float, action, kind: str = "official") -> np.ndarray:
    """The 2-d left/right relative muscle contribution of one repetition's sEMG ``(N, C)``.

    A flat recording (NaN in the official division) gives ``(0.5, 0.5)``.
    """
    if kind == "official":
        f = relative_muscle_contribution(emg, action)
    else:
        f = relative_muscle_contribution_envelope(emg, fs, action)
    f = np.asarray(f, dtype=np.float32)
    return np.where(np.isfinite(f), f, 0.5).astype(np.float32)


def _check_views(source, spec: FeatureSpec, keys: Sequence[str]) -> dict[str, str]:
    views = {k: spec.views[i] for i, k in enumerate(("video_v1", "video_v2")) if k in keys}
    for key, view in views.items():
        if view not in source.view_names:
            raise AQAError(
                f"{source.root}: {key} needs view {view!r} but the dataset has only "
                f"{', '.join(source.view_names) or 'no video'}; pick a variant without it (e.g. 'sv' or 'pose') "
                "or other views with --views"
            )
    return views


# ----------------------------------------------------------------------------------------------- the encoders


class _VideoEncoder:
    """Frames of one view, decoded in a DataLoader worker, then one batched forward pass on the device: for
    ``i3d`` CoRe's 10 x 16-frame clips of every sample and view of the batch go through the network together."""

    def __init__(self, spec: FeatureSpec, device: str, amp: bool, load_only: bool):
        cfg = cache_configs(spec)["video"][1]
        self.spec, self.device, self.amp = spec, device, amp
        self.frames, self.size = cfg["num_frames"], cfg["size"]
        self.model = None if load_only else self._model()

    def _model(self):
        import torch

        from flexaqa.models import create_model, load_i3d_weights
        from flexaqa.models.video import IMAGENET_MEAN, IMAGENET_STD

        torch.manual_seed(self.spec.seed)
        model = create_model(self.spec.video).eval()
        if self.spec.video == "i3d" and self.spec.video_weights:
            load_i3d_weights(model, self.spec.video_weights)
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1, 1)
        return model.to(self.device)

    def load(self, source, sample_id: str, view: str) -> np.ndarray:
        sample = source.load(
            sample_id, modalities=("video",), views=[view], num_frames=self.frames, size=self.size
        )
        if view not in sample.video:
            raise AQAError(f"sample {sample_id} has no {view} video")
        return np.ascontiguousarray(sample.video[view])  # (T, H, W, 3) uint8

    def encode(self, frames: list) -> np.ndarray:
        import torch

        from flexaqa.models import clip_features

        cuda = self.device.startswith("cuda")
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=cuda and self.amp):
            x = torch.stack(frames).to(self.device, non_blocking=True)  # (B, T, H, W, 3) uint8
            x = x.permute(0, 4, 1, 2, 3).float() / 255.0  # (B, 3, T, H, W)
            x = (x - self.mean) / self.std
            f = clip_features(self.model, x) if self.spec.video == "i3d" else self.model(x)  # (B, D)
        return f.float().cpu().numpy()


class _StreamEncoder:
    """A pose or sEMG feature, computed where the sample is loaded (numpy; ST-GCN on the worker's CPU)."""

    def __init__(self, spec: FeatureSpec, modality: str):
        self.spec, self.modality, self.pose = spec, modality, None

    def load(self, source, sample_id: str, key: str) -> np.ndarray:
        m = self.modality
        sample = source.load(sample_id, modalities=(m,))
        stream = getattr(sample, m)
        if m in sample.missing or stream is None or len(stream) == 0:
            raise AQAError(f"sample {sample_id} has no {m} data (needed for the '{m}' feature)")
        if m == "pose":
            if self.pose is None:  # built where samples load (ST-GCN: once per worker process)
                self.pose = _pose_encoder(self.spec)
            return self.pose(stream.data, stream.rate, sample)
        return emg_feature(stream.data, stream.rate, load_kg().action(sample.record.action), self.spec.emg)

    def encode(self, rows: list) -> np.ndarray:
        return np.stack([np.asarray(r, dtype=np.float32) for r in rows])


def feature_encoder(spec_json: str, modality: str, device: str, *, amp: bool = True, load_only: bool = False):
    """The encoder of one modality of the spec ``FeatureSpec.to_dict()`` as JSON (the factory of the
    extraction job, :mod:`flexaqa.aqa.extract`, which builds one per process and job)."""
    spec = FeatureSpec.from_dict(json.loads(spec_json))
    if modality == "video":
        return _VideoEncoder(spec, device, amp, load_only)
    return _StreamEncoder(spec, modality)


# ----------------------------------------------------------------------------------------------- the job


def stores_for(
    spec: FeatureSpec, keys: Sequence[str], root: str | Path
) -> dict[str, tuple[FeatureStore, str]]:
    """``{feature key: (store, store key)}``: where each feature key of ``spec`` lives under the cache ``root``."""
    cfgs = cache_configs(spec)
    out = {}
    for k in keys:
        mod = "video" if k.startswith("video") else k
        name, cfg = cfgs[mod]
        out[k] = (FeatureStore(root, name, cfg), spec.views[int(k[-1]) - 1] if mod == "video" else k)
    return out


def build_features(
    source,
    ids: Sequence[str],
    spec: FeatureSpec,
    *,
    keys: Sequence[str] = FEATURE_KEYS,
    root: str | Path,
    device: str = "cpu",
    batch_size: int = 8,
    workers: int = 1,
    ray: str | None = None,
    shard_size: int = SHARD_SIZE,
    progress: bool = True,
    amp: bool = True,
) -> ExtractReport:
    """Extract into the feature store every entry of ``keys`` x ``ids`` it lacks (the caller holds the lock of
    ``root``; see :func:`cache_writer`). Failed samples are in the report (and each store's ``missing.json``)."""
    _check_keys(keys)
    _check_views(source, spec, keys)
    where = stores_for(spec, keys, root)
    for store, key in where.values():
        old = set(store.legacy_ids(key)).intersection(store.missing(ids, key))
        if old:
            raise AQAError(
                f"{store.dir} holds {len(old)} of these features in the old per-sample layout: run "
                f"`flexaqa features migrate --cache {store.root}` once (no re-extraction), then this again"
            )
    groups: dict[tuple, list[str]] = {}
    for k, (store, key) in where.items():
        mod = "video" if k.startswith("video") else k
        groups.setdefault((store.extractor, json.dumps(store.config, sort_keys=True), mod), []).append(key)
    jobs = tuple(StoreJob(n, json.loads(c), m, tuple(dict.fromkeys(ks))) for (n, c, m), ks in groups.items())
    spec_json = json.dumps(spec.to_dict(), sort_keys=True)
    factory = functools.partial(feature_encoder, spec_json)
    data, root = str(Path(source.root).resolve()), str(Path(root).resolve())  # Ray workers: any cwd
    job = Job(data, root, jobs, factory, device=device, batch_size=batch_size, amp=amp)
    actions = {i: source.record(i).action for i in ids}  # keysteps' size depends on the action
    tasks, skipped = plan(job, ids, shard_size=shard_size, group=actions)
    report = run(job, tasks, workers=workers, ray=ray, progress=progress, source=source)
    report.skipped = skipped
    return report


def _check_keys(keys: Sequence[str]) -> None:
    bad = [k for k in keys if k not in FEATURE_KEYS]
    if bad:
        raise AQAError(f"unknown feature key {bad[0]!r}; known: {', '.join(FEATURE_KEYS)}")


def check_feature_keys(source, spec: FeatureSpec, keys: Sequence[str]) -> None:
    """Refuse unknown feature keys and views the dataset lacks, before any work."""
    _check_keys(keys)
    _check_views(source, spec, keys)


def extract_features(
    source,
    ids: Sequence[str],
    spec: FeatureSpec,
    *,
    keys: Sequence[str] = FEATURE_KEYS,
    cache_root: str | Path | None = None,
    progress: bool = True,
    device: str = "cpu",
    batch_size: int = 8,
    workers: int = 1,
) -> dict[str, np.ndarray]:
    """Features ``{key: (len(ids), d_key)}`` float32 of the samples ``ids``, from the feature store or extracted
    now (:func:`build_features`, the job of ``flexaqa features extract``).

    ``keys`` picks the feature keys (only their modalities are read). Samples that cannot be read raise
    :class:`~flexaqa.aqa.extract.MissingFeaturesError` naming each sample, key and file (the others are stored).
    Under torchrun, rank 0 extracts (holding the cache lock); the other ranks only read.
    """
    ids = list(ids)
    _check_keys(keys)
    _check_views(source, spec, keys)
    root = Path(cache_root) if cache_root is not None else Path(source.root) / "features"
    where = stores_for(spec, keys, root)
    if any(store.missing(ids, key) for store, key in where.values()):
        if int(os.environ.get("RANK", "0")) != 0:
            raise AQAError(  # training waits for rank 0 to extract them (on_rank_zero): this is another caller
                f"rank {os.environ['RANK']}: features missing in {root}; under torchrun only rank 0 extracts "
                "features (run `flexaqa features extract` first)"
            )
        with cache_writer(root, default=cache_root is None):
            report = build_features(
                source,
                ids,
                spec,
                keys=keys,
                root=root,
                device=device,
                batch_size=batch_size,
                workers=workers,
                progress=progress,
            )
        if report.failed:
            raise MissingFeaturesError(report.failed)
    return {k: store.reader(key).take(ids) for k, (store, key) in where.items()}


def cache_writer(root: Path, *, default: bool):
    """Lock the feature cache folder ``root`` for writing; a read-only default cache (inside the dataset) says
    to pass ``--cache``."""

    try:
        check_output_dir(root)
    except OutputError as exc:
        if not default:
            raise
        raise OutputError(
            f"{exc}; the feature cache goes inside the dataset by default ({root}): pass --cache FOLDER to "
            "keep it elsewhere"
        ) from None
    return output_dir(root, mode="update")
