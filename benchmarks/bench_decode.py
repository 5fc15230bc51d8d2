"""Decoding throughput of the frames training needs, side by side in one run (issue #14, part 3).

Every path loads the same samples: 2 views x 103 frames (CoRe's sampling) at 224x224, uint8, timed interleaved
sample by sample so that all paths see the same machine load:

- ``a_jpeg_pil``: the official release layout (103 JPEGs per view) read with PIL one file after another, as
  flexaqa did before (``ReleaseDataset`` with ``jpeg_decoder="pil"``, ``read_threads=1``): the reference.
- ``b_jpeg_fast``: the same files with the default decoder (simplejpeg with DCT scaling when installed), read
  in threads.
- ``c_mp4_main``: whole-trial H.264 mp4s (native layout) decoded as on main before this change: a new file
  handle per view, views in turn, FFmpeg's own threads, ``frame.reformat`` per frame (kept below as
  :func:`main_get_frames`, the reference).
- ``d_mp4_fast``: the same files through :class:`~flexaqa.data.native.NativeDataset` as it is now: kept
  handles, views decoded concurrently, one swscale context per file, keyframe-index seeks.

``*_1thread`` rows run the new code with one thread (``b``: simplejpeg, one file at a time; ``d``: views in
turn, single-threaded decoder, handles kept) to separate what the code saves from what a second core adds.
Besides samples/s (wall clock) each path's CPU time per sample is reported: on a shared machine the wall-clock
numbers depend on the free cores, the CPU time does not. ``dataset_*`` rows time the same samples as
``FlexSampleDataset`` items (CoRe's clip layout; float32 adds the scaling the GPU could do).

The floor of the mp4 path is measured too: the H.264 decode-only rate of one file (PyAV, one thread, no
conversion), the frames a sample has to decode (from the keyframe before each view's first frame to its last)
and the conversions it needs.

    .venv/bin/python benchmarks/bench_decode.py            # ~2 minutes on 2 cores

``run(out_json, ...)`` does the same for a caller (``benchmarks/bench_scale.py``) and returns the results, with
their markdown under ``"markdown"``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_data import make_data

from flexaqa._io import atomic_write_text
from flexaqa.data.base import open_dataset, times_to_frames, uniform_times
from flexaqa.data.native import NativeDataset
from flexaqa.data.video import SEEK_AFTER_S

RESULTS = Path(__file__).resolve().parent / "results"
VIEWS = ("View-1", "View-2")
SIZE = (224, 224)
NUM_FRAMES = 103


def main_get_frames(path: Path, want: np.ndarray, *, size, fps: float) -> np.ndarray:
    """``EncodedVideo(path).get_frames(want, size=size, fps=fps)`` as on main before issue #14 (the reference):
    FFmpeg's threads, decoding from frame 0 unless the first frame is past ``SEEK_AFTER_S``, one
    ``frame.reformat`` (a new swscale context, since PyAV 17 with a thread per core) per wanted frame."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        start = want.min() / fps if want.min() > SEEK_AFTER_S * fps else 0.0
        if start > SEEK_AFTER_S:
            c.seek(int(start / s.time_base), stream=s, backward=True, any_frame=False)
        targets, last, got = set(want.tolist()), int(want.max()), {}
        for frame in c.decode(s):
            i = round(float(frame.pts * s.time_base) * fps)
            if i in targets:
                got[i] = frame.reformat(width=size[1], height=size[0], format="rgb24").to_ndarray()
            if i >= last:
                break
    return np.stack([got[int(i)] for i in want])


class MainNative(NativeDataset):
    """The native reader with main's video decoding (:func:`main_get_frames`, views in turn)."""

    def _read_views(self, jobs, size):
        return {name: main_get_frames(path, idx, size=size, fps=fps) for name, path, idx, fps in jobs}


def _wanted(native: NativeDataset, rec) -> dict[str, np.ndarray]:
    ann = native.annotation(rec)
    t0, t1 = ann.keyframes.start, ann.keyframes.end
    return {
        v: times_to_frames(uniform_times(t0, t1, NUM_FRAMES), native.views(rec.trial)[v].fps, t0, t1)
        for v in VIEWS
    }


