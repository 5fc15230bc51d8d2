"""The coach's full video path (MediaPipe) on rendered simulator video, for several cameras, sizes and rates.

    .venv/bin/python benchmarks/bench_coach_rendered.py [--quick]

Runs ``bench_coach.detection_rendered`` per configuration and writes ``benchmarks/results/coach_rendered.json``
and ``coach_rendered.md``, with the numbers from before the video-path work
(``benchmarks/results/coach_rendered_before.json``) beside them. The video calibration was fitted on subject N01,
seed 1 (``benchmarks/diag_coach_video.py``); ``held-out`` configurations use other subjects and seeds. The
``severity 1.5`` rows inject every error at 1.5x its nominal size: several severity-1 signatures lie within a
degree or two of their threshold (``benchmarks/results/coach_video_diag.md``), less than one camera resolves.
Earlier results named in ``BEFORE`` are shown as 'before' rows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench_coach import detection_rendered

from flexaqa._io import atomic_write_text

OUT = Path(__file__).with_name("results")
CONFIGS = {  # name: detection_rendered keywords
    "View-5 360x480 15fps, N01 seed 1 (the 'before' setting; calibration subject)": dict(
        view="View-5", subject="N01", seed=1
    ),
    "Phone-side 360x480 15fps, held-out A02 seed 2": dict(view="Phone-side", subject="A02", seed=2),
    "View-5 360x480 15fps, held-out A02 seed 2": dict(view="View-5", subject="A02", seed=2),
    "Phone-front 360x480 15fps, held-out A02 seed 2": dict(view="Phone-front", subject="A02", seed=2),
    "Phone-side 720x1280 30fps (phone), held-out A02 seed 2": dict(
        view="Phone-side", subject="A02", seed=2, size=(720, 1280), fps=30.0
    ),
    "Phone-side 360x480 15fps, held-out A02 seed 2, severity 1.5": dict(
        view="Phone-side", subject="A02", seed=2, severity=1.5
    ),
    "View-5 360x480 15fps, held-out A02 seed 2, severity 1.5": dict(
        view="View-5", subject="A02", seed=2, severity=1.5
    ),
}
QUICK = ("Phone-side 360x480 15fps, held-out A02 seed 2",)
# earlier results shown as 'before' rows: file in results/ -> what changed since
BEFORE = {
    "coach_rendered_before.json": "",
    "coach_rendered_world.json": "before the side view's planar pose: world landmarks from every view, "
    "previous side calibration",
}


def _line(name: str, d: dict) -> str:
    t = d["total"]
    return (
        f"| {name} | {d.get('views_detected', '-')} | {d['repetitions']['found']}/{d['repetitions']['true']} | "
        f"{d.get('assessed_share_mean', '-')} | {t['precision']} | {t['recall']} | {t['f1']} | "
        f"{t['tp']}/{t['fp']}/{t['fn']} |"
    )


def to_markdown(res: dict) -> str:
    lines = [
        "# Coach: full video path on rendered simulator video",
        "",
        "MediaPipe -> cleaning -> view detection -> segmentation -> rules (+ the `video:` calibration of "
        "`pose_rules/data/rules.yaml`), 4 actions x (1 clean + 4 faulty) sets of 3 repetitions. Assessed share: the "
        "mean share of the action's error weight the coach could assess from that view. Written by "
        "`benchmarks/bench_coach_rendered.py`.",
        "",
        "| configuration | views detected | reps found | assessed share | precision | recall | F1 | tp/fp/fn |",
        "|---|---|---|---|---|---|---|---|",
    ]
    if "before" in res:
        lines.append(_line("before (" + res["before"].get("note", "") + ")", res["before"]))
    for note, old in res.get("before_runs", {}).items():
        for name, d in old.items():
            lines.append(_line(f"before: {name} ({note})", d))
    for name, d in res["configs"].items():
        lines.append(_line(name, d))
    lines += ["", "Per error type (tp/fp/fn) per configuration", ""]
    names = list(res["configs"])
    ets = sorted({et for d in res["configs"].values() for et in d["per_error"]})
    lines += ["| error | " + " | ".join(f"C{i + 1}" for i in range(len(names))) + " |"]
    lines += ["|---|" + "---|" * len(names)]
    for et in ets:
        cells = []
        for n in names:
            r = res["configs"][n]["per_error"].get(et)
            cells.append(f"{r['tp']}/{r['fp']}/{r['fn']}" if r else "-")
        lines.append(f"| {et} | " + " | ".join(cells) + " |")
    lines += ["", *(f"C{i + 1}: {n}" for i, n in enumerate(names)), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only the side view of one held-out subject")
    ap.add_argument("--only", default=None, help="run only the configurations whose name holds this text")
    args = ap.parse_args()
    res: dict = {"configs": {}}
    path = OUT / "coach_rendered.json"
    if args.only and path.is_file():  # keep the other configurations' results
        res["configs"] = json.loads(path.read_text())["configs"]
    before = OUT / "coach_rendered_before.json"
    if before.is_file():
        res["before"] = json.loads(before.read_text())
    res["before_runs"] = {}
    for name, note in BEFORE.items():
        if note and (OUT / name).is_file():
            res["before_runs"][note] = {
                k: v for k, v in json.loads((OUT / name).read_text())["configs"].items() if "held-out" in k
            }
    t0 = time.perf_counter()
    for name, kw in CONFIGS.items():
        if (args.quick and name not in QUICK) or (args.only and args.only not in name):
            continue
        t1 = time.perf_counter()
        res["configs"][name] = detection_rendered(**kw)
        res["configs"][name]["seconds"] = round(time.perf_counter() - t1, 1)
        print(_line(name, res["configs"][name]), flush=True)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        OUT.mkdir(
            parents=True, exist_ok=True
        )  # written after every configuration: a long run keeps what it did
        atomic_write_text(OUT / "coach_rendered.json", json.dumps(res, indent=2))
        atomic_write_text(OUT / "coach_rendered.md", to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
