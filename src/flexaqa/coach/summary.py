"""The coach's report as a few lines for the terminal (``flexaqa coach`` and the live camera coach)."""

from __future__ import annotations


def format_summary(r: dict) -> str:
    """A few lines for the terminal."""
    s, cov = r["set"], r["coverage"]
    lines = [
        f"{r['action']['name']}: {s['n_reps']} repetition(s), mean score {s['score_mean']:.1f} "
        f"(range {s['score_min']:.1f}-{s['score_max']:.1f}); {100 * cov['share']:.0f}% of the error weight assessed "
        f"(view: {r['input'].get('view')})"
    ]
    for w in r["warnings"]:
        lines.append(f"warning: {w}")
    for rep in r["repetitions"]:
        errs = ", ".join(e["slot"] for e in rep["errors"]) or "no error found"
        lines.append(
            f"  rep {rep['index'] + 1} [{rep['start']:.2f}-{rep['end']:.2f} s] score {rep['score']:.1f}: {errs}"
        )
    if r["feedback"]["fix"]:
        lines.append("fix first:")
        lines.extend(
            f"  - {f['cue']} ({f['slot']}, {len(f['reps'])}/{s['n_reps']} reps)"
            for f in r["feedback"]["fix"][:5]
        )
    if r["feedback"]["went_well"]:
        lines.append("went well:")
        lines.extend(f"  + {g['text']}" for g in r["feedback"]["went_well"][:3])
    return "\n".join(lines)