def convert_costs(native: NativeDataset) -> dict:
    """Milliseconds per converted frame inside the decoding loop of one view of one sample (FFmpeg's threads,
    as on main): ``get_frames`` less decoding alone, with one swscale context per file (now) and with a new
    one per frame, which since PyAV 17 starts a thread per core each time (main)."""
    import av
    from av.video.reformatter import VideoReformatter

    rec = native.records[1]
    idx = _wanted(native, rec)[VIEWS[0]]
    path, rate = native.video_path(rec.trial, VIEWS[0]), native.views(rec.trial)[VIEWS[0]].fps
    targets, last = set(idx.tolist()), int(idx.max())
    scaler = VideoReformatter()
    ways = {
        "none": None,
        "one_scaler": lambda f: scaler.reformat(f, width=SIZE[1], height=SIZE[0], format="rgb24", threads=1),
        "as_on_main": lambda f: f.reformat(width=SIZE[1], height=SIZE[0], format="rgb24"),
    }
    ms = {}
    for name, convert in ways.items():
        best = []
        for _ in range(5):
            with av.open(str(path)) as c:
                s = c.streams.video[0]
                s.thread_type = "AUTO"
                t = time.perf_counter()
                c.seek(int(idx.min() / rate / s.time_base), stream=s, backward=True, any_frame=False)
                for frame in c.decode(s):
                    i = round(float(frame.pts * s.time_base) * rate)
                    if convert is not None and i in targets:
                        convert(frame).to_ndarray()
                    if i >= last:
                        break
                best.append(time.perf_counter() - t)
        ms[name] = 1000 * min(best)
    n = len(targets)
    return {
        "view_decode_only_ms": round(ms["none"], 1),
        "convert_ms_per_frame_one_scaler": round((ms["one_scaler"] - ms["none"]) / n, 3),
        "convert_ms_per_frame_as_on_main": round((ms["as_on_main"] - ms["none"]) / n, 3),
    }


def decode_floor(native: NativeDataset) -> dict:
    """What the mp4 path cannot avoid, in CPU time (one thread, so the machine's load matters less): the
    decode-only rate, the frames a sample decodes and converts, and what one conversion costs (one swscale
    context per file as now, or a new one per frame as on main)."""
    import av

    path = native.video_path(native.records[0].trial, VIEWS[0])
    rates = []
    for _ in range(3):
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            s.thread_type = "NONE"
            t = time.process_time()
            n = sum(1 for _ in c.decode(s))
            rates.append(n / (time.process_time() - t))
    conv = convert_costs(native)
    decoded, needed = [], []
    for rec in native.records:
        total = 0
        for v, idx in _wanted(native, rec).items():
            with av.open(str(native.video_path(rec.trial, v))) as c:
                s = c.streams.video[0]
                rate = native.views(rec.trial)[v].fps
                kf = s.index_entries.search_timestamp(int(idx.min() / rate / s.time_base), backward=True)
                first = round(float(s.index_entries[max(kf, 0)].timestamp * s.time_base) * rate)
            total += int(idx.max()) - first + 1
        decoded.append(total)
        needed.append(sum(len(set(i.tolist())) for i in _wanted(native, rec).values()))
    fps1 = float(max(rates))
    return {
        "h264_decode_only_fps_1thread": round(fps1, 1),
        "file": f"{path.parent.parent.name}/{path.parent.name}/{path.name}",
        "frames_decoded_per_sample_mean": round(float(np.mean(decoded)), 1),
        "frames_converted_per_sample": int(np.mean(needed)),
        "decode_only_ms_per_sample_1core": round(1000 * float(np.mean(decoded)) / fps1, 1),
        **conv,
    }


def throughput(runs: dict, records: dict, passes: int) -> dict[str, dict]:
    """Wall-clock samples/s and CPU ms per sample of each loader in ``runs``, interleaved sample by sample."""
    wall = dict.fromkeys(runs, 0.0)
    cpu = dict.fromkeys(runs, 0.0)
    count = dict.fromkeys(runs, 0)
    n = min(len(r) for r in records.values())
    for _ in range(passes):
        for i in range(n):
            for name, load in runs.items():
                c, t = time.process_time(), time.perf_counter()
                load(i)
                wall[name] += time.perf_counter() - t
                cpu[name] += time.process_time() - c
                count[name] += 1
    return {
        name: {
            "samples_per_s": round(count[name] / wall[name], 2),
            "cpu_ms_per_sample": round(1000 * cpu[name] / count[name], 1),
            "samples_timed": count[name],
        }
        for name in runs
    }


