"""Shared argument helpers of the ``flexaqa`` command: one name, type, range and help per recurring option.

Every ``_cli`` module builds its common options here (``--data``, ``--out``, ``--device``, ``--protocol``,
``--split``, ``--size``, ``--seed``, ``--workers``, ``--batch-size``, ``--ray``, ``--json``, ``--no-progress``), and
every numeric option gets a range-checking ``type=`` from here, so ``--workers 0`` or ``--threshold 2`` is refused
by the parser with a message that names the option (exit code 2) instead of being clamped or ignored.

Meanings, the same in every command:

- ``--protocol``: how samples are divided into train/val/test (``random``, ``cross_subject``, ``cross_skill``,
  ``official``; some commands add ``auto`` or ``all``). ``--split``: the name of one split (``train``, ``val``,
  ``test``).
- ``--size WxH``: a video frame size, width by height (``--short-side N`` resizes by the short side).
- ``--no-progress``: no progress bars (``--quiet`` is its deprecated spelling).
- ``--device {auto,cuda,cpu}``: ``auto`` uses a CUDA GPU when one is visible.
- ``--ray auto|ADDRESS``: run the items as Ray tasks (``flexaqa._tasks.map_tasks``): a local Ray with ``--workers``
  CPUs, or the cluster at ADDRESS.

Light at import: only the standard library (the parser of ``flexaqa score`` is built from this).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence

from flexaqa.errors import did_you_mean

PROTOCOLS = ("random", "cross_subject", "cross_skill", "official")
SPLITS = ("train", "val", "test")
DEVICES = ("auto", "cuda", "cpu")
# FLEX's five cameras, the names of flexaqa.data.schema.FLEX_VIEWS (a test checks they agree; kept here so the
# parser does not import the data layer).
VIEWS = tuple(f"View-{i}" for i in range(1, 6))


# --- range-checking types -------------------------------------------------------------------------------------


def _named(fn: Callable, name: str) -> Callable:
    fn.__name__ = fn.__qualname__ = name  # argparse and the parser-walk test read it
    return fn


def int_range(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """``type=`` for an integer in ``[lo, hi]`` (either bound may be open-ended)."""
    bounds = _bounds_text(lo, hi, False, False)

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer {bounds}, got {text!r}") from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be an integer {bounds}, got {v}")
        return v

    return _named(parse, f"int{bounds.replace(' ', '')}")


def float_range(
    lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False
) -> Callable[[str], float]:
    """``type=`` for a finite number in the range (closed unless ``lo_open``/``hi_open``)."""
    bounds = _bounds_text(lo, hi, lo_open, hi_open)

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {bounds}, got {text!r}") from None
        bad = not math.isfinite(v)
        bad |= lo is not None and (v <= lo if lo_open else v < lo)
        bad |= hi is not None and (v >= hi if hi_open else v > hi)
        if bad:
            raise argparse.ArgumentTypeError(f"must be a number {bounds}, got {text}")
        return v

    return _named(parse, f"float{bounds.replace(' ', '')}")


def _bounds_text(lo, hi, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return "(any)"


positive_int = int_range(1)
non_negative_int = int_range(0)
positive_float = float_range(0, lo_open=True)
non_negative_float = float_range(0)
probability = float_range(0, 1)
percent = float_range(0, 100, lo_open=True, hi_open=True)
fraction = float_range(0, 1, lo_open=True, hi_open=True)
# A sampling rate in Hz: positive and below 1 MHz (a typo such as --fs 1e9 is refused, not used).
sampling_rate = float_range(0, 1e6, lo_open=True)


def frame_size(text: str) -> tuple[int, int]:
    """``--size WxH``: a frame size as ``(width, height)``, both positive integers."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT such as 128x96, got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"width and height must be positive, got {text!r}")
    return w, h


frame_size = _named(frame_size, "WxH")


def name_list(
    choices: Sequence[str] | None = None, *, what: str = "name"
) -> Callable[[str], tuple[str, ...]]:
    """``type=`` for a comma-separated list without duplicates, each in ``choices`` when given."""

    def parse(text: str) -> tuple[str, ...]:
        items = tuple(x.strip() for x in text.split(",") if x.strip())
        if not items:
            raise argparse.ArgumentTypeError(f"give at least one {what}, got {text!r}")
        dup = sorted({x for x in items if items.count(x) > 1})
        if dup:
            raise argparse.ArgumentTypeError(f"{what} {dup[0]!r} is given twice")
        for x in items:
            if choices is not None and x not in choices:
                raise argparse.ArgumentTypeError(
                    f"unknown {what} {x!r}{did_you_mean(x, choices)}; choose from {', '.join(choices)}"
                )
        return items

    return _named(parse, "names" if choices is None else f"names[{','.join(choices)}]")


def int_list(text: str) -> tuple[int, ...]:
    """``type=`` for a comma-separated list of distinct non-negative integers (e.g. ``--seeds 0,1,2``)."""
    items = name_list(what="value")(text)
    try:
        values = tuple(int(x) for x in items)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 0,1,2, got {text!r}"
        ) from None
    if min(values) < 0:
        raise argparse.ArgumentTypeError(f"values must be >= 0, got {text!r}")
    return values


int_list = _named(int_list, "ints")


# --- deprecation ------------------------------------------------------------------------------------------------


def warn_deprecated(old: str, new: str) -> None:
    """One line on stderr: ``old`` still works for this release; ``new`` is the spelling to use."""
    print(
        f"flexaqa: warning: {old} is deprecated and will be removed in the next release; use {new}",
        file=sys.stderr,
    )


