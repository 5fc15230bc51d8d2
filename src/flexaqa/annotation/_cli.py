"""``flexaqa annotate ...``: the two-stage annotation workflow (docs/annotation.md). Light imports only; the
store (SQLAlchemy) and the statistics are imported inside the handlers."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections import Counter
from pathlib import Path

from flexaqa._args import (
    VIEWS,
    add_data,
    add_json,
    add_out,
    float_range,
    int_range,
    name_list,
    non_negative_float,
    positive_int,
)
from flexaqa._io import json_text


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--db",
        metavar="URL",
        help="store URL: sqlite:///PATH or postgresql://USER@HOST/DB (default: sqlite next to --data, "
        "DATA/annotations.sqlite)",
    )
    add_data(p, required=False, help="dataset folder (native layout); locates the default store")
    return p


def slot_list(text: str) -> tuple[str, ...]:
    """``--slots``: comma-separated AKxx:ETyyy (or ETyyy) tokens; empty for "no error"."""
    return tuple(x.strip() for x in text.replace(" ", ",").split(",") if x.strip())


def add_commands(sub: argparse._SubParsersAction) -> None:
    common = _common()
    ann = sub.add_parser(
        "annotate",
        help="two-stage labelling (paper 3.3.2): tasks, labels, reviews, majority vote, agreement, export",
    )
    asub = ann.add_subparsers(dest="annotate_command", metavar="ANNOTATE_COMMAND", required=True)
    people = name_list(what="annotator")

    p = asub.add_parser(
        "init", parents=[common], help="create (or upgrade) the store and one task per sample"
    )
    p.add_argument(
        "--labels-per-sample",
        type=positive_int,
        default=3,
        metavar="N",
        help="stage-1 labellers per sample (default 3)",
    )
    p.add_argument(
        "--reviews-per-sample",
        type=positive_int,
        default=3,
        metavar="N",
        help="stage-2 reviewers per sample (default 3)",
    )
    p.set_defaults(func=cmd_init)

    p = asub.add_parser(
        "assign", parents=[common], help="assign labellers and reviewers to unassigned samples"
    )
    p.add_argument("--labellers", type=people, required=True, help="comma-separated stage-1 annotators")
    p.add_argument("--reviewers", type=people, required=True, help="comma-separated stage-2 reviewers")
    p.set_defaults(func=cmd_assign)

    p = asub.add_parser(
        "segment",
        parents=[common],
        help="repetition boundaries of a trial: segmenter proposal, human correction",
    )
    p.add_argument("--trial", required=True, help="trial id, e.g. P01-A16")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--propose", action="store_true", help="run the pose segmenter and store its proposal")
    g.add_argument("--accept-proposal", action="store_true", help="confirm the stored proposal for every rep")
    g.add_argument(
        "--rep", type=positive_int, help="correct one repetition (with --start, --end, optional --turn)"
    )
    seconds = non_negative_float
    p.add_argument("--start", type=seconds, help="repetition start, seconds on the trial clock")
    p.add_argument("--turn", type=seconds, help="turnaround between the two movement phases (s)")
    p.add_argument("--end", type=seconds, help="repetition end (s)")
    p.add_argument("--annotator", help="who confirms or corrects")
    p.set_defaults(func=cmd_segment)

    p = asub.add_parser("label", parents=[common], help="stage 1: one annotator's errors for one sample")
    p.add_argument("--annotator", required=True, help="who labels")
    p.add_argument("--sample", required=True, help="sample id, e.g. P01-A16-r03")
    p.add_argument("--slots", type=slot_list, default=(), help="comma-separated AKxx:ETyyy (empty: no error)")
    p.add_argument("--score", type=float_range(0, 100), help="optional manual score 0..100")
    p.add_argument("--feedback-text", default="", metavar="TEXT", help="free-text feedback for the athlete")
    p.add_argument("--revise", action="store_true", help="replace your current label (a new revision)")
    p.set_defaults(func=cmd_label)

    p = asub.add_parser(
        "import",
        parents=[common],
        help="labels from a .jsonl/.json/.csv file or a native dataset's annotators",
    )
    p.add_argument("source", help="file, or a dataset folder (then --annotator names whose labels)")
    p.add_argument(
        "--stage", type=int_range(1, 2), help="stage of rows that leave it out (dataset folder: 1)"
    )
    p.add_argument("--annotator", help="only this annotator's rows")
    p.add_argument("--as", dest="rename", metavar="NAME", help="store the rows under this annotator name")
    p.add_argument("--revise", action="store_true", help="rows replace the annotators' current labels")
    p.set_defaults(func=cmd_import)

    p = asub.add_parser("review", parents=[common], help="stage 2: accept the stage-1 majority, or vote")
    p.add_argument("--reviewer", required=True, help="who reviews")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--sample", help="sample id")
    g.add_argument("--accept-pending", action="store_true", help="accept every sample waiting for you")
    p.add_argument("--accept", action="store_true", help="the stage-1 majority is right")
    p.add_argument("--slots", type=slot_list, help="your vote: the sample's errors (comma-separated)")
    p.add_argument("--feedback-text", default="", metavar="TEXT", help="a note with the review")
    p.add_argument("--revise", action="store_true", help="replace your current review (a new revision)")
    p.set_defaults(func=cmd_review)

    p = asub.add_parser(
        "resolve", parents=[common], help="majority vote of the reviewers; report ties/missing"
    )
    add_json(p)
    p.set_defaults(func=cmd_resolve)

    p = asub.add_parser("status", parents=[common], help="progress per stage and annotator; what is blocked")
    add_json(p)
    p.set_defaults(func=cmd_status)

    p = asub.add_parser(
        "agreement", parents=[common], help="Fleiss' kappa, Krippendorff's alpha, ICC: table+plot"
    )
    add_out(p, required=True, help="output folder for agreement.json/.csv/.md/.png")
    p.add_argument("--top", type=positive_int, default=10, help="most disputed slots to list (default 10)")
    p.set_defaults(func=cmd_agreement)

    p = asub.add_parser(
        "export", parents=[common], help="write final and per-annotator labels into the dataset"
    )
    p.add_argument("--partial", action="store_true", help="export the resolved samples, leave the others")
    p.set_defaults(func=cmd_export)

    p = asub.add_parser("history", parents=[common], help="every label row of a sample, revisions included")
    p.add_argument("--sample", required=True, help="sample id")
    p.set_defaults(func=cmd_history)

    add_labelstudio_commands(asub, common)


def _url(args) -> str:
    from flexaqa.annotation.records import AnnotationError
    from flexaqa.annotation.store import default_url

    if args.db:
        return args.db
    if args.data:
        return default_url(args.data)
    raise AnnotationError("give --db URL or --data DIR (the store then is DIR/annotations.sqlite)")


def _open(args):
    from flexaqa.annotation.store import AnnotationStore

    return AnnotationStore.open(_url(args))


def cmd_init(args) -> int:
    from flexaqa.annotation.records import AnnotationError
    from flexaqa.annotation.store import AnnotationStore

    if not args.data:
        raise AnnotationError("annotate init needs --data DIR, the dataset whose samples become tasks")
    with AnnotationStore.create(_url(args)) as store:
        n = store.init_project(args.data, labellers=args.labels_per_sample, reviewers=args.reviews_per_sample)
        total = len(store.tasks())
    print(f"{store.url}: {n} new task(s), {total} in all")
    return 0


def cmd_assign(args) -> int:
    with _open(args) as store:
        new = store.assign(args.labellers, args.reviewers)
        load: dict[tuple[str, int], int] = {}
        for (_, stage), people in store.assignments().items():
            for p in people:
                load[(p, stage)] = load.get((p, stage), 0) + 1
    print(f"assigned {len({s for s, _ in new})} new sample(s)")
    for (p, stage), n in sorted(load.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"  stage {stage}  {p}: {n}")
    return 0


def cmd_segment(args) -> int:
    from flexaqa._text import format_table
    from flexaqa.annotation.records import AnnotationError
    from flexaqa.annotation.segment import accept_proposal, propose

    with _open(args) as store:
        if args.propose:
            propose(store, args.trial, data_dir=args.data)
        elif args.accept_proposal:
            if not args.annotator:
                raise AnnotationError("--accept-proposal needs --annotator (who confirmed it)")
            accept_proposal(store, args.trial, annotator=args.annotator)
        elif args.rep is not None:
            if args.start is None or args.end is None or not args.annotator:
                raise AnnotationError("--rep needs --start, --end and --annotator (and optionally --turn)")
            store.add_segments(
                args.trial,
                [(args.rep, args.start, args.turn, args.end)],
                kind="correction",
                annotator=args.annotator,
            )
        tasks = [t for t in store.tasks() if t.trial == args.trial]
        prop = store.segments(args.trial, kind="proposal")
        corr = store.segments(args.trial)
    rows = []
    for t in tasks:
        c = corr.get((args.trial, t.rep))
        rows.append(
            (
                t.rep,
                f"{t.start:.3f}",
                f"{t.end:.3f}",
                "" if c is None else f"{c['start']:.3f}-{c['end']:.3f} ({c['annotator']})",
            )
        )
    print(format_table(("rep", "dataset start", "dataset end", "confirmed/corrected"), rows))
    if prop:
        print(
            f"segmenter proposal: {len(prop)} repetition(s): "
            + ", ".join(f"{p['start']:.2f}-{p['end']:.2f}" for p in prop.values())
        )
    return 0


def cmd_label(args) -> int:
    from flexaqa.annotation.records import LabelSubmission

    sub = LabelSubmission(
        args.annotator,
        1,
        args.sample,
        tuple(args.slots),
        score=args.score,
        feedback=args.feedback_text,
        source="command line",
    )
    with _open(args) as store:
        (i,) = store.submit([sub], revise=args.revise)
        row = next(r for r in store.history(args.sample) if r.id == i)
    print(
        f"label {i}: {args.annotator} {args.sample} revision {row.revision}: "
        f"{', '.join(row.slots) or 'no error'} (FKG score {row.fkg_score:.2f})"
    )
    return 0


def cmd_import(args) -> int:
    from flexaqa.annotation.io import read_submissions

    subs = read_submissions(args.source, stage=args.stage, annotator=args.annotator, rename=args.rename)
    with _open(args) as store:
        ids = store.submit(subs, revise=args.revise)
    stages = sorted({s.stage for s in subs})
    who = sorted({s.annotator for s in subs})
    print(
        f"imported {len(ids)} label(s) (stage {', '.join(map(str, stages))}) from {args.source} "
        f"by {', '.join(who)}"
    )
    return 0


def cmd_review(args) -> int:
    from flexaqa.annotation.records import AnnotationError, LabelSubmission

    with _open(args) as store:
        if args.accept_pending:
            if args.slots:
                raise AnnotationError("--accept-pending accepts; to vote give --sample and --slots")
            pending = store.pending_reviews(args.reviewer)
            subs = [
                LabelSubmission(
                    args.reviewer, 2, s, (), feedback=args.feedback_text, accept=True, source="command line"
                )
                for s in pending
            ]
        else:
            if args.accept == (args.slots is not None):
                raise AnnotationError("give either --accept or --slots (your vote; empty for 'no error')")
            subs = [
                LabelSubmission(
                    args.reviewer,
                    2,
                    args.sample,
                    tuple(args.slots or ()),
                    feedback=args.feedback_text,
                    accept=args.accept,
                    source="command line",
                )
            ]
        ids = store.submit(subs, revise=args.revise)
    print(f"{args.reviewer}: {len(ids)} review(s) stored")
    return 0


def cmd_resolve(args) -> int:
    with _open(args) as store:
        decisions, written = store.resolve()
    counts = Counter(d.status for d in decisions)
    if args.json:
        print(
            json_text(
                {
                    "counts": counts,
                    "written": written,
                    "unresolved": [d.__dict__ for d in decisions if d.status != "resolved"],
                },
                indent=1,
            )
        )
        return 0
    methods = Counter(d.method for d in decisions if d.status == "resolved")
    print(
        f"resolved {counts['resolved']} of {len(decisions)} sample(s) ({dict(methods)}); {written} new decision(s)"
    )
    open_ = [d for d in decisions if d.status in ("tie", "missing", "stale")]
    for d in open_[:20]:
        print(f"  {d.status:7s} {d.sample_id}: {d.detail}")
    if len(open_) > 20:
        print(f"  ... {len(open_) - 20} more ({dict(Counter(d.status for d in open_))}; --json lists all)")
    if counts["unlabelled"]:
        print(f"  {counts['unlabelled']} sample(s) not labelled yet")
    return 0


def cmd_status(args) -> int:
    from flexaqa._text import format_table

    with _open(args) as store:
        st = store.status()
    if args.json:
        print(json_text(st.to_dict(), indent=1))
        return 0
    print(f"{st.n_tasks} sample(s); resolved {st.resolved}")
    for stage, name in ((1, "stage 1 (label)"), (2, "stage 2 (review)")):
        s = st.stage[stage]
        print(f"  {name}: {s['done']} of {s['assigned']} assigned done")
    rows = [
        (a, f"{p['stage1_done']}/{p['stage1_assigned']}", f"{p['stage2_done']}/{p['stage2_assigned']}")
        for a, p in sorted(st.annotators.items())
    ]
    if rows:
        print(format_table(("annotator", "stage 1 done", "stage 2 done"), rows))
    kinds = Counter(d.status for d in st.blocked)
    if st.blocked:
        print(f"not resolvable yet: {dict(kinds)}")
        for d in st.blocked[:20]:
            print(f"  {d.status:10s} {d.sample_id}: {d.detail}")
        if len(st.blocked) > 20:
            print(f"  ... {len(st.blocked) - 20} more (--json lists all)")
    return 0


def cmd_agreement(args) -> int:
    from flexaqa._io import check_output_dir, output_dir
    from flexaqa.annotation.agreement import agreement_report, markdown, write_agreement

    check_output_dir(args.out)
    with _open(args) as store:
        rep = agreement_report(store, top=args.top)
    with output_dir(args.out, mode="overwrite"):
        paths = write_agreement(rep, args.out)
    print(markdown(rep))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def cmd_export(args) -> int:

    from flexaqa._io import output_dir
    from flexaqa.annotation.export import export_labels

    writing = output_dir(args.data, mode="update") if args.data else contextlib.nullcontext()
    with _open(args) as store, writing:  # the labels are written into the dataset: one writer at a time
        rep = export_labels(store, args.data, partial=args.partial)
    print(f"{rep.root}: {rep.n_samples} sample(s) exported, {len(rep.changed)} file(s) changed")
    if rep.unresolved:
        print(f"  {len(rep.unresolved)} unresolved sample(s) left as they were", file=sys.stderr)
    return 0


def cmd_history(args) -> int:
    from flexaqa._text import format_table

    with _open(args) as store:
        rows = store.history(args.sample)
    print(
        format_table(
            ("id", "when", "annotator", "stage", "rev", "replaces", "verdict", "slots", "FKG", "source"),
            [
                (
                    r.id,
                    str(r.created_at)[:19],
                    r.annotator,
                    r.stage,
                    r.revision,
                    r.replaces or "",
                    r.verdict,
                    ",".join(r.slots) or "-",
                    f"{r.fkg_score:.2f}",
                    r.source,
                )
                for r in rows
            ],
        )
    )
    return 0


# --------------------------------------------------------------------------- annotate labelstudio ...


def add_labelstudio_commands(
    annotate_sub: argparse._SubParsersAction, common: argparse.ArgumentParser | None = None
) -> None:
    people = name_list(what="annotator")
    """Add ``labelstudio config|tasks|import``; ``common`` is the ``annotate`` group's parent parser with
    ``--db``/``--data`` (``import`` uses it), else ``import`` defines those two itself."""
    ls = annotate_sub.add_parser(
        "labelstudio",
        help="Label Studio: labelling config from the FKG, tasks for a dataset, import an export",
    )
    lsub = ls.add_subparsers(dest="labelstudio_command", metavar="LABELSTUDIO_COMMAND", required=True)

    p = lsub.add_parser("config", help="the labelling config (XML) of one action")
    p.add_argument("action", help="index, class id (A16), slug or name")
    p.add_argument("--out", help="write to this file (default: print)")
    p.set_defaults(func=cmd_labelstudio_config)

    p = lsub.add_parser("tasks", help="a tasks JSON file (one task per sample, local-file video URLs)")
    p.add_argument("--data", required=True, help="dataset folder (native layout)")
    p.add_argument("--out", required=True, help="tasks JSON file to write")
    p.add_argument(
        "--document-root",
        required=True,
        help="LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT of the server; the videos must lie below it",
    )
    p.add_argument("--action", help="only this action's samples (one Label Studio project per action)")
    p.add_argument(
        "--view",
        choices=VIEWS,
        metavar="VIEW",
        help="camera view whose video the tasks show, View-1 ... View-5 (default: the dataset's first)",
    )
    p.set_defaults(func=cmd_labelstudio_tasks)

    p = lsub.add_parser(
        "import",
        parents=[common] if common is not None else [],
        help="import a Label Studio JSON export into the annotation store",
    )
    p.add_argument("export", help="the JSON export (Export > JSON, or GET /api/projects/ID/export)")
    if common is None:
        p.add_argument(
            "--data", help="dataset folder whose store (the SQLite file next to it) gets the labels"
        )
        p.add_argument("--db", help="store URL instead: sqlite:///PATH or postgresql://...")
    p.add_argument(
        "--users", help='JSON file mapping user ids to names: GET /api/users, or {"1": "ann@lab.org"}'
    )
    p.add_argument(
        "--annotators",
        type=people,
        help="comma-separated stage-1 users (with --reviewers: every user has a role)",
    )
    p.add_argument("--reviewers", type=people, help="comma-separated stage-2 users")
    p.add_argument(
        "--stage",
        type=int_range(1, 2),
        help="import only this stage (an export holding both: --stage 1 first, then --stage 2)",
    )
    p.add_argument("--dry-run", action="store_true", help="check and list the labels, write nothing")
    p.set_defaults(func=cmd_labelstudio_import)


def cmd_labelstudio_config(args) -> int:
    from flexaqa._io import atomic_write_text, check_output_file
    from flexaqa.annotation.labelstudio import labelling_config

    if args.out:
        check_output_file(args.out)
    xml = labelling_config(args.action)
    if args.out:
        atomic_write_text(args.out, xml)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(xml)
    return 0


def cmd_labelstudio_tasks(args) -> int:

    from flexaqa._io import check_output_file
    from flexaqa.annotation.labelstudio import write_tasks

    check_output_file(args.out)
    out = write_tasks(
        args.data, args.out, document_root=args.document_root, view=args.view, action=args.action
    )
    n = len(json.loads(Path(out).read_text(encoding="utf-8")))
    print(f"wrote {n} tasks to {out}")
    return 0


def _roles(args) -> dict[str, str] | None:
    if not args.annotators and not args.reviewers:
        return None
    from flexaqa.annotation.records import AnnotationError

    role_of: dict[str, str] = {}
    for role, names in (("annotator", args.annotators), ("reviewer", args.reviewers)):
        for name in names or ():
            if role_of.get(name, role) != role:
                raise AnnotationError(f"{name} is given as both annotator and reviewer")
            role_of[name] = role
    return role_of


def cmd_labelstudio_import(args) -> int:
    from flexaqa.annotation.labelstudio import read_export, read_users, repetition_bounds
    from flexaqa.annotation.records import AnnotationError

    users = read_users(args.users) if args.users else None
    found = read_export(args.export, role_of=_roles(args), users=users)
    subs = found.submissions
    stages = sorted({s.stage for s in subs})
    if args.stage is None and len(stages) > 1:
        raise AnnotationError(
            f"{args.export} holds stage-1 labels and stage-2 reviews; the store takes a review only once the "
            "sample's stage-1 labels are in, so import it twice: --stage 1, then --stage 2"
        )
    if args.stage is not None:
        left = [s for s in subs if s.stage != args.stage]
        subs = tuple(s for s in subs if s.stage == args.stage)
        if left:
            print(f"{len(left)} stage-{3 - args.stage} label(s) left out (--stage {args.stage})")
    bounds = repetition_bounds(g for g in found.segments if args.stage in (None, g.stage))
    for s in subs:
        what = "accept" if s.accept else (", ".join(s.slots) or "no errors")
        print(f"stage {s.stage}  {s.sample_id}  {s.annotator}: {what}")
    for (who, trial), reps in bounds.items():
        for rep, start, turn, end in reps:
            at = "" if turn is None else f", turn {turn:.3f}"
            print(f"segment  {trial} rep {rep}  {who}: {start:.3f}-{end:.3f} s{at}")
    for src in found.cancelled:
        print(f"not imported (cancelled in Label Studio): {src}")
    if args.dry_run:
        print(
            f"{len(subs)} labels and {sum(map(len, bounds.values()))} segments checked; nothing written (--dry-run)"
        )
        return 0
    from flexaqa.annotation import AnnotationStore, default_url

    if not args.db and not args.data:
        raise AnnotationError("say which store gets the labels: --data DIR or --db URL")
    with AnnotationStore.open(args.db or default_url(args.data)) as store:
        ids = store.submit(list(subs))
        n_seg = sum(
            store.add_segments(trial, reps, kind="correction", annotator=who)
            for (who, trial), reps in bounds.items()
        )
    print(f"imported {len(ids)} labels and {n_seg} repetition segments from {args.export}")
    return 0
