"""Typed, immutable view of the Fitness Knowledge Graph. Built by :mod:`flexaqa.kg._load`."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from flexaqa.errors import KGError

PHASE_NAMES = ("preparation", "concentric", "eccentric")


@dataclass(frozen=True)
class SeverityClass:
    """A weight class of paper section 7.4."""

    name: str
    description: str
    min_weight: int
    max_weight: int


@dataclass(frozen=True)
class ErrorType:
    """An error type (ET) of Table 10 with its weight, severity class and generic corrective cue."""

    code: str
    text: str
    weight: int
    severity: str
    feedback: str
    note: str | None = None


@dataclass(frozen=True)
class Keystep:
    """An action keystep (AK): the standard of correct form for one part of a phase."""

    code: str
    text: str
    feedback: Mapping[str, str] = field(default_factory=dict)  # error code -> keystep-specific cue


@dataclass(frozen=True)
class KeystepErrors:
    """A keystep as used by one action, with the error types listed under it."""

    keystep: str
    errors: tuple[str, ...]


@dataclass(frozen=True)
class Phase:
    name: str
    keysteps: tuple[KeystepErrors, ...]


@dataclass(frozen=True)
class Slot:
    """One (keystep, error type) pair of an action: the unit the penalty score counts."""

    keystep: str
    error: str
    phase: str
    weight: int

    @property
    def id(self) -> str:
        return f"{self.keystep}:{self.error}"


@dataclass(frozen=True)
class EmgChannel:
    """One sEMG channel of an action (Table 8): column ``index`` of the recording."""

    index: int
    side: str  # "left" | "right"
    muscle: str  # Table 8 name, e.g. "medial deltoid"
    site: int | None = None  # 1, 2, ... only when the same side and muscle carry several electrodes

    @property
    def label(self) -> str:
        """Human-readable and unique within the action, e.g. ``Left pectoralis major (2)``."""
        base = f"{self.side.capitalize()} {self.muscle}"
        return base if self.site is None else f"{base} ({self.site})"


@dataclass(frozen=True)
class Action:
    """One of the 20 FLEX exercises with its phases, keysteps, error slots, muscles and sEMG channels."""

    index: int
    class_id: str
    slug: str
    name: str
    equipment: str
    target_muscles: tuple[str, ...]
    emg_channels: tuple[EmgChannel, ...]
    phases: tuple[Phase, ...]
    slots: tuple[Slot, ...]  # all (keystep, error) slots in phase and table order, with weights
    aliases: tuple[str, ...] = ()

    @cached_property
    def total_weight(self) -> int:
        """Sum of the weights of all slots (the denominator of the paper's score)."""
        return sum(s.weight for s in self.slots)

    @property
    def phase_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.phases)

    @property
    def keystep_codes(self) -> tuple[str, ...]:
        return tuple(ke.keystep for p in self.phases for ke in p.keysteps)

    @property
    def error_codes(self) -> tuple[str, ...]:
        """Distinct error codes of the action, in first-appearance order."""
        return tuple(dict.fromkeys(s.error for s in self.slots))

    def phase_of(self, keystep: str) -> str:
        for p in self.phases:
            if any(ke.keystep == keystep for ke in p.keysteps):
                return p.name
        raise KGError(
            f"{self.name} has no keystep {keystep}; its keysteps are {', '.join(self.keystep_codes)}"
        )

    def slots_of(self, error: str) -> tuple[Slot, ...]:
        return tuple(s for s in self.slots if s.error == error)


@dataclass(frozen=True)
class KnowledgeGraph:
    """The whole FKG. Look actions up with :meth:`action`; iterate ``actions``, ``errors``, ``keysteps``."""

    version: str
    schema_version: int
    provenance: Mapping[str, str]
    severity_classes: Mapping[str, SeverityClass]
    muscles: tuple[str, ...]
    emg_muscles: Mapping[str, str]  # Table 8 muscle -> Table 7 muscle
    errors: Mapping[str, ErrorType]
    keysteps: Mapping[str, Keystep]
    actions: tuple[Action, ...]
    source: str = ""

    @cached_property
    def _index(self) -> dict[str, Action]:
        idx: dict[str, Action] = {}
        for a in self.actions:
            for key in (str(a.index), f"{a.index:02d}", a.class_id, a.slug, a.name, *a.aliases):
                idx[key.casefold()] = a
        return idx

    def action(self, key: str | int | Action) -> Action:
        """Find an action by index (1..20), class id (``A16``), slug (``squat``) or name, case-insensitively."""
        if isinstance(key, Action):
            return key
        norm = str(key).strip().casefold()
        found = self._index.get(norm) or self._index.get(norm.replace("_", "-"))
        if found is None:
            found = self._index.get(norm.replace(" ", "-"))
        if found is None:
            choices = [a.slug for a in self.actions] + [a.name.casefold() for a in self.actions]
            close = difflib.get_close_matches(norm, choices, n=3, cutoff=0.5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise KGError(
                f"unknown action {key!r}.{hint} Use an index 1-{len(self.actions)}, a class id (A01), "
                "a slug or a name; `flexaqa kg list` shows them all."
            )
        return found

    def error(self, code: str) -> ErrorType:
        norm = str(code).strip().upper()
        if norm not in self.errors:
            raise KGError(f"unknown error type {code!r}: error codes run ET001-ET{len(self.errors):03d}")
        return self.errors[norm]

    def keystep(self, code: str) -> Keystep:
        norm = str(code).strip().upper()
        if norm not in self.keysteps:
            raise KGError(f"unknown keystep {code!r}: keystep codes run AK01-AK{len(self.keysteps):02d}")
        return self.keysteps[norm]

    def feedback(self, error: str, keystep: str | None = None) -> str:
        """The corrective cue for ``error``, specialised for ``keystep`` when the keystep overrides it."""
        et = self.error(error)
        if keystep is not None:
            override = self.keystep(keystep).feedback.get(et.code)
            if override:
                return override
        return et.feedback

    def slots(self) -> Iterator[tuple[Action, Slot]]:
        for a in self.actions:
            for s in a.slots:
                yield a, s

    def __len__(self) -> int:
        return len(self.actions)

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions)
