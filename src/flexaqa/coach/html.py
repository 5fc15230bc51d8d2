"""A self-contained HTML report: score chart, key frames with the skeleton, joint-angle plots, feedback.

Images are matplotlib figures (Agg) embedded as base64 PNG, so the file can be mailed or opened offline.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from flexaqa.data.video import EncodedVideo
from flexaqa.pose_rules.features import FEATURES, compute_features
from flexaqa.pose_rules.sequence import PoseSequence
from flexaqa.skeleton import FLEX21_BONES, J

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1000px;margin:2em auto;color:#222;padding:0 1em}
h1{margin-bottom:.2em} .sub{color:#666} .big{font-size:2.4em;font-weight:700}
.card{border:1px solid #ddd;border-radius:8px;padding:1em;margin:1em 0}
.bad{color:#b3261e} .good{color:#1e7a34} .warn{background:#fff4e5;border-color:#f0c36d}
table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #eee;padding:.3em .5em;text-align:left;vertical-align:top}
img{max-width:100%} .frames{display:flex;flex-wrap:wrap;gap:1em} .frames figure{margin:0;width:300px}
figcaption{font-size:.85em;color:#444}
"""


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def score_chart(report: dict) -> str:
    plt = _plt()
    reps = report["repetitions"]
    fig, ax = plt.subplots(figsize=(7, 2.6))
    x = np.arange(1, len(reps) + 1)
    best = [r["score_range"][1] for r in reps]
    worst = [r["score_range"][0] for r in reps]
    ax.bar(x, best, color=["#1e7a34" if s >= 90 else "#e0a100" if s >= 75 else "#b3261e" for s in best])
    ax.scatter(x, worst, marker="_", s=300, color="#555", label="if every unassessed error were present")
    ax.set_ylim(0, 100)
    ax.set_xticks(x)
    ax.set_xlabel("repetition")
    ax.set_ylabel("FKG score")
    ax.legend(loc="lower right", fontsize=7)
    return _png(fig)


def _draw_skeleton(
    ax, xy: np.ndarray, bad: set[int], image: np.ndarray | None, size, vis: np.ndarray | None = None
):
    """Bones and joints over ``image`` (or blank); ``xy`` normalised image coordinates ``(21, 2)``; joints
    with visibility under 0.5 are left out."""
    w, h = size
    if image is not None:
        ax.imshow(image)
        h, w = image.shape[:2]
    else:
        ax.set_facecolor("#f4f4f4")
    p = xy * np.array([w, h])
    shown = np.ones(len(p), bool) if vis is None else np.asarray(vis) >= 0.5
    for a, b in FLEX21_BONES:
        if not (shown[a] and shown[b]):
            continue
        col = "#b3261e" if (a in bad or b in bad) else "#33c3ff"
        ax.plot(p[[a, b], 0], p[[a, b], 1], color=col, lw=2.5 if col == "#b3261e" else 1.6)
    for k in np.flatnonzero(shown):
        hit = k in bad
        ax.scatter(
            p[k, 0],
            p[k, 1],
            s=40 if hit else 10,
            color="#b3261e" if hit else "white",
            edgecolors="k",
            linewidths=0.5,
            zorder=3,
        )
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])


def _projected(pose: PoseSequence, i: int) -> np.ndarray:
    """Normalised image coordinates of frame ``i``; for a 3D-only pose, a front projection (x, -z)."""
    if pose.image is not None and np.isfinite(pose.image[i]).all():
        return pose.image[i]
    j = pose.joints[i]
    xz = np.stack([j[:, 0], -j[:, 2]], -1)
    lo, hi = np.nanmin(xz, 0), np.nanmax(xz, 0)
    span = max(float(np.max(hi - lo)), 1e-6) * 1.2
    return (xz - (lo + hi) / 2) / span + 0.5


