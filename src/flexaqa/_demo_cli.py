"""``flexaqa demo``: a tour of what flexaqa can do today, on built-in data only (offline)."""

from __future__ import annotations

import argparse

from flexaqa._args import add_out


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a tour of flexaqa on built-in data (no download needed)")
    add_out(p, default="runs/demo", help="folder for the demo's outputs (default: runs/demo)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from flexaqa._io import output_dir
    from flexaqa.demo import run_demo

    with output_dir(args.out, mode="overwrite"):
        run_demo(args.out, cli=args.cli_main)
    return 0