class DeprecatedAlias(argparse.Action):
    """An old option spelling that stores into the new option's ``dest`` and prints a deprecation line."""

    def __init__(self, option_strings, dest, *, new: str, **kw):
        self.new = new
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        warn_deprecated(option_string, self.new)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def add_deprecated(
    p: argparse.ArgumentParser, old: str, *, new: str, dest: str, flag: bool = False, **kw
) -> None:
    """Keep ``old`` working for one release as an alias of ``new`` (``flag``: an option without a value)."""
    if flag:
        kw.update(nargs=0, const=kw.pop("const", True))
    p.add_argument(
        old,
        action=DeprecatedAlias,
        new=new,
        dest=dest,
        default=argparse.SUPPRESS,
        help=f"deprecated: use {new}",
        **kw,
    )


# --- shared options ---------------------------------------------------------------------------------------------


def add_data(p: argparse.ArgumentParser, *, required: bool = True, help: str | None = None) -> None:
    p.add_argument(
        "--data",
        required=required,
        metavar="DIR",
        help=help or "dataset folder (native or official release layout)",
    )


def add_out(
    p: argparse.ArgumentParser, *, required: bool = False, default: str | None = None, help: str
) -> None:
    p.add_argument("--out", required=required, default=default, metavar="PATH", help=help)


def add_device(p: argparse.ArgumentParser, *, default: str | None = "auto", help: str | None = None) -> None:
    p.add_argument(
        "--device",
        choices=DEVICES,
        default=default,
        help=help or f"auto (a CUDA GPU when one is visible), cuda or cpu (default {default})",
    )


def add_protocol(
    p: argparse.ArgumentParser, *, default: str | None, extra: Sequence[str] = (), help: str | None = None
) -> None:
    """``--protocol``: how the samples are divided into train/val/test: a built-in protocol (``extra`` adds
    ``auto``/``all`` where they mean something) or the name of a split file saved in the dataset
    (``DIR/splits/NAME.json``), so the value is checked against the dataset when it is opened."""
    names = ", ".join((*extra, *PROTOCOLS))
    p.add_argument(
        "--protocol",
        default=default,
        metavar="PROTOCOL",
        help=(help or f"split protocol: {names} (default {default})")
        + "; or the name of a split saved as DIR/splits/NAME.json",
    )


def add_split(
    p: argparse.ArgumentParser,
    *,
    default: str | None = "test",
    extra: Sequence[str] = (),
    help: str | None = None,
    **kw,
) -> None:
    """``--split``: the name of one split (train, val, test)."""
    choices = (*SPLITS, *extra)
    p.add_argument(
        "--split", choices=choices, default=default, help=help or f"split to use (default {default})", **kw
    )


def add_seed(p: argparse.ArgumentParser, *, default: int | None = 0, help: str | None = None) -> None:
    p.add_argument(
        "--seed",
        type=non_negative_int,
        default=default,
        help=help or f"random seed (default {default})",
    )


def add_workers(p: argparse.ArgumentParser, *, default: int | None, minimum: int = 1, help: str) -> None:
    """``--workers N``: parallel worker processes (or threads); ``minimum`` 0 where 0 means "in this process"."""
    p.add_argument("--workers", type=int_range(minimum), default=default, metavar="N", help=help)


def add_ray(p: argparse.ArgumentParser, *, help: str | None = None) -> None:
    """``--ray auto|ADDRESS``: run the work as Ray tasks (extra ``dist``), on a local Ray or a cluster."""
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help=help
        or "run as Ray tasks: auto (a local Ray with --workers CPUs) or the ADDRESS of a cluster "
        "(`ray start --head` prints it); needs pip install 'flexaqa[dist]'",
    )


def add_batch_size(p: argparse.ArgumentParser, *, default: int, help: str) -> None:
    p.add_argument("--batch-size", type=positive_int, default=default, metavar="N", help=help)


def add_json(p: argparse.ArgumentParser, *, help: str = "print JSON on stdout instead of text") -> None:
    p.add_argument("--json", action="store_true", help=help)


def add_progress(
    p: argparse.ArgumentParser, *, quiet_alias: bool = False, progress_alias: bool = False
) -> None:
    """``--no-progress`` (dest ``no_progress``); the old spellings ``--quiet`` / ``--progress`` as deprecated."""
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    if quiet_alias:
        add_deprecated(p, "--quiet", new="--no-progress", dest="no_progress", flag=True)
    if progress_alias:  # progress is shown by default now: the old opt-in flag does nothing
        add_deprecated(
            p,
            "--progress",
            new="nothing (progress is shown by default)",
            dest="no_progress",
            flag=True,
            const=False,
        )


def add_size(
    p: argparse.ArgumentParser, *, default: tuple[int, int] | None = None, help: str | None = None
) -> None:
    """``--size WxH``: a frame size, width by height."""
    d = f" (default {default[0]}x{default[1]})" if default else ""
    p.add_argument("--size", type=frame_size, default=default, metavar="WxH", help=(help or "frame size") + d)


def add_short_side(p: argparse.ArgumentParser, *, help: str) -> None:
    """``--short-side N`` (the deprecated ``--size N`` of the first release)."""
    p.add_argument("--short-side", type=positive_int, metavar="N", help=help)
    add_deprecated(p, "--size", new="--short-side", dest="short_side", type=positive_int, metavar="N")
