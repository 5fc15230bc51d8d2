"""The feature options shared by ``flexaqa aqa train``, ``flexaqa bench aqa`` and ``flexaqa features``: one flag,
one meaning (standard library only: the parser stays light)."""

from __future__ import annotations

import argparse

from flexaqa._args import VIEWS, add_progress, name_list, positive_int


def add_feature_options(p: argparse.ArgumentParser, *, quiet_alias: bool = True) -> None:
    """``--video``, ``--video-weights``, ``--views``, ``--pose``, ``--pose-weights``, ``--emg-feature``,
    ``--cache``, ``--threads`` and ``--no-progress`` (``quiet_alias``: with the deprecated ``--quiet``)."""
    g = p.add_argument_group("features (frozen encoders, cached per extractor + config)")
    g.add_argument(
        "--video",
        choices=("small3d", "i3d"),
        default="small3d",
        help="video encoder: small3d (random init, weak, offline) or i3d (give --video-weights)",
    )
    g.add_argument("--video-weights", help="Kinetics I3D checkpoint (model_rgb.pth or rgb_imagenet.pt)")
    g.add_argument(
        "--views",
        type=name_list(VIEWS, what="view"),
        default="View-1,View-2",
        help="the two views behind MV (default View-1,View-2)",
    )
    g.add_argument(
        "--pose",
        choices=("stats", "stgcn", "stgcn+stats", "keysteps", "keysteps+stats"),
        default=None,
        help="pose feature (default: stats; stgcn with --pose-weights or --end-to-end); keysteps: the coach "
        "rules' margins against their FKG-keystep thresholds",
    )
    g.add_argument("--pose-weights", help="st-gcn NTU checkpoint (st_gcn.ntu-xsub.pt)")
    g.add_argument(
        "--emg-feature",
        choices=("official", "envelope"),
        default="official",
        help="relative muscle contribution: official raw peaks or conditioned envelopes",
    )
    g.add_argument("--cache", help="feature cache folder (default DATA/features)")
    p.add_argument(
        "--threads", type=positive_int, default=1, help="torch CPU threads (1 is fastest for the small heads)"
    )
    add_progress(p, quiet_alias=quiet_alias)


def spec_kwargs(args: argparse.Namespace, seed: int = 0) -> dict:
    """The :class:`~flexaqa.aqa.features.FeatureSpec` arguments of the options above."""
    return dict(
        video=args.video,
        video_weights=args.video_weights,
        views=tuple(args.views),
        pose=args.pose or ("stgcn" if args.pose_weights else "stats"),
        pose_weights=args.pose_weights,
        emg=args.emg_feature,
        seed=seed,
    )
