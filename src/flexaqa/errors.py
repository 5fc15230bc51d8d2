"""Exceptions with messages meant for users: the CLI prints them without a traceback.

Every class carries the process exit code of the ``flexaqa`` command as the class attribute ``exit_code``;
``flexaqa.cli.main`` maps an error to its code in one place. The table (also in the README, "Exit codes"):

====  ==========================================================================================================
code  meaning
====  ==========================================================================================================
0     success
1     a check found problems (``kg validate``, ``data validate``): :class:`CheckFailedError`
2     usage error: a bad option or argument, an unknown name (action, error code, model, split), options that do
      not go together (argparse's code too): :class:`UsageError`, and every error class without its own code
3     bad input data: a file or folder exists but its content is wrong: :class:`BadDataError`
4-7   ``flexaqa coach`` only: 4 no person, 5 several people, 6 the person is out of view, 7 no repetition
8     a missing optional dependency (``pip install 'flexaqa[EXTRA]'``): :class:`MissingExtraError`
9     an input file or folder is missing, of the wrong kind or unreadable: :class:`InputError`,
      :class:`MissingFileError`
65    an incomplete folder (its writer was interrupted or failed): :class:`IncompleteError`
73    an output that must not or cannot be written (exists without ``--force``, is the input, its parent is a
      file): :class:`OutputError`
74    a filesystem error (permission denied, disk full, ...): :class:`FileAccessError`, any ``OSError``
75    the output folder is being written by another flexaqa process: :class:`BusyError`
130   interrupted (Ctrl-C)
====  ==========================================================================================================
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Mapping

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_BAD_DATA = 3
EXIT_MISSING_EXTRA = 8
EXIT_INPUT = 9
EXIT_INCOMPLETE = 65  # sysexits EX_DATAERR
EXIT_OUTPUT = 73  # sysexits EX_CANTCREAT
EXIT_OS_ERROR = 74  # sysexits EX_IOERR
EXIT_BUSY = 75  # sysexits EX_TEMPFAIL
EXIT_INTERRUPTED = 130

# code -> meaning, in the order of the README's table (a test checks that the two agree).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_CHECK_FAILED: "a check found problems (`kg validate`, `data validate`)",
    EXIT_USAGE: "usage error: a bad option or argument, an unknown name (action, error code, model, split), "
    "options that do not go together",
    EXIT_BAD_DATA: "bad input data: a file or folder exists but its content is wrong",
    4: "`coach`: no person found",
    5: "`coach`: several people",
    6: "`coach`: the person is out of view most of the time",
    7: "`coach`: no complete repetition",
    EXIT_MISSING_EXTRA: "a missing optional dependency; the message names `pip install 'flexaqa[EXTRA]'`",
    EXIT_INPUT: "an input file or folder is missing, of the wrong kind or unreadable",
    EXIT_INCOMPLETE: "an incomplete folder: its writer was interrupted or failed (the message says how to redo it)",
    EXIT_OUTPUT: "an output that must not or cannot be written (exists without `--force`, is the input, its "
    "parent is a file)",
    EXIT_OS_ERROR: "a filesystem error (permission denied, disk full, ...)",
    EXIT_BUSY: "the output folder is being written by another flexaqa process",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


class FlexaqaError(Exception):
    """Base class of every error flexaqa raises about bad input or bad data. ``exit_code``: see the module."""

    exit_code: int = EXIT_USAGE


class UsageError(FlexaqaError, ValueError):
    """A bad option or argument value, or options that do not go together; the message names the option."""

    exit_code = EXIT_USAGE


class CheckFailedError(FlexaqaError):
    """A check ran and found problems (the command's output lists them)."""

    exit_code = EXIT_CHECK_FAILED


class BadDataError(FlexaqaError):
    """An input file or folder exists but its content is wrong; the message names the file and the field."""

    exit_code = EXIT_BAD_DATA


class InputError(FlexaqaError):
    """An input path that is missing, of the wrong kind (a folder for a file, a file for a folder) or unreadable."""

    exit_code = EXIT_INPUT


class MissingFileError(InputError):
    """An input file or folder does not exist. Domain packages combine it with their own error class, e.g.
    ``class MissingDatasetError(MissingFileError, DataError)``, so both ``except`` clauses catch it."""


class IncompleteError(FlexaqaError):
    """A folder whose writer did not finish (interrupted or failed); the message gives the command that redoes it."""

    exit_code = EXIT_INCOMPLETE


class OutputError(FlexaqaError):
    """An output that must not or cannot be written: a file where a folder goes, a non-empty folder without
    ``--force``, the command's own input, a read-only place."""

    exit_code = EXIT_OUTPUT


class FileAccessError(FlexaqaError):
    """An operating-system error on a file or folder (permission denied, disk full, not a directory, ...);
    ``cli.main`` gives an uncaught :class:`OSError` the same code."""

    exit_code = EXIT_OS_ERROR


class BusyError(OutputError):
    """Another process is writing the folder (its lock is held); the message names the holder."""

    exit_code = EXIT_BUSY


class KGError(FlexaqaError, ValueError):
    """Bad use of the knowledge graph: unknown action, unknown or misplaced error code, ..."""

    exit_code = EXIT_USAGE


class KGValidationError(KGError):
    """The knowledge-graph data file breaks its schema; ``problems`` lists every finding."""

    exit_code = EXIT_BAD_DATA

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s) in the knowledge graph:\n{lines}")


class MissingKGFileError(MissingFileError, KGValidationError):
    """The knowledge-graph file given with ``--file`` does not exist (exit code 9)."""

    exit_code = EXIT_INPUT


class MissingExtraError(FlexaqaError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""

    exit_code = EXIT_MISSING_EXTRA

    def __init__(self, module: str, extra: str, purpose: str = ""):
        why = f" ({purpose})" if purpose else ""
        super().__init__(
            f"'{module}' is required{why} but is not installed. Install it with: pip install 'flexaqa[{extra}]'"
        )


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest known name, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def reject_unknown_keys(
    d: Mapping, known: Iterable[str], *, what: str, error: type[FlexaqaError] = UsageError
) -> None:
    """Raise ``error`` naming the first key of ``d`` not in ``known``, with a suggestion: a config that drops a
    misspelled key would silently run with the default instead."""
    known = sorted(known)
    unknown = [k for k in d if k not in known]
    if unknown:
        k = unknown[0]
        raise error(f"{what}: unknown key {k!r}{did_you_mean(k, known)}; known keys: {', '.join(known)}")


def require(module: str, extra: str, purpose: str = ""):
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(module, extra, purpose) from exc
