"""``flexaqa emg process`` and ``flexaqa emg bursts``. Light at import: numpy/scipy load inside the handlers."""

from __future__ import annotations

import argparse
import io

import numpy as np

from flexaqa._args import (
    add_json,
    add_out,
    fraction,
    non_negative_float,
    non_negative_int,
    percent,
    positive_float,
    sampling_rate,
)


def add_commands(sub: argparse._SubParsersAction) -> None:
    emg = sub.add_parser("emg", help="process a raw sEMG recording: envelopes, activation bursts, fatigue")
    esub = emg.add_subparsers(dest="emg_command", metavar="EMG_COMMAND", required=True)

    def common(p):
        p.add_argument("input", help="CSV (one column per channel, header optional), NPY or NPZ recording")
        p.add_argument(
            "--fs",
            type=sampling_rate,
            required=True,
            help="sampling rate in Hz, > 0 and < 1e6 (FLEX sEMG: 2000)",
        )
        p.add_argument(
            "--band",
            type=positive_float,
            nargs=2,
            default=(20.0, 450.0),
            metavar=("LOW", "HIGH"),
            help="band-pass edges in Hz (default 20 450)",
        )
        p.add_argument(
            "--mains",
            type=non_negative_float,
            default=50.0,
            help="mains notch in Hz (50 or 60; 0 turns it off)",
        )
        p.add_argument(
            "--envelope",
            choices=("rms", "linear"),
            default="rms",
            help="rms: moving RMS over --window; linear: rectified and low-passed (default rms)",
        )
        p.add_argument("--window", type=positive_float, default=0.05, help="RMS window in seconds (> 0)")

    p = esub.add_parser("process", help="band-pass, notch, rectify and envelope every channel")
    common(p)
    add_out(p, help="write time, filtered and envelope per channel (.csv or .npz)")
    p.add_argument("--plot", help="PNG of raw signal and envelope per channel")
    p.set_defaults(func=cmd_process)

    p = esub.add_parser(
        "bursts", help="activation bursts (onset, offset, peak, median frequency) and fatigue trend"
    )
    common(p)
    p.add_argument("--channel", type=non_negative_int, help="only this channel (0-based column)")
    p.add_argument("--min-duration", type=non_negative_float, default=0.1, help="shortest burst in seconds")
    p.add_argument(
        "--quiet-percent",
        type=percent,
        default=30.0,
        help="share of the recording assumed at rest, used to estimate the noise floor (default 30); "
        "lower it (e.g. 5) for a muscle that stays partly active through a continuous set",
    )
    p.add_argument(
        "--min-fraction",
        type=fraction,
        default=0.1,
        help="the on threshold is at least this fraction of the way from the floor to the 99th percentile "
        "(default 0.1; 0.4 with --quiet-percent 5 separates the repetitions of a continuous set)",
    )
    add_json(p, help="print one JSON object")
    p.set_defaults(func=cmd_bursts)


def _load(args):
    from flexaqa.errors import UsageError
    from flexaqa.signal._common import SignalError
    from flexaqa.signal.emg import EmgConfig, check_band
    from flexaqa.signal.io import read_recording

    try:  # the band against the rate: a usage error, checked before reading the file
        check_band(args.fs, *args.band)
    except SignalError as exc:
        raise UsageError(f"--fs {args.fs:g} --band {args.band[0]:g} {args.band[1]:g}: {exc}") from None
    from flexaqa._io import check_output_file

    for out in (getattr(args, "out", None), getattr(args, "plot", None)):
        if out:
            check_output_file(out)
    x = read_recording(args.input)
    cfg = EmgConfig(
        band=tuple(args.band), mains=args.mains or None, envelope=args.envelope, rms_window=args.window
    )
    return x, cfg


def cmd_process(args) -> int:

    from flexaqa.signal.emg import process_emg

    x, cfg = _load(args)
    proc = process_emg(x, args.fs, cfg)
    env = proc.envelope
    print(
        f"{args.input}: {x.shape[1]} channel(s), {x.shape[0]} samples ({x.shape[0] / args.fs:.2f} s at {args.fs:g} Hz)"
    )
    from flexaqa._text import format_table

    rows = [
        (
            k,
            f"{x[:, k].std():.4g}",
            f"{env[:, k].mean():.4g}",
            f"{env[:, k].max():.4g}",
            f"{env[:, k].argmax() / args.fs:.3f}",
        )
        for k in range(x.shape[1])
    ]
    print(
        format_table(
            ("channel", "raw sd", "mean envelope", "peak envelope", "peak at s"), rows, align=">>>>>"
        )
    )
    if args.out:
        _write(args.out, proc)
        print(f"wrote {args.out}")
    if args.plot:
        _plot(args.plot, x, proc)
        print(f"wrote {args.plot}")
    return 0


