"""sEMG envelope + burst detection throughput against neurokit2's ``emg_process`` on the same data, streaming
per-chunk latency, and repetition segmentation against the simulator's ground truth.

Data: 16 channels x 2000 Hz x 60 s with 20 bursts per channel at known onsets, plus drift, mains hum and spikes
(``flexaqa.signal.make_emg``). neurokit2 runs channel by channel, as its API takes one channel at a time.
Writes benchmarks/results/emg.json and emg.md. Needs neurokit2 (``pip install neurokit2``) for the comparison.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_write_text
from flexaqa.signal import (
    StreamingBurstDetector,
    StreamingEnvelope,
    find_bursts,
    make_emg,
    segment_emg,
    segment_pose,
    segmentation_report,
)

OUT = Path(__file__).resolve().parent / "results"
FS, CHANNELS, SECONDS, BURSTS = 2000.0, 16, 60.0, 20


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def onset_scores(found: list[np.ndarray], truth: np.ndarray, fs: float, tol: float = 0.1) -> dict:
    """Share of true onsets found within ``tol`` s, false onsets, and the median absolute onset error (ms)."""
    hits, false, errs = 0, 0, []
    for on in found:
        d = np.abs(on[:, None] - truth[None, :]) / fs if len(on) else np.zeros((0, len(truth)))
        near = d.min(axis=0) <= tol if len(on) else np.zeros(len(truth), bool)
        hits += int(near.sum())
        errs += list(d.min(axis=0)[near] * 1e3) if len(on) else []
        false += int((d.min(axis=1) > tol).sum()) if len(on) else 0
    n = len(truth) * len(found)
    return {
        "recall": hits / n,
        "false_onsets": false,
        "median_onset_error_ms": float(np.median(errs)) if errs else None,
    }


def bench_offline(rec) -> dict:
    ours_s, (bursts, _) = timed(lambda: find_bursts(rec.emg, FS))
    ours = [bursts.of(k).onset for k in range(CHANNELS)]
    result = {
        "flexaqa_s": round(ours_s, 4),
        "flexaqa_msamples_per_s": round(rec.emg.size / ours_s / 1e6, 2),
        "flexaqa_onsets": onset_scores(ours, rec.onsets, FS),
    }
    try:
        import neurokit2 as nk
    except ImportError:
        result["neurokit2"] = "not installed"
        return result

    def run_nk():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [nk.emg_process(rec.emg[:, k], sampling_rate=int(FS))[0] for k in range(CHANNELS)]

    nk_s, frames = timed(run_nk, repeat=2)
    nk_on = [np.flatnonzero(np.asarray(f["EMG_Onsets"]) == 1) for f in frames]
    result.update(
        neurokit2_version=nk.__version__,
        neurokit2_s=round(nk_s, 4),
        neurokit2_onsets=onset_scores(nk_on, rec.onsets, FS),
        speedup_vs_neurokit2=round(nk_s / ours_s, 1),
    )
    return result


def bench_stream(rec, chunk_ms: float = 20.0) -> dict:
    n = round(chunk_ms / 1e3 * FS)
    env = StreamingEnvelope(FS, CHANNELS)
    det = StreamingBurstDetector(FS, CHANNELS, calibration=0.8)
    lat, events = [], []
    for i in range(0, len(rec.emg), n):
        t0 = time.perf_counter()
        events += det.process(env.process(rec.emg[i : i + n]))
        lat.append(time.perf_counter() - t0)
    lat_ms = np.array(lat) * 1e3
    found = [np.array([e.onset for e in events if e.channel == k]) for k in range(CHANNELS)]
    return {
        "chunk_ms": chunk_ms,
        "chunk_samples": n,
        "latency_ms_median": round(float(np.median(lat_ms)), 3),
        "latency_ms_p95": round(float(np.percentile(lat_ms, 95)), 3),
        "latency_ms_max": round(float(lat_ms.max()), 3),
        "real_time_factor": round(float(chunk_ms / np.median(lat_ms)), 1),
        "onsets": onset_scores(found, rec.onsets, FS),
    }


def _summary(truth, pred) -> dict:
    rep = segmentation_report(truth, pred)
    return {
        "count_accuracy": round(rep.count_accuracy, 3),
        "count_mae": round(rep.count_mae, 3),
        "boundary_mae_frames": round(rep.boundary_mae, 2),
        "boundary_median_frames": round(rep.boundary_median, 2),
        "per_keyframe_mae_frames": [round(v, 2) for v in rep.per_keyframe_mae],
        "recall": round(rep.recall, 3),
        "precision": round(rep.precision, 3),
    }


def bench_segmentation(n_subjects: int = 3) -> dict:
    """Repetition/phase keyframes from the simulated pose and, separately, from the simulated sEMG, against
    the simulator's truth, for all 20 actions."""
    try:
        from flexaqa.kg import load_kg
        from flexaqa.synth.simulate import simulate_trial
        from flexaqa.synth.subjects import make_roster, subject_ids
    except ImportError as exc:  # the simulator is optional here
        return {"skipped": f"simulator unavailable: {exc}"}
    kg = load_kg()
    subjects = make_roster(subject_ids(n_subjects), seed=0)
    per_action, truth_all, pose_all, emg_all = {}, [], [], []
    for a in kg.actions:
        truth, pose, emg = [], [], []
        for s in subjects:
            sim = simulate_trial(s, a, seed=1, kg=kg)
            keys = np.array([[p[1] for p in r.phases[1:]] + [r.phases[-1][2]] for r in sim.reps]) * sim.fps
            truth.append(np.round(keys).astype(np.int64))
            pose.append(segment_pose(sim.joints, sim.fps, a).keyframes)
            emg.append(segment_emg(sim.emg, sim.emg_rate, action=a, fps=sim.fps).keyframes)
        per_action[a.slug] = {"pose": _summary(truth, pose), "emg": _summary(truth, emg)}
        truth_all += truth
        pose_all += pose
        emg_all += emg
    return {
        "trials": len(truth_all),
        "fps": 120.0,
        "pose": _summary(truth_all, pose_all),
        "emg": _summary(truth_all, emg_all),
        "per_action": per_action,
    }