def key_frames(report: dict, pose: PoseSequence, *, video=None, limit: int = 6) -> list[tuple[str, str]]:
    """``[(png data URI, caption)]``: the worst moment of the most important errors, faulty joints in red."""
    plt = _plt()
    items = []
    for r in report["repetitions"]:
        for e in r["errors"]:
            ev = next((x for x in e["evidence"] if x.get("fired")), None)
            if ev and ev.get("key_frame") is not None:
                items.append((e["weight"] * e["confidence"], r["index"], e, ev))
    items.sort(key=lambda x: -x[0])
    seen, chosen = set(), []
    for it in items:
        if it[2]["slot"] in seen:
            continue
        seen.add(it[2]["slot"])
        chosen.append(it)
        if len(chosen) >= limit:
            break
    images = {}
    if video is not None and chosen and pose.image is not None:
        try:
            with EncodedVideo(video) as v:
                rate = v.info.fps  # analysed frame k is the file's frame at time t[k] (any stride)
                keys = sorted({c[3]["key_frame"] for c in chosen})
                in_file = [round(float(pose.t[k]) * rate) for k in keys]
                images = dict(zip(keys, v.get_frames(in_file, size=360), strict=True))
        except Exception:
            images = {}
    out = []
    for _, ri, e, ev in chosen:
        k = ev["key_frame"]
        feat = FEATURES.get(ev["feature"])
        bad = {J[j] for j in feat.joints} if feat else set()
        fig, ax = plt.subplots(figsize=(3.2, 3.2))
        vis = pose.visibility[k] if pose.image is not None else None
        _draw_skeleton(ax, _projected(pose, k), bad, images.get(k), pose.image_size or (400, 400), vis)
        thr = "–".join(f"{v:g}" for v in ev["threshold"])
        cap = (
            f"Rep {ri + 1}, {ev['key_time']:.2f} s: {e['text']} ({ev['feature']} {ev['stat']} = "
            f"{ev['value']:.3g} {ev['unit']}, {ev['test']} {thr}; confidence {e['confidence']:.2f})"
        )
        out.append((_png(fig), cap))
    return out


def angle_plots(report: dict, pose: PoseSequence) -> str | None:
    """Features used by the fired rules over time, with their thresholds and the repetitions shaded."""
    plt = _plt()
    fired: dict[str, list] = {}
    for r in report["repetitions"]:
        for e in r["errors"]:
            for ev in e["evidence"]:
                if (
                    ev.get("fired")
                    and ev["feature"] in FEATURES
                    and ev["stat"] in ("min", "max", "mean", "extreme")
                ):
                    fired.setdefault(ev["feature"], []).append(ev)
    names = list(fired)[:4] or ["knee_angle", "elbow_angle", "torso_pitch"]
    feats = compute_features(pose.joints, names)
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 1.9 * len(names)), sharex=True, squeeze=False)
    for ax, n in zip(axes[:, 0], names, strict=False):
        ax.plot(pose.t, feats[n], color="#1f4e79", lw=1.2)
        for rep in report["repetitions"]:
            ax.axvspan(rep["start"], rep["end"], color="#dde8f3", alpha=0.5, lw=0)
        for thr in {tuple(ev["threshold"]) for ev in fired.get(n, [])}:
            for v in thr:
                ax.axhline(v, color="#b3261e", ls="--", lw=1)
        ax.set_ylabel(f"{n}\n({FEATURES[n].unit})", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    return _png(fig)


def render_html(report: dict, pose: PoseSequence | None = None, *, video=None) -> str:
    """The report as one HTML page: the header and notices, then (when repetitions were found) the set's
    score, what to fix, what went well, key moments and measures (with ``pose``), the repetition table, and what
    could not be checked."""
    parts = _header_html(report)
    reps = report.get("repetitions") or []
    if reps:
        parts += _score_html(report)
        parts += _feedback_html(report["feedback"])
        if pose is not None:
            parts += _pose_html(report, pose, video)
        parts += _repetitions_html(reps)
    cov = report.get("coverage")
    if cov:
        parts += _not_checked_html(cov)
    parts.append(
        f"<p class='sub'>flexaqa {html.escape(report.get('flexaqa_version', ''))} · FLEX Fitness Knowledge Graph penalty score</p></body></html>"
    )
    return "\n".join(parts)


def _header_html(report: dict) -> list[str]:
    e = html.escape
    act = report.get("action", {})
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>flexaqa coach: {e(act.get('name', ''))}</title><style>{_CSS}</style></head><body>"
    ]
    parts.append(
        f"<h1>{e(act.get('name', 'flexaqa coach'))}</h1><div class='sub'>{e(report['input'].get('source', ''))}</div>"
    )
    for p in report.get("problems", []):
        parts.append(f"<div class='card warn'><b>Could not finish:</b> {e(p['message'])}</div>")
    for w in report.get("warnings", []):
        parts.append(f"<div class='card warn'>{e(w)}</div>")
    if report.get("not_done"):
        parts.append(
            "<div class='card'><b>Done:</b> "
            + e(", ".join(report.get("done", [])))
            + "<br><b>Not done:</b> "
            + e(", ".join(report["not_done"]))
            + "</div>"
        )
    return parts


