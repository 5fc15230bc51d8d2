"""The one ``flexaqa`` command. Each subcommand group lives in a light ``_cli`` module next to its code and
imports heavy dependencies only inside its handlers, so ``flexaqa kg`` and ``flexaqa score`` start instantly."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from flexaqa import __version__
from flexaqa.errors import EXIT_USAGE, FlexaqaError

# Modules exposing ``add_commands(subparsers)``; each handler is stored as ``func`` in the parsed namespace.
COMMAND_MODULES = (
    "flexaqa.kg._cli",
    "flexaqa._demo_cli",
    "flexaqa.signal._cli",
    "flexaqa.data._cli",
    "flexaqa.vqa._cli",
    "flexaqa.synth._cli",
    "flexaqa.coach._cli",
    "flexaqa.video2emg._cli",
    "flexaqa.failure._cli",
    "flexaqa.aqa._cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flexaqa",
        description="Fitness action quality assessment on FLEX: knowledge graph, scoring, data, models, coach.",
    )
    parser.add_argument("--version", action="version", version=f"flexaqa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code of an error is its class's ``exit_code`` (table in ``flexaqa.errors``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except FlexaqaError as exc:
        print(f"flexaqa: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except BrokenPipeError:  # e.g. `flexaqa kg list | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