def check_same_frames(native, fast_native, release, fast_release) -> dict:
    """The new paths against the references on every sample: mp4 frames must be identical, JPEG frames close."""
    mp4_max, jpeg_mean, jpeg_max = 0, 0.0, 0
    for i in range(len(native.records)):
        a = native.load(
            native.records[i], modalities=("video",), views=VIEWS, num_frames=NUM_FRAMES, size=SIZE
        )
        b = fast_native.load(i, modalities=("video",), views=VIEWS, num_frames=NUM_FRAMES, size=SIZE)
        for v in VIEWS:
            mp4_max = max(mp4_max, int(np.abs(a.video[v].astype(int) - b.video[v]).max()))
    for i in range(len(release.records)):
        a = release.load(i, modalities=("video",), views=VIEWS, num_frames=NUM_FRAMES, size=SIZE)
        b = fast_release.load(i, modalities=("video",), views=VIEWS, num_frames=NUM_FRAMES, size=SIZE)
        for v in VIEWS:
            d = np.abs(a.video[v].astype(int) - b.video[v])
            jpeg_mean, jpeg_max = max(jpeg_mean, float(d.mean())), max(jpeg_max, int(d.max()))
    return {
        "mp4_max_abs_diff": mp4_max,
        "jpeg_worst_mean_abs_diff": round(jpeg_mean, 3),
        "jpeg_max_abs_diff": jpeg_max,
    }


def run(
    out_json: str | Path = RESULTS / "decode.json",
    *,
    width: int = 640,
    height: int = 360,
    rep_len: float = 1.95,
    reps: int = 2,
    passes: int = 2,
    data: str | Path | None = None,
    dataset_rows: bool = True,
    quick: bool = False,
) -> dict:
    """Build (or reuse, ``data``) the synthetic dataset, time the paths, write ``out_json`` and its ``.md``;
    return the results with their markdown (``"markdown"``). ``quick``: one repetition per trial, one pass."""
    if quick:
        reps, passes = 1, 1
    from flexaqa.data.release import ReleaseDataset, jpeg_decoder

    tmp = Path(data) if data else Path(tempfile.mkdtemp(prefix="flexaqa-decode-"))
    try:
        t0 = time.perf_counter()
        if not (tmp / "native" / "manifest.csv").is_file():
            make_data(
                tmp,
                subjects=("P01", "N01"),
                actions=("squat", "deadlift"),
                reps=reps,
                rep_len=rep_len,
                h=height,
                w=width,
            )
        t_make = time.perf_counter() - t0
        native = open_dataset(tmp / "native")
        main_native = MainNative(tmp / "native")
        native_1 = NativeDataset(tmp / "native")
        native_1.decode_threads = 1
        release = open_dataset(tmp / "release")
        assert isinstance(release, ReleaseDataset)
        pil = ReleaseDataset(tmp / "release")
        pil.jpeg_decoder, pil.read_threads = "pil", 1
        fast_1 = ReleaseDataset(tmp / "release")
        fast_1.read_threads = 1

        def loader(src):
            return lambda i: src.load(i, modalities=("video",), views=VIEWS, num_frames=NUM_FRAMES, size=SIZE)

        runs = {
            "a_jpeg_pil": loader(pil),
            "b_jpeg_fast": loader(release),
            "b_jpeg_fast_1thread": loader(fast_1),
            "c_mp4_main": loader(main_native),
            "d_mp4_fast": loader(native),
            "d_mp4_fast_1thread": loader(native_1),
        }
        if dataset_rows:
            from flexaqa.data.datasets import FlexSampleDataset

            common = dict(modalities=("video",), views=VIEWS, frames="core", size=SIZE)
            ds = {
                "dataset_a_jpeg_pil_uint8": FlexSampleDataset(pil, video_dtype="uint8", **common),
                "dataset_d_mp4_fast_uint8": FlexSampleDataset(native, video_dtype="uint8", **common),
                "dataset_d_mp4_fast_float32": FlexSampleDataset(native, **common),
            }
            runs.update({k: d.__getitem__ for k, d in ds.items()})
        same = check_same_frames(main_native, native, pil, release)  # also warms the page cache
        for load in runs.values():
            load(0)  # lazy imports
        load_before = [round(x, 2) for x in os.getloadavg()]
        results = throughput(runs, {"native": native.records, "release": release.records}, passes)
        ref = results["a_jpeg_pil"]
        for r in results.values():
            r["speedup_vs_a"] = round(r["samples_per_s"] / ref["samples_per_s"], 2)
            r["cpu_speedup_vs_a"] = round(ref["cpu_ms_per_sample"] / r["cpu_ms_per_sample"], 2)
        floor = decode_floor(native)
        floor["best_possible_cpu_speedup_vs_a"] = round(
            ref["cpu_ms_per_sample"] / floor["decode_only_ms_per_sample_1core"], 2
        )
        import av

        doc = {
            "benchmark": "flexaqa decoding (issue #14 part 3)",
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "pyav": av.__version__,
                "jpeg_decoder": jpeg_decoder("auto"),
            },
            "settings": {
                "source_resolution": f"{width}x{height}",
                "fps": 120,
                "rep_len_s": rep_len,
                "samples": len(native),
                "passes": passes,
                "views": list(VIEWS),
                "frames": NUM_FRAMES,
                "size": list(SIZE),
                "jpeg_quality": 90,
                "h264_crf": 23,
                "gop_frames": 120,
            },
            "results": results,
            "frames_check": same,
            "mp4_floor": floor,
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "data_generation_s": round(t_make, 2),
        }
        out = Path(out_json)
        atomic_write_text(out.with_suffix(".json"), json.dumps(doc, indent=1) + "\n")
        atomic_write_text(out.with_suffix(".md"), _markdown(doc))
        doc["markdown"] = _markdown(doc, "## Decoding (`bench_decode.run`)")  # for a caller's report
        return doc
    finally:
        if not data:
            shutil.rmtree(tmp, ignore_errors=True)


