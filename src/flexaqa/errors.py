"""Exceptions with messages meant for users: the CLI prints them without a traceback."""

from __future__ import annotations


class FlexaqaError(Exception):
    """Base class of every error flexaqa raises about bad input or bad data."""


class KGError(FlexaqaError, ValueError):
    """Bad use of the knowledge graph: unknown action, unknown or misplaced error code, ..."""


class KGValidationError(KGError):
    """The knowledge-graph data file breaks its schema; ``problems`` lists every finding."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s) in the knowledge graph:\n{lines}")


class MissingExtraError(FlexaqaError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""

    def __init__(self, module: str, extra: str, purpose: str = ""):
        why = f" ({purpose})" if purpose else ""
        super().__init__(
            f"'{module}' is required{why} but is not installed. Install it with: pip install 'flexaqa[{extra}]'"
        )


def require(module: str, extra: str, purpose: str = ""):
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(module, extra, purpose) from exc