def to_markdown(r: dict) -> str:
    o, s, g = r["offline"], r["streaming"], r["segmentation"]
    lines = [
        "# sEMG benchmark",
        "",
        f"Machine: {r['machine']}. Data: {r['data']}.",
        "",
        "| | time (s) | onset recall | false onsets | median onset error (ms) |",
        "|---|---:|---:|---:|---:|",
        f"| flexaqa `find_bursts` (all channels at once) | {o['flexaqa_s']} | {o['flexaqa_onsets']['recall']:.3f} | "
        f"{o['flexaqa_onsets']['false_onsets']} | {o['flexaqa_onsets']['median_onset_error_ms']} |",
    ]
    if "neurokit2_s" in o:
        n = o["neurokit2_onsets"]
        lines.append(
            f"| neurokit2 {o['neurokit2_version']} `emg_process` (channel by channel) | {o['neurokit2_s']} | "
            f"{n['recall']:.3f} | {n['false_onsets']} | {n['median_onset_error_ms']} |"
        )
        lines += ["", f"**Speed-up over neurokit2: {o['speedup_vs_neurokit2']}x.**"]
    lines += [
        "",
        f"Streaming (`StreamingEnvelope` + `StreamingBurstDetector`, {s['chunk_ms']} ms chunks of 16 channels): "
        f"median {s['latency_ms_median']} ms, p95 {s['latency_ms_p95']} ms, max {s['latency_ms_max']} ms per chunk "
        f"({s['real_time_factor']}x faster than real time); onset recall {s['onsets']['recall']:.3f}, "
        f"false onsets {s['onsets']['false_onsets']}, median onset error {s['onsets']['median_onset_error_ms']} ms.",
        "",
    ]
    if "trials" in g:
        lines += [
            f"Segmentation vs simulator truth ({g['trials']} trials: 20 actions x 3 subjects, 120 fps):",
            "",
            "| from | rep-count accuracy | boundary MAE (frames) | start / turnaround / end MAE | recall | precision |",
            "|---|---:|---:|---|---:|---:|",
        ]
        for src in ("pose", "emg"):
            m = g[src]
            lines.append(
                f"| {src} | {m['count_accuracy']} | {m['boundary_mae_frames']} | "
                f"{' / '.join(str(v) for v in m['per_keyframe_mae_frames'])} | {m['recall']} | {m['precision']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    rec = make_emg(
        fs=FS,
        duration=SECONDS,
        n_channels=CHANNELS,
        n_bursts=BURSTS,
        period=2.9,
        burst_duration=1.2,
        drift=1.0,
        hum=0.3,
        spikes=10,
        noise=0.05,
        seed=0,
    )
    result = {
        "machine": f"{platform.machine()} python {platform.python_version()} numpy {np.__version__}",
        "data": f"{CHANNELS} ch x {FS:g} Hz x {SECONDS:g} s, {BURSTS} bursts/channel, drift + 50 Hz hum + spikes",
        "offline": bench_offline(rec),
        "streaming": bench_stream(rec),
        "segmentation": bench_segmentation(),
    }
    atomic_write_text(OUT / "emg.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(OUT / "emg.md", to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()
