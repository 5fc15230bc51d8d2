"""``flexaqa kg ...`` and ``flexaqa score``. Light imports only: these commands must never pull torch."""

from __future__ import annotations

import argparse
import sys
import textwrap

from flexaqa._args import add_json, add_out
from flexaqa._io import json_text


def add_commands(sub: argparse._SubParsersAction) -> None:
    kg = sub.add_parser("kg", help="explore, validate, export and draw the Fitness Knowledge Graph")
    kg.add_argument("--file", help="use this FKG data file instead of the shipped one")
    ksub = kg.add_subparsers(dest="kg_command", metavar="KG_COMMAND", required=True)

    p = ksub.add_parser("list", help="the 20 actions with their keysteps, slots and total weight")
    add_json(p, help="print JSON instead of a table")
    p.set_defaults(func=cmd_list)

    p = ksub.add_parser(
        "show", help="phases, keysteps, errors with weights, muscles and sEMG channels of an action"
    )
    p.add_argument("action", help="index (1-20), class id (A16), slug (squat) or name")
    p.add_argument("--feedback", action="store_true", help="also print the corrective cue of every slot")
    p.set_defaults(func=cmd_show)

    p = ksub.add_parser("validate", help="integrity checks of the data; exit 1 with the problems if any")
    p.set_defaults(func=cmd_validate)

    p = ksub.add_parser("export", help="write the graph as JSON, JSON-LD (RDF) or GraphML")
    p.add_argument(
        "--format",
        choices=("json", "jsonld", "graphml"),
        required=True,
        help="json (the data), jsonld (RDF, JSON-LD) or graphml (graph tools)",
    )
    add_out(p, required=True, help="output file")
    p.set_defaults(func=cmd_export)

    p = ksub.add_parser("draw", help="a picture of one action's subgraph (PNG, SVG or PDF)")
    p.add_argument("action", help="index (1-20), class id (A16), slug (squat) or name")
    add_out(p, required=True, help="output image, e.g. squat.png")
    p.set_defaults(func=cmd_draw)

    s = sub.add_parser(
        "score",
        help="score a sample from its observed errors (paper section 7.6)",
        description="Score = (1 - penalty / total) x 100. Give errors as ET005 or as a slot AK04:ET005.",
    )
    s.add_argument("action", help="index (1-20), class id (A16), slug (squat) or name")
    s.add_argument(
        "errors", nargs="*", help="observed errors: ET005 or AK04:ET005 (none = a flawless sample)"
    )
    add_json(s, help="print one JSON object")
    s.add_argument("--file", help="use this FKG data file instead of the shipped one")
    s.set_defaults(func=cmd_score)


def _kg(args):
    from flexaqa.kg import load_kg

    return load_kg(args.file) if getattr(args, "file", None) else load_kg()


def cmd_list(args) -> int:
    from flexaqa._text import format_table

    kg = _kg(args)
    rows = [
        (a.index, a.class_id, a.slug, a.name, a.equipment, len(a.keystep_codes), len(a.slots), a.total_weight)
        for a in kg.actions
    ]
    headers = ("index", "class_id", "slug", "name", "equipment", "keysteps", "slots", "total_weight")
    if args.json:
        print(json_text([dict(zip(headers, r, strict=True)) for r in rows], indent=2))
    else:
        print(format_table(headers, rows, align="<<<<<>>>"))
    return 0


def cmd_show(args) -> int:
    kg = _kg(args)
    a = kg.action(args.action)
    out = [f"{a.class_id} {a.name}  [{a.slug}, {a.equipment}]"]
    out.append(f"target muscles: {', '.join(a.target_muscles)}")
    out.append("sEMG channels: " + ", ".join(f"{c.index}: {c.label}" for c in a.emg_channels))
    out.append(f"slots: {len(a.slots)}, total weight: {a.total_weight}")
    for phase in a.phases:
        out.append("")
        out.append(phase.name.upper())
        for ke in phase.keysteps:
            text = kg.keysteps[ke.keystep].text
            out.append(
                textwrap.fill(f"{ke.keystep}: {text}", 100, initial_indent="  ", subsequent_indent="        ")
            )
            for e in ke.errors:
                et = kg.errors[e]
                out.append(f"      {e} (w {et.weight:>2}, {et.severity}) {et.text}")
                if args.feedback:
                    out.append(f"            -> {kg.feedback(e, ke.keystep)}")
    print("\n".join(out))
    return 0


def cmd_validate(args) -> int:
    from flexaqa.errors import KGValidationError
    from flexaqa.kg import default_path, load_kg_file

    path = args.file or default_path()
    try:
        kg = load_kg_file(path)
    except KGValidationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    n_slots = sum(len(a.slots) for a in kg.actions)
    print(
        f"{path}: OK (FKG {kg.version}): {len(kg.actions)} actions, {len(kg.keysteps)} keysteps, "
        f"{len(kg.errors)} error types, {n_slots} slots"
    )
    return 0


def cmd_export(args) -> int:
    from flexaqa._io import check_output_file
    from flexaqa.kg.export import write_export

    check_output_file(args.out)
    path = write_export(_kg(args), args.format, args.out)
    print(f"wrote {path}")
    return 0


def cmd_draw(args) -> int:
    from flexaqa._io import check_output_file
    from flexaqa.kg.draw import draw_action

    check_output_file(args.out)
    kg = _kg(args)
    path = draw_action(kg, kg.action(args.action), args.out)
    print(f"wrote {path}")
    return 0


def cmd_score(args) -> int:
    from flexaqa.kg import format_score, score

    kg = _kg(args)
    result = score(args.action, args.errors, kg=kg)
    if args.json:
        print(json_text(result.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(format_score(result))
    return 0
