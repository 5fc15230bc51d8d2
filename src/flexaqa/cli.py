"""The one ``flexaqa`` command. Each subcommand group lives in a light ``_cli`` module next to its code and
imports heavy dependencies only inside its handlers, so ``flexaqa kg`` and ``flexaqa score`` start instantly."""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from collections.abc import Sequence

from flexaqa import __version__
from flexaqa._args import warn_deprecated
from flexaqa.errors import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OS_ERROR, EXIT_USAGE, FlexaqaError

# The top-level commands and the light module that registers each (``add_commands(subparsers)``; every handler
# is stored as ``func`` in the parsed namespace). `flexaqa COMMAND ...` imports only COMMAND's module, so the
# start of `flexaqa score` does not pay for the other packages (a test checks this table against the modules).
COMMANDS: dict[str, str] = {
    "kg": "flexaqa.kg._cli",
    "score": "flexaqa.kg._cli",
    "demo": "flexaqa._demo_cli",
    "emg": "flexaqa.signal._cli",
    "data": "flexaqa.data._cli",
    "vqa": "flexaqa.vqa._cli",
    "synth": "flexaqa.synth._cli",
    "coach": "flexaqa.coach._cli",
    "video2emg": "flexaqa.video2emg._cli",
    "failure": "flexaqa.failure._cli",
    "aqa": "flexaqa.aqa._cli",
    "features": "flexaqa.aqa._features_cli",
    "annotate": "flexaqa.annotation._cli",
    "bench": "flexaqa.aqa._cli",
    "train": "flexaqa.aqa._cli",  # deprecated spellings of `aqa train|eval|predict`
    "eval": "flexaqa.aqa._cli",
    "predict": "flexaqa.aqa._cli",
    "serve": "flexaqa.web._cli",
    "users": "flexaqa.web._cli",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (``command`` given and known) one holding only the module that defines it."""
    parser = argparse.ArgumentParser(
        prog="flexaqa",
        description="Fitness action quality assessment on FLEX: knowledge graph, scoring, data, models, coach. "
        'Exit codes: see the README ("Exit codes") or flexaqa.errors.',
    )
    parser.add_argument("--version", action="version", version=f"flexaqa {__version__}")
    # commands that run other commands (the demo's tour) call this entry point: passed down, not imported back
    parser.set_defaults(cli_main=main)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).add_commands(sub)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (its first argument when that is not an option)."""
    return argv[0] if argv and not argv[0].startswith("-") else None


def _notes(exc: BaseException) -> str:
    return "".join(f"; {n}" for n in getattr(exc, "__notes__", ()))


_OS_HINTS = {
    errno.EACCES: "permission denied: not readable/writable by you (a read-only folder?)",
    errno.EROFS: "the filesystem is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EISDIR: "this is a folder; a file was expected",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.ENOENT: "no such file or folder",
}


def _os_error_text(exc: OSError) -> str:
    """One line naming the path(s) and what went wrong."""
    path = "" if exc.filename is None else str(exc.filename)
    if exc.filename2 is not None:
        path = f"{path} -> {exc.filename2}"
    what = _OS_HINTS.get(exc.errno, exc.strerror or str(exc))
    return f"{path}: {what}" if path else what


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code of an error is its class's ``exit_code`` (table in ``flexaqa.errors``)."""
    from flexaqa._io import set_command

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    if getattr(args, "deprecated_command", None):
        warn_deprecated(f"`flexaqa {args.command}`", f"`{args.deprecated_command}`")
    set_command(argv)
    try:
        return int(args.func(args) or 0)
    except FlexaqaError as exc:
        print(f"flexaqa: error: {exc}{_notes(exc)}", file=sys.stderr)
        return int(exc.exit_code)
    except BrokenPipeError:  # e.g. `flexaqa kg list | head`
        return 0
    except OSError as exc:  # a filesystem error: one line naming the path, no traceback
        print(f"flexaqa: error: {_os_error_text(exc)}{_notes(exc)}", file=sys.stderr)
        # outputs are checked before the work, so a missing path or one of the wrong kind is an input
        missing = isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError)
        return EXIT_INPUT if missing else EXIT_OS_ERROR
    except KeyboardInterrupt as exc:  # one line; the notes say which folder is left incomplete
        print(f"flexaqa: interrupted{_notes(exc)}", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