def _score_html(report: dict) -> list[str]:
    e = html.escape
    s, cov = report["set"], report["coverage"]
    parts = [
        f"<div class='card'><div class='big'>{s['score_mean']:.0f}<span class='sub'>/100</span></div>"
        f"mean FKG score over {s['n_reps']} repetition(s) (range {s['score_min']:.0f}–{s['score_max']:.0f}). "
        f"<b>{100 * cov['share']:.0f}%</b> of the action's error weight could be checked from this video; "
        f"unchecked errors are not counted, so the score is an upper bound "
        f"(it would be {s['score_range_mean'][0]:.0f} if every unchecked error were present).</div>"
    ]
    m = report.get("model")
    if m:
        parts.append(
            f"<div class='card'><b>Trained model:</b> {e(m['model'])} ({e(m['variant'])}) from {e(m['run'])}. "
            f"Its error probability is shown beside the rules' decisions; {len(m['decided_slots'])} error(s) the "
            "rules cannot check were decided by the model alone (marked “model only”).</div>"
        )
    parts.append(f"<h2>Score per repetition</h2><img src='{score_chart(report)}'>")
    return parts


def _feedback_html(fb: dict) -> list[str]:
    e = html.escape
    parts = ["<h2>What to fix first</h2>"]
    if fb["fix"]:
        parts.append("<table><tr><th>cue</th><th>error</th><th>reps</th><th>weight</th></tr>")
        for f in fb["fix"]:
            parts.append(
                f"<tr><td class='bad'><b>{e(f['cue'])}</b></td><td>{e(f['text'])} <span class='sub'>({f['slot']})</span></td><td>{', '.join(str(i + 1) for i in f['reps'])}</td><td>{f['weight']}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p class='good'>No error found among the errors that could be checked.</p>")
    if fb["went_well"]:
        parts.append(
            "<h2>What went well</h2><ul>"
            + "".join(f"<li class='good'>{e(g['text'])}</li>" for g in fb["went_well"][:8])
            + "</ul>"
        )
    return parts


def _pose_html(report: dict, pose: PoseSequence, video) -> list[str]:
    parts = []
    frames = key_frames(report, pose, video=video)
    if frames:
        parts.append("<h2>Key moments</h2><div class='frames'>")
        parts.extend(
            f"<figure><img src='{src}'><figcaption>{html.escape(cap)}</figcaption></figure>"
            for src, cap in frames
        )
        parts.append("</div>")
    plot = angle_plots(report, pose)
    if plot:
        parts.append(
            f"<h2>Measures over time</h2><p class='sub'>Repetitions shaded; dashed lines are thresholds.</p><img src='{plot}'>"
        )
    return parts


def _repetitions_html(reps: list[dict]) -> list[str]:
    parts = ["<h2>Repetitions</h2><table><tr><th>#</th><th>time (s)</th><th>score</th><th>errors</th></tr>"]
    for r in reps:
        errs = (
            "; ".join(
                f"{x['text']} ({x['confidence']:.2f}{', model only' if x.get('source') == 'model' else ''})"
                for x in r["errors"]
            )
            or "none found"
        )
        parts.append(
            f"<tr><td>{r['index'] + 1}</td><td>{r['start']:.2f}–{r['end']:.2f}</td><td>{r['score']:.1f}</td><td>{html.escape(errs)}</td></tr>"
        )
    parts.append("</table>")
    return parts


def _not_checked_html(cov: dict) -> list[str]:
    e = html.escape
    parts = ["<h2>Not checked from this video</h2><table><tr><th>error</th><th>weight</th><th>why</th></tr>"]
    for n in cov["not_assessed"]:
        parts.append(
            f"<tr><td>{e(n.get('text', ''))} <span class='sub'>({n['slot']})</span></td><td>{n['weight']}</td><td>{e(n['reason'])}</td></tr>"
        )
    parts.append("</table>")
    return parts
