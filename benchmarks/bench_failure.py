"""Early failure prediction on SYNTHETIC data: the failure predictor vs "the last repetition persists", as a
function of the number k of observed repetitions, for three failure rules.

Data: the flexaqa simulator (no person was recorded; not FLEX), every action x ``--subjects`` subjects x 10
repetitions, split by subject (75 % train, 25 % test); plus the hand-made fatigue trials of
:mod:`flexaqa.failure.synthetic`, whose early markers are informative by construction. Writes
benchmarks/results/failure.json, failure.md and failure_by_k.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from flexaqa._io import atomic_write_text
from flexaqa.failure import (
    FEATURE_NAMES,
    FailurePredictor,
    FailureRule,
    evaluate_failure,
    plot_by_k,
    trial_reps_from_sim,
)
from flexaqa.failure.synthetic import make_fatigue_trials

OUT = Path(__file__).resolve().parent / "results"
RULES = {
    "drop15_or_weight9": FailureRule(drop=15, error_weight=9),
    "drop15": FailureRule(drop=15, error_weight=None),
    "weight10": FailureRule(drop=None, error_weight=10),
}


def simulated_trials(n_subjects: int) -> tuple[list, list]:
    from tqdm import tqdm

    from flexaqa.kg import load_kg
    from flexaqa.synth import make_roster, simulate_trial
    from flexaqa.synth.subjects import subject_ids

    ids = subject_ids(n_subjects)
    roster = make_roster(ids, seed=0)
    test_ids = set(ids[::4])
    train, test = [], []
    for subj in tqdm(roster, desc="simulate", unit="subject"):
        for act in load_kg().actions:
            tr = trial_reps_from_sim(simulate_trial(subj, act.slug, reps=10, seed=0))
            (test if subj.id in test_ids else train).append(tr)
    return train, test


def summary_row(name: str, rep: dict) -> str:
    o = rep["overall"]
    m, b = o["model"], o["last_persists"]
    return (
        f"| {name} | {o['n']} | {o['positive_rate']:.2f} | {m['mae']:.2f} / {b['mae']:.2f} | "
        f"{m['auroc']:.3f} / {b['auroc']:.3f} | {m['f1']:.3f} / {b['f1']:.3f} |"
    )


def by_k_table(rep: dict) -> list[str]:
    lines = [
        "| k | rows | fail rate | MAE model / last | AUROC model / last | F1 model / last |",
        "|---|---|---|---|---|---|",
    ]
    for k, b in rep["by_k"].items():
        m, base = b["model"], b["last_persists"]
        lines.append(
            f"| {k} | {b['n']} | {b['positive_rate']:.2f} | {m['mae']:.2f} / {base['mae']:.2f} | "
            f"{m['auroc']:.3f} / {base['auroc']:.3f} | {m['f1']:.3f} / {base['f1']:.3f} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=38)
    args = ap.parse_args()
    t0 = time.perf_counter()
    train, test = simulated_trials(args.subjects)
    sim_s = time.perf_counter() - t0
    results = {}
    for name, rule in RULES.items():
        model = FailurePredictor(rule=rule).fit(train)
        results[f"simulator/{name}"] = evaluate_failure(model, test)
    emg = tuple(n for n in FEATURE_NAMES if n.startswith(("mdf", "amp")))
    tempo = tuple(n for n in FEATURE_NAMES if n.startswith(("tempo", "concentric")))
    for name, drop in (("no_semg", emg), ("no_semg_no_tempo", emg + tempo)):
        model = FailurePredictor(rule=RULES["drop15"], exclude=drop).fit(train)
        results[f"simulator/drop15/{name}"] = evaluate_failure(model, test)
    fat_train, fat_test = make_fatigue_trials(400, seed=0), make_fatigue_trials(200, seed=1)
    rule = RULES["drop15"]
    results["fatigue_trials/drop15"] = evaluate_failure(FailurePredictor(rule=rule).fit(fat_train), fat_test)
    model = FailurePredictor(rule=rule, exclude=emg + tempo).fit(fat_train)
    results["fatigue_trials/drop15/no_semg_no_tempo"] = evaluate_failure(model, fat_test)
    OUT.mkdir(parents=True, exist_ok=True)
    plot_by_k(results["simulator/drop15"], OUT / "failure_by_k.png")
    atomic_write_text(
        OUT / "failure.json",
        json.dumps(
            {
                "synthetic": True,
                "subjects": args.subjects,
                "train_trials": len(train),
                "test_trials": len(test),
                "simulate_s": round(sim_s, 1),
                "results": results,
            },
            indent=1,
            default=float,
        ),
    )
    lines = [
        "# Early failure prediction on synthetic data",
        "",
        "SYNTHETIC data (flexaqa simulator and hand-made fatigue trials): not FLEX. Each cell: model / "
        "'last repetition persists'. Rows pool every k = 1..9. `no_semg`: without the sEMG fatigue markers; "
        "`no_semg_no_tempo`: also without the tempo features (ablations).",
        "",
        f"Simulator: {len(train)} train and {len(test)} test trials (subjects disjoint), all 20 actions.",
        "",
        "| data / rule | rows | fail rate | MAE of future scores | AUROC | F1 |",
        "|---|---|---|---|---|---|",
        *(summary_row(n, r) for n, r in results.items()),
        "",
    ]
    for name in ("simulator/drop15", "fatigue_trials/drop15"):
        lines += [f"## {name} by k", "", *by_k_table(results[name]), ""]
    atomic_write_text(OUT / "failure.md", "\n".join(lines))
    print("\n".join(lines))
    print(f"simulate {sim_s:.0f} s, total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main() or 0)