def _write(path: str, proc) -> None:
    from flexaqa._io import atomic_save, atomic_write_text
    from flexaqa.signal._common import SignalError

    c = proc.filtered.shape[1]
    if path.lower().endswith(".npz"):
        atomic_save(
            path,
            lambda tmp: np.savez_compressed(
                tmp, times=proc.times, filtered=proc.filtered, envelope=proc.envelope, fs=proc.fs
            ),
            ".npz",
        )
    elif path.lower().endswith(".csv"):
        buf = io.StringIO()
        header = ",".join(
            ["time_s"] + [f"filtered_{k}" for k in range(c)] + [f"envelope_{k}" for k in range(c)]
        )
        np.savetxt(
            buf,
            np.column_stack([proc.times, proc.filtered, proc.envelope]),
            delimiter=",",
            header=header,
            comments="",
            fmt="%.6g",
        )
        atomic_write_text(path, buf.getvalue())
    else:
        raise SignalError(f"--out {path}: use a .csv or .npz file name")


def _plot(path: str, x, proc) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from flexaqa._io import atomic_save

    c = x.shape[1]
    fig, axes = plt.subplots(c, 1, figsize=(10, 1.8 * c + 0.6), sharex=True, squeeze=False)
    t = proc.times
    step = max(len(t) // 20000, 1)  # keep the figure light for long recordings
    for k, ax in enumerate(axes[:, 0]):
        ax.plot(t[::step], (x[:, k] - x[:, k].mean())[::step], lw=0.4, color="0.6", label="raw (DC removed)")
        ax.plot(t[::step], proc.envelope[::step, k], lw=1.2, color="C3", label="envelope")
        ax.set_ylabel(f"ch {k}")
        lim = np.percentile(np.abs(x[:, k] - x[:, k].mean()), 99.9) * 1.2
        if lim > 0:
            ax.set_ylim(-lim, lim)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=100), ".png")
    plt.close(fig)


def cmd_bursts(args) -> int:
    from flexaqa.errors import UsageError
    from flexaqa.signal.bursts import burst_frequencies, fatigue_summary, find_bursts

    x, cfg = _load(args)
    if args.channel is not None:
        if not 0 <= args.channel < x.shape[1]:
            raise UsageError(
                f"--channel {args.channel} does not exist: {args.input} has channels 0-{x.shape[1] - 1}"
            )
        x = x[:, [args.channel]]
    bursts, proc = find_bursts(
        x, args.fs, cfg, min_duration=args.min_duration, quiet=args.quiet_percent, fraction=args.min_fraction
    )
    mdf, _ = burst_frequencies(proc.filtered, bursts)
    fatigue = fatigue_summary(bursts, mdf)
    chan = (lambda k: args.channel) if args.channel is not None else (lambda k: int(k))
    records = []
    for rec, f in zip(bursts.to_records(), mdf, strict=True):
        rec["channel"] = chan(rec["channel"])
        rec["median_frequency_hz"] = None if f != f else round(float(f), 2)
        records.append(rec)
    summaries = []
    for s in fatigue:
        d = s.to_dict()
        d["channel"] = chan(s.channel)
        summaries.append(d)
    if args.json:
        out = {
            "input": args.input,
            "fs": args.fs,
            "count": len(bursts),
            "bursts": records,
            "fatigue": summaries,
        }
        from flexaqa._io import json_text

        print(json_text(out, indent=2))
        return 0
    from flexaqa._text import format_table

    print(f"{args.input}: {len(bursts)} burst(s)")
    rows = [
        (
            r["channel"],
            f"{r['onset_s']:.3f}",
            f"{r['offset_s']:.3f}",
            f"{r['peak_s']:.3f}",
            f"{r['amplitude']:.4g}",
            "-" if r["median_frequency_hz"] is None else f"{r['median_frequency_hz']:.1f}",
        )
        for r in records
    ]
    if rows:
        print(
            format_table(
                ("channel", "onset s", "offset s", "peak s", "amplitude", "median Hz"), rows, align=">>>>>>"
            )
        )
    print("")
    print("fatigue (median frequency across bursts):")
    for s in summaries:
        slope = s["slope_hz_per_burst"]
        txt = "n/a" if slope != slope else f"{slope:+.2f} Hz/burst ({s['change_percent']:+.1f} %)"
        print(f"  channel {s['channel']}: {s['n_bursts']} bursts, slope {txt}: {s['trend']}")
    return 0
