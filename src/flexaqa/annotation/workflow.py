"""The workflow's decisions as pure functions: who labels what, the stage-1 majority, the stage-2 verdict.

The store calls these inside its transactions; a web app or a test can call them on plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flexaqa.annotation.records import AnnotationError, Decision, LabelRow


def assign_balanced(
    samples: Sequence[str],
    labellers: Sequence[str],
    reviewers: Sequence[str],
    *,
    n_labellers: int = 3,
    n_reviewers: int = 3,
    existing: Mapping[tuple[str, int], Sequence[str]] | None = None,
) -> dict[tuple[str, int], tuple[str, ...]]:
    """New assignments ``(sample, stage) -> annotators`` for the samples that have none yet.

    Each sample gets ``n_labellers`` stage-1 annotators and ``n_reviewers`` stage-2 reviewers, always the least
    loaded ones (counting ``existing`` assignments), so loads differ by at most one within each stage when
    the two pools are disjoint, as in the paper (by two at stage 2 when they overlap). A reviewer never
    reviews a sample they label. Raises :class:`AnnotationError` when a pool is too small.
    """
    existing = dict(existing or {})
    for pool, n, what in ((labellers, n_labellers, "labellers"), (reviewers, n_reviewers, "reviewers")):
        if len(set(pool)) != len(pool):
            raise AnnotationError(
                f"{what} are listed twice: {sorted(p for p in pool if list(pool).count(p) > 1)}"
            )
        if len(pool) < n:
            raise AnnotationError(f"{n} {what} per sample are needed, only {len(pool)} given: {list(pool)}")
    load: dict[tuple[str, int], int] = {}
    for (_, stage), people in existing.items():
        for p in people:
            load[(p, stage)] = load.get((p, stage), 0) + 1
    out: dict[tuple[str, int], tuple[str, ...]] = {}
    order = {p: i for i, p in enumerate([*labellers, *reviewers])}
    for sample in samples:
        for stage, pool, n in ((1, labellers, n_labellers), (2, reviewers, n_reviewers)):
            if (sample, stage) in existing:
                continue
            banned = set(out.get((sample, 1), existing.get((sample, 1), ()))) if stage == 2 else set()
            eligible = [p for p in pool if p not in banned]
            if len(eligible) < n:
                raise AnnotationError(
                    f"sample {sample}: {n} reviewers who did not label it are needed, only "
                    f"{len(eligible)} of {list(pool)} are not among its labellers {sorted(banned)}"
                )
            chosen = sorted(eligible, key=lambda p: (load.get((p, stage), 0), order[p]))[:n]
            for p in chosen:
                load[(p, stage)] = load.get((p, stage), 0) + 1
            out[(sample, stage)] = tuple(sorted(chosen, key=order.__getitem__))
    return out


def majority(
    label_sets: Sequence[Sequence[str]], slot_order: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Slots more than half of ``label_sets`` contain, and the slots exactly half contain (ties), in slot order."""
    n = len(label_sets)
    counts = {s: sum(s in set(ls) for ls in label_sets) for s in slot_order}
    won = tuple(s for s in slot_order if 2 * counts[s] > n)
    tied = tuple(s for s in slot_order if n and 2 * counts[s] == n)
    return won, tied


def decide(
    sample_id: str,
    stage1: Sequence[LabelRow],
    reviews: Sequence[LabelRow],
    *,
    labellers: Sequence[str],
    reviewers: Sequence[str],
    slot_order: Sequence[str],
) -> Decision:
    """The final label of one sample from its current stage-1 labels and stage-2 reviews.

    Every assigned labeller and reviewer must have submitted (else ``missing``, naming who). When every
    reviewer accepts, the stage-1 majority stands (``accepted``); otherwise each slot is decided by the
    majority of the reviewers, an accepting reviewer voting for the stage-1 majority. A slot with as many
    reviewers for as against it is a ``tie``; an acceptance of a stage-1 majority that a revised label has
    changed since is ``stale``: both reported, never decided.
    """
    got1 = {r.annotator for r in stage1}
    if not stage1:
        return Decision(sample_id, "unlabelled", detail="no stage-1 label yet")
    lacking1 = [a for a in labellers if a not in got1]
    if lacking1:
        return Decision(sample_id, "missing", detail=f"stage-1 label missing from {', '.join(lacking1)}")
    got2 = {r.annotator for r in reviews}
    lacking2 = [a for a in reviewers if a not in got2]
    if lacking2 or not reviews:
        who = ", ".join(lacking2) or "every reviewer (none assigned)"
        return Decision(sample_id, "missing", detail=f"stage-2 review missing from {who}")
    votes = tuple(r.id for r in (*stage1, *reviews))
    won1, tied1 = majority([r.slots for r in stage1], slot_order)
    stale = [r.annotator for r in reviews if r.verdict == "accept" and r.slots != won1]
    if stale:
        return Decision(
            sample_id,
            "stale",
            votes=votes,
            detail=f"{', '.join(stale)} accepted a stage-1 majority that a revised label has changed since; "
            "review again with --revise",
        )
    if all(r.verdict == "accept" for r in reviews):
        if tied1:
            return Decision(
                sample_id, "tie", detail=f"stage-1 labellers split evenly on {', '.join(tied1)}", votes=votes
            )
        return Decision(sample_id, "resolved", won1, "accepted", votes=votes)
    if any(r.verdict == "accept" for r in reviews) and tied1:
        return Decision(
            sample_id,
            "tie",
            detail=f"a reviewer accepted a stage-1 majority that is split on {', '.join(tied1)}",
            votes=votes,
        )
    effective = [won1 if r.verdict == "accept" else r.slots for r in reviews]
    won, tied = majority(effective, slot_order)
    if tied:
        return Decision(sample_id, "tie", detail=f"reviewers split evenly on {', '.join(tied)}", votes=votes)
    return Decision(sample_id, "resolved", won, "review majority", votes=votes)
