"""Diagnose the coach's pose rules on the simulator: per slot, the measured value of each rule on clean
repetitions, on repetitions that carry the slot's error, and on repetitions that carry *another* slot's error
(cross-talk), across many simulated subjects of every skill level.

    .venv/bin/python benchmarks/diag_coach_rules.py [--subjects 12] [--seeds 2] [--action squat]

Writes ``benchmarks/results/coach_rules_diag.json`` and ``.md``: for every rule the threshold, quantiles of the
clean and faulty values, the false-alarm rate on clean repetitions, the hit rate on faulty ones and the slots
whose injected error makes it fire (cross-talk). Uses the simulator's true repetitions (no segmentation).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from flexaqa._io import atomic_write_text
from flexaqa.kg import load_kg
from flexaqa.pose_rules.features import compute_features
from flexaqa.pose_rules.rules import evaluate_rule, load_rules
from flexaqa.pose_rules.sequence import PoseSequence, Rep
from flexaqa.synth.simulate import simulate_trial
from flexaqa.synth.subjects import make_subject, subject_ids

OUT = Path(__file__).with_name("results")


def _pose_reps(tr) -> tuple[PoseSequence, list[Rep]]:
    n = len(tr.joints)
    pose = PoseSequence(np.arange(n) / tr.fps, tr.joints, np.ones((n, 21)), np.ones(n, bool), source="synth")
    reps = [
        Rep(i, r.start, r.end, tuple(p for p in r.phases if p[0] != "preparation"))
        for i, r in enumerate(tr.reps)
    ]
    return pose, reps


def rule_values(act, rs, tr) -> list[dict[tuple[str, int], tuple[float, bool]]]:
    """Per repetition of ``tr``: (slot, rule index) -> (value, fired)."""
    pose, reps = _pose_reps(tr)
    feats = compute_features(pose.joints)
    out = []
    for rep in reps:
        d = {}
        for sid, rules in rs.rules.items():
            for k, r in enumerate(rules):
                res = evaluate_rule(r, pose, rep, feats)
                if res.assessed:
                    d[(sid, k)] = (float(res.value), bool(res.fired))
        out.append(d)
    return out


def diagnose(action, subjects, seeds: int, kg) -> dict:
    """Clean / faulty / cross-talk statistics of every rule of ``action``."""
    act = kg.action(action)
    rs = load_rules(act, kg=kg)
    clean = defaultdict(list)  # (slot, k) -> values on clean repetitions
    faulty = defaultdict(list)  # (slot, k) -> values on repetitions with slot's error
    fired_by = defaultdict(lambda: defaultdict(int))  # slot -> injected slot -> count of firing (any rule)
    slot_fired = defaultdict(lambda: [0, 0])  # slot -> [fired on clean, clean reps]
    slot_hit = defaultdict(lambda: [0, 0])  # slot -> [fired on faulty, faulty reps]
    for si, subj in enumerate(subjects):
        for seed in range(seeds):
            for x in list(rs.rules):
                tr = simulate_trial(
                    subj,
                    act,
                    reps=2,
                    seed=si + 100 * seed,
                    fps=30.0,
                    with_signals=False,
                    errors=[{}, {x: 1.0}],
                    kg=kg,
                )
                for ri, vals in enumerate(rule_values(act, rs, tr)):
                    for sid in rs.rules:
                        any_fired = any(vals.get((sid, k), (0, False))[1] for k in range(len(rs.rules[sid])))
                        if ri == 0 or sid != x:
                            if ri == 0:
                                slot_fired[sid][0] += any_fired
                                slot_fired[sid][1] += 1
                            elif any_fired:
                                fired_by[sid][x] += 1
                            if ri == 0:
                                for k in range(len(rs.rules[sid])):
                                    if (sid, k) in vals:
                                        clean[(sid, k)].append(vals[(sid, k)][0])
                        else:
                            slot_hit[sid][0] += any_fired
                            slot_hit[sid][1] += 1
                            for k in range(len(rs.rules[sid])):
                                if (sid, k) in vals:
                                    faulty[(sid, k)].append(vals[(sid, k)][0])
    q = lambda v: [round(float(x), 3) for x in np.percentile(v, [0, 5, 50, 95, 100])] if v else []  # noqa: E731
    rows = []
    for sid, rules in rs.rules.items():
        for k, r in enumerate(rules):
            rows.append(
                {
                    "slot": sid,
                    "rule": k,
                    "describe": r.describe(),
                    "clean_q": q(clean[(sid, k)]),
                    "faulty_q": q(faulty[(sid, k)]),
                    "false_alarm": round(slot_fired[sid][0] / max(slot_fired[sid][1], 1), 3),
                    "hit": round(slot_hit[sid][0] / max(slot_hit[sid][1], 1), 3),
                    "cross_talk": dict(sorted(fired_by[sid].items(), key=lambda kv: -kv[1])),
                }
            )
    return {"action": act.slug, "rules": rows, "skipped": rs.skipped}


def to_markdown(res: dict) -> str:
    lines = [
        "# Coach pose rules on the simulator: clean vs faulty values",
        "",
        f"{res['subjects']} subjects x {res['seeds']} seed(s); quantiles are min / 5% / median / 95% / max. "
        "false alarm: share of clean repetitions where the slot fires; hit: share of repetitions with the "
        "slot's error where it fires; cross-talk: injected slot -> repetitions where this slot fired.",
        "",
    ]
    for a in res["actions"]:
        lines += [
            f"## {a['action']}",
            "",
            "| slot | rule | clean | faulty | false alarm | hit | cross-talk |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in a["rules"]:
            ct = ", ".join(f"{k} {v}" for k, v in list(r["cross_talk"].items())[:4])
            lines.append(
                f"| {r['slot']}#{r['rule']} | {r['describe']} | {r['clean_q']} | {r['faulty_q']} | "
                f"{r['false_alarm']} | {r['hit']} | {ct} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--action", action="append", help="only these actions (repeatable)")
    ap.add_argument("--out", default="coach_rules_diag")
    args = ap.parse_args(argv)
    kg = load_kg()
    # subject draws differ from the benchmark's (rng seeded by position) so the diagnosis is not fit to it
    subjects = [
        make_subject(s, np.random.default_rng(1000 + i)) for i, s in enumerate(subject_ids(args.subjects))
    ]
    actions = args.action or [a.slug for a in kg.actions]
    res = {"subjects": args.subjects, "seeds": args.seeds, "actions": []}
    for a in tqdm(actions, desc="actions"):
        res["actions"].append(diagnose(a, subjects, args.seeds, kg))
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / f"{args.out}.json", json.dumps(res, indent=1))
    atomic_write_text(OUT / f"{args.out}.md", to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