def _markdown(doc: dict, heading: str = "# flexaqa decoding benchmark (issue #14 part 3)") -> str:
    s, r, f = doc["settings"], doc["results"], doc["mp4_floor"]
    lines = [
        heading,
        "",
        f"{doc['machine']['cpus']} CPUs (shared), Python {doc['machine']['python']}, PyAV {doc['machine']['pyav']}, "
        f"JPEG decoder {doc['machine']['jpeg_decoder']}; {s['samples']} synthetic samples of {s['rep_len_s']} s at "
        f"{s['source_resolution']}, {s['fps']} fps; 2 views x {s['frames']} frames at 224x224 uint8; "
        f"{s['passes']} passes, interleaved sample by sample.",
        "",
        "| path | samples/s | x (a) | CPU ms/sample | x (a) CPU |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {k} | {v['samples_per_s']} | {v['speedup_vs_a']} | {v['cpu_ms_per_sample']} | "
            f"{v['cpu_speedup_vs_a']} |"
            for k, v in r.items()
        ),
        "",
        f"Frames: mp4 new vs main max abs difference {doc['frames_check']['mp4_max_abs_diff']} (identical when 0); "
        f"JPEG new vs PIL worst per-view mean abs difference {doc['frames_check']['jpeg_worst_mean_abs_diff']} "
        f"(max {doc['frames_check']['jpeg_max_abs_diff']}).",
        "",
        f"The mp4 floor: H.264 decode-only {f['h264_decode_only_fps_1thread']} frames/s on one thread "
        f"({f['file']}); a sample decodes {f['frames_decoded_per_sample_mean']} frames (keyframe to last frame, "
        f"both views) to convert {f['frames_converted_per_sample']}: {f['decode_only_ms_per_sample_1core']} ms of "
        f"decoding on one core, so at most {f['best_possible_cpu_speedup_vs_a']}x (a) in CPU time before any "
        f"conversion. One conversion to 224x224 RGB: {f['convert_ms_per_frame_one_scaler']} ms with one swscale "
        f"context per file, {f['convert_ms_per_frame_as_on_main']} ms with a new one per frame as on main.",
        "",
        f"Load average before/after: {doc['load_average_before']} / {doc['load_average_after']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--rep-len", type=float, default=1.95)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--data", help="write (or reuse) the synthetic data here and keep it")
    ap.add_argument("--out", default=str(RESULTS / "decode.json"))
    args = ap.parse_args()
    doc = run(
        args.out,
        width=args.width,
        height=args.height,
        rep_len=args.rep_len,
        reps=args.reps,
        passes=args.passes,
        data=args.data,
    )
    for k, v in doc["results"].items():
        print(
            f"{k:>28}: {v['samples_per_s']:7.2f} samples/s  x{v['speedup_vs_a']:<5}  {v['cpu_ms_per_sample']:7.1f} CPU ms"
        )
    print(json.dumps(doc["mp4_floor"]), json.dumps(doc["frames_check"]))
    print(f"wrote {Path(args.out).with_suffix('.json')} and .md")


if __name__ == "__main__":
    main()
