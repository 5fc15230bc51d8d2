"""Pose2EMG vs Video2EMG vs the per-action mean-envelope baseline on SYNTHETIC data (the flexaqa simulator; no
person was recorded, so these numbers say nothing about FLEX).

Data: simulated trials of 4 actions x 12 subjects x 10 repetitions; subjects split 8 train / 2 val / 2 test
(cross-subject). Pose at 120 Hz kept every 4th frame (30 fps); video rendered from View-1 at 15 fps, 64x48.
Targets: band-passed, rectified sEMG averaged over 0.1 s around each frame, z-scored per action and channel
with training statistics; metrics after inverse normalisation (mV). Writes benchmarks/results/video2emg.json,
video2emg.md and video2emg_{pose,video}_envelopes.png. Options: ``--subjects N --epochs E --video-epochs E``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from flexaqa._io import atomic_write_text
from flexaqa.synth import synth_trial
from flexaqa.synth.subjects import subject_ids
from flexaqa.video2emg import examples_from_sim, plot_envelopes
from flexaqa.video2emg.train import Video2EMGConfig, evaluate_run, fit_video2emg

OUT = Path(__file__).resolve().parent / "results"
ACTIONS = ("dumbbell-biceps-curl", "squat", "dumbbell-lateral-raise", "flat-barbell-bench-press")
VIDEO_FPS, SIZE = 15.0, (64, 48)  # (width, height) as the simulator takes it


def make_data(n_subjects: int, *, video: bool):
    pose, vid = {}, {}
    for sid in subject_ids(n_subjects):
        pose[sid], vid[sid] = [], []
        for action in ACTIONS:
            trial, sim = synth_trial(
                action, subject=sid, reps=10, video=video, size=SIZE, fps=VIDEO_FPS, views=("View-1",)
            )
            pose[sid] += examples_from_sim(sim, input="pose", stride=4)
            if video:
                vid[sid] += examples_from_sim(
                    sim, input="video", frames=trial.frames["View-1"], fps=VIDEO_FPS, stride=1
                )
    return pose, vid


def split(by_subject: dict) -> tuple[list, list, list]:
    ids = sorted(by_subject)
    n = len(ids)
    n_test, n_val = max(1, n // 5), max(1, n // 5)
    test, val, train = ids[:n_test], ids[n_test : n_test + n_val], ids[n_test + n_val :]
    return tuple([e for s in part for e in by_subject[s]] for part in (train, val, test))


def run(name: str, cfg: Video2EMGConfig, data: dict) -> dict:
    train, val, test = split(data)
    t0 = time.perf_counter()
    result = fit_video2emg(cfg, train, val)
    fit_s = time.perf_counter() - t0
    report, pred, env = evaluate_run(result, test)
    plot_envelopes(test[::7], pred[::7], OUT / f"video2emg_{name}_envelopes.png", baseline=env[::7], n=4)
    return {
        "config": cfg.to_dict(),
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        "frames_train": int(sum(len(e.y) for e in train)),
        "best_epoch": result.best_epoch + 1,
        "fit_s": round(fit_s, 1),
        **report,
    }


def table(results: dict) -> str:
    from flexaqa._text import format_table

    rows = []
    for name, r in results.items():
        for who in ("model", "baseline_envelope", "baseline_constant"):
            o = r[who]["overall"]
            label = {
                "model": f"{name}2emg ({r['config']['model']})",
                "baseline_envelope": "  mean envelope",
                "baseline_constant": "  channel mean",
            }[who]
            rows.append((label, f"{o['mae']:.4f}", f"{o['rmse']:.4f}", f"{o['pearson']:.3f}"))
    return format_table(
        ("predictor (test subjects)", "MAE (mV)", "RMSE (mV)", "Pearson r"), rows, align="<>>>"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--video-epochs", type=int, default=20)
    ap.add_argument("--no-video", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    pose, vid = make_data(args.subjects, video=not args.no_video)
    data_s = time.perf_counter() - t0
    results = {"pose": run("pose", Video2EMGConfig(input="pose", epochs=args.epochs, progress=False), pose)}
    if not args.no_video:
        cfg = Video2EMGConfig(input="video", epochs=args.video_epochs, stride=1, batch_size=8, progress=False)
        results["video"] = run("video", cfg, vid)
    summary = {
        "synthetic": True,
        "note": "flexaqa simulator data; not FLEX. Cross-subject split; metrics after inverse normalisation.",
        "actions": list(ACTIONS),
        "subjects": args.subjects,
        "data_s": round(data_s, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, shared 2-core CPU",
        "results": results,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "video2emg.json", json.dumps(summary, indent=1))
    lines = [
        "# Video2EMG / Pose2EMG on synthetic data",
        "",
        "SYNTHETIC data from the flexaqa simulator: not FLEX.",
        "",
        "```",
        table(results),
        "```",
        "",
    ]
    for name, r in results.items():
        verdict = "beats" if r["beats_baseline"] else "does NOT beat (it has learned nothing useful)"
        lines.append(
            f"- {name}: {r['n_train']}/{r['n_val']}/{r['n_test']} train/val/test repetitions, "
            f"{r['frames_train']} training frames, best epoch {r['best_epoch']}/{r['config']['epochs']}, "
            f"fit {r['fit_s']} s; {verdict} the per-action mean-envelope baseline."
        )
    lines += ["", "Per muscle (model, test subjects):", ""]
    for name, r in results.items():
        lines.append(
            f"{name}: " + ", ".join(f"{m} r={s['pearson']:.2f}" for m, s in r["model"]["per_muscle"].items())
        )
    atomic_write_text(OUT / "video2emg.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"data {data_s:.0f} s; total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
