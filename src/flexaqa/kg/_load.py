"""Load the FKG data file into :class:`KnowledgeGraph`, validating every field and relation."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from flexaqa.errors import KGValidationError, MissingKGFileError
from flexaqa.kg._schema import (
    PHASE_NAMES,
    Action,
    EmgChannel,
    ErrorType,
    Keystep,
    KeystepErrors,
    KnowledgeGraph,
    Phase,
    SeverityClass,
    Slot,
)
from flexaqa.kg.breathing import BREATHING_ERROR_PHASE  # breathing errors belong to one phase

SCHEMA_VERSION = 1
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~5x faster
EQUIPMENT = ("barbell", "dumbbell")
SIDES = ("left", "right")
_TOP_KEYS = {
    "schema_version",
    "version",
    "provenance",
    "severity_classes",
    "muscles",
    "emg_muscles",
    "errors",
    "keysteps",
    "actions",
}
_ACTION_KEYS = {
    "index",
    "class_id",
    "slug",
    "name",
    "aliases",
    "equipment",
    "target_muscles",
    "emg_channels",
    "phases",
}
_ET = re.compile(r"^ET\d{3}$")
_AK = re.compile(r"^AK\d{2}$")
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def default_path() -> Path:
    return Path(str(resources.files("flexaqa.kg") / "data" / "fkg.yaml"))


@lru_cache(maxsize=4)
def _load_cached(path: str) -> KnowledgeGraph:
    return load_kg_file(path)


def load_kg(path: str | Path | None = None) -> KnowledgeGraph:
    """Load (once, then from cache) the shipped FKG, or the file at ``path``."""
    return _load_cached(str(Path(path) if path is not None else default_path()))


def load_kg_file(path: str | Path) -> KnowledgeGraph:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except FileNotFoundError:
        raise MissingKGFileError(str(path), ["file not found"]) from None
    except yaml.YAMLError as exc:
        raise KGValidationError(str(path), [f"not valid YAML: {exc}"]) from None
    return build_kg(data, source=str(path))


def validate_kg_data(data: Any) -> list[str]:
    """Return every problem found in raw FKG data (an empty list means valid)."""
    try:
        build_kg(data, source="<data>")
    except KGValidationError as exc:
        return exc.problems
    return []


def build_kg(data: Any, *, source: str = "<data>") -> KnowledgeGraph:
    """Check ``data`` (the parsed YAML) and build the typed graph; raise with the full list of problems."""
    p: list[str] = []
    if not isinstance(data, dict):
        raise KGValidationError(source, ["top level must be a mapping"])
    for key in sorted(set(data) - _TOP_KEYS):
        p.append(f"unknown top-level key {key!r}")
    for key in sorted(_TOP_KEYS - set(data)):
        p.append(f"missing top-level key {key!r}")
    if p:
        raise KGValidationError(source, p)
    if data["schema_version"] != SCHEMA_VERSION:
        p.append(f"schema_version is {data['schema_version']!r}; this flexaqa reads {SCHEMA_VERSION}")

    classes = _severity_classes(data["severity_classes"], p)
    muscles = tuple(data["muscles"] or ())
    for m, n in Counter(muscles).items():
        if n > 1:
            p.append(f"muscles: {m!r} listed {n} times")
    emg_muscles = {}
    for name, spec in (data["emg_muscles"] or {}).items():
        group = (spec or {}).get("muscle")
        if group not in muscles:
            p.append(f"emg_muscles.{name}.muscle: {group!r} is not one of the muscles list")
        emg_muscles[name] = group
    errors = _errors(data["errors"], classes, p)
    keysteps = _keysteps(data["keysteps"], errors, p)
    actions = tuple(
        _action(i, a, errors, keysteps, muscles, emg_muscles, p) for i, a in enumerate(data["actions"])
    )
    _cross_checks(actions, errors, keysteps, muscles, p)
    if p:
        raise KGValidationError(source, p)
    return KnowledgeGraph(
        version=str(data["version"]),
        schema_version=int(data["schema_version"]),
        provenance=dict(data["provenance"] or {}),
        severity_classes=classes,
        muscles=muscles,
        emg_muscles=emg_muscles,
        errors=errors,
        keysteps=keysteps,
        actions=actions,
        source=source,
    )


def _severity_classes(raw: Any, p: list[str]) -> dict[str, SeverityClass]:
    out = {}
    for name, spec in (raw or {}).items():
        try:
            lo, hi = int(spec["min_weight"]), int(spec["max_weight"])
            out[name] = SeverityClass(name, str(spec.get("description", "")), lo, hi)
            if lo > hi:
                p.append(f"severity_classes.{name}: min_weight {lo} > max_weight {hi}")
        except (KeyError, TypeError, ValueError):
            p.append(f"severity_classes.{name}: needs integer min_weight and max_weight")
    return out


def _errors(raw: Any, classes: dict[str, SeverityClass], p: list[str]) -> dict[str, ErrorType]:
    out = {}
    for code, spec in (raw or {}).items():
        where = f"errors.{code}"
        if not _ET.match(str(code)):
            p.append(f"{where}: code must look like ET001")
        spec = spec or {}
        for key in sorted(set(spec) - {"text", "weight", "severity", "feedback", "note"}):
            p.append(f"{where}: unknown key {key!r}")
        text, weight, sev, fb = (spec.get(k) for k in ("text", "weight", "severity", "feedback"))
        if not text:
            p.append(f"{where}.text is empty")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 10:
            p.append(f"{where}.weight must be an integer 1-10, got {weight!r}")
            weight = 0
        if not fb or not str(fb).strip():
            p.append(f"{where}.feedback is empty: every error type needs a corrective cue")
        if sev not in classes:
            p.append(f"{where}.severity {sev!r} is not one of {sorted(classes)}")
        elif (
            weight
            and not classes[sev].min_weight <= weight <= classes[sev].max_weight
            and not spec.get("note")
        ):
            c = classes[sev]
            p.append(
                f"{where}: weight {weight} is outside {sev} ({c.min_weight}-{c.max_weight}); "
                "fix it or add a note explaining the deviation"
            )
        out[str(code)] = ErrorType(
            str(code), str(text or ""), weight, str(sev), str(fb or ""), spec.get("note")
        )
    expected = [f"ET{i:03d}" for i in range(1, len(out) + 1)]
    if sorted(out) != expected:
        p.append("errors: codes must run ET001..ETnnn without gaps")
    return out


def _keysteps(raw: Any, errors: dict[str, ErrorType], p: list[str]) -> dict[str, Keystep]:
    out = {}
    for code, spec in (raw or {}).items():
        where = f"keysteps.{code}"
        spec = spec or {}
        if not _AK.match(str(code)):
            p.append(f"{where}: code must look like AK01")
        for key in sorted(set(spec) - {"text", "feedback"}):
            p.append(f"{where}: unknown key {key!r}")
        if not spec.get("text"):
            p.append(f"{where}.text is empty")
        fb = dict(spec.get("feedback") or {})
        for err, cue in fb.items():
            if err not in errors:
                p.append(f"{where}.feedback: unknown error {err!r}")
            if not cue or not str(cue).strip():
                p.append(f"{where}.feedback.{err} is empty")
        out[str(code)] = Keystep(str(code), str(spec.get("text", "")), fb)
    expected = [f"AK{i:02d}" for i in range(1, len(out) + 1)]
    if sorted(out) != expected:
        p.append("keysteps: codes must run AK01..AKnn without gaps")
    return out


def _action(
    i: int,
    raw: Any,
    errors: dict[str, ErrorType],
    keysteps: dict[str, Keystep],
    muscles: tuple[str, ...],
    emg_muscles: dict[str, str],
    p: list[str],
) -> Action:
    raw = raw or {}
    where = f"actions[{i}]"
    for key in sorted(set(raw) - _ACTION_KEYS):
        p.append(f"{where}: unknown key {key!r}")
    index = raw.get("index")
    if index != i + 1:
        p.append(f"{where}.index is {index!r}; actions must be listed in order 1..N")
    name = str(raw.get("name") or "")
    where = f"actions[{i}] ({name or '?'})"
    class_id = str(raw.get("class_id") or "")
    if class_id != f"A{i + 1:02d}":
        p.append(f"{where}.class_id is {class_id!r}, expected 'A{i + 1:02d}'")
    slug = str(raw.get("slug") or "")
    if not _SLUG.match(slug):
        p.append(f"{where}.slug {slug!r} must be lower-case words joined by '-'")
    equipment = raw.get("equipment")
    if equipment not in EQUIPMENT:
        p.append(f"{where}.equipment {equipment!r} must be one of {EQUIPMENT}")
    targets = tuple(raw.get("target_muscles") or ())
    if not targets:
        p.append(f"{where}.target_muscles is empty")
    for m in targets:
        if m not in muscles:
            p.append(f"{where}.target_muscles: {m!r} is not one of the muscles list")

    channels = _emg_channels(raw.get("emg_channels") or [], emg_muscles, where, p)
    phases, slots = _phases(raw.get("phases") or [], errors, keysteps, where, p)
    return Action(
        index=int(index) if isinstance(index, int) else i + 1,
        class_id=class_id,
        slug=slug,
        name=name,
        equipment=str(equipment),
        target_muscles=targets,
        emg_channels=tuple(channels),
        phases=tuple(phases),
        slots=tuple(slots),
        aliases=tuple(raw.get("aliases") or ()),
    )


def _emg_channels(
    raw_channels: list, emg_muscles: dict[str, str], where: str, p: list[str]
) -> list[EmgChannel]:
    """An action's sEMG channels; a muscle recorded at several sites of one side numbers its sites."""
    channels = []
    if not raw_channels:
        p.append(f"{where}.emg_channels is empty")
    counts = Counter((c.get("side"), c.get("muscle")) for c in raw_channels)
    seen: Counter = Counter()
    for k, c in enumerate(raw_channels):
        side, muscle = c.get("side"), c.get("muscle")
        if side not in SIDES:
            p.append(f"{where}.emg_channels[{k}].side {side!r} must be left or right")
        if muscle not in emg_muscles:
            p.append(f"{where}.emg_channels[{k}].muscle {muscle!r} is not one of emg_muscles")
        seen[(side, muscle)] += 1
        site = seen[(side, muscle)] if counts[(side, muscle)] > 1 else None
        channels.append(EmgChannel(k, str(side), str(muscle), site))
    return channels


def _phases(
    raw_phases: list, errors: dict[str, ErrorType], keysteps: dict[str, Keystep], where: str, p: list[str]
) -> tuple[list[Phase], list[Slot]]:
    """An action's phases (preparation, then concentric and eccentric) and its (keystep, error) slots."""
    phases = []
    slots = []
    for k, ph in enumerate(raw_phases):
        pname = ph.get("name")
        if pname not in PHASE_NAMES:
            p.append(f"{where}.phases[{k}].name {pname!r} must be one of {PHASE_NAMES}")
        kes = []
        for ke in ph.get("keysteps") or []:
            ak = ke.get("keystep")
            errs = tuple(ke.get("errors") or ())
            if ak not in keysteps:
                p.append(f"{where}.{pname}: unknown keystep {ak!r}")
            if not errs:
                p.append(f"{where}.{pname}.{ak}: no error types listed")
            for e in errs:
                if e not in errors:
                    p.append(f"{where}.{pname}.{ak}: unknown error {e!r}")
                else:
                    slots.append(Slot(str(ak), e, str(pname), errors[e].weight))
                    required_phase = BREATHING_ERROR_PHASE.get(e)
                    if required_phase and pname != required_phase:
                        p.append(
                            f"{where}.{pname}.{ak}: breathing error {e} belongs to the {required_phase} phase"
                        )
            for e, n in Counter(errs).items():
                if n > 1:
                    p.append(f"{where}.{pname}.{ak}: error {e} listed {n} times")
            kes.append(KeystepErrors(str(ak), errs))
        phases.append(Phase(str(pname), tuple(kes)))
    names = [ph.name for ph in phases]
    if sorted(names) != sorted(PHASE_NAMES) or (names and names[0] != "preparation"):
        p.append(
            f"{where}: phases {names} must be preparation first, then concentric and eccentric once each"
        )
    aks = [ke.keystep for ph in phases for ke in ph.keysteps]
    for ak, n in Counter(aks).items():
        if n > 1:
            p.append(f"{where}: keystep {ak} appears {n} times")
    return phases, slots


def _cross_checks(
    actions: tuple[Action, ...],
    errors: dict[str, ErrorType],
    keysteps: dict[str, Keystep],
    muscles: tuple[str, ...],
    p: list[str],
) -> None:
    keys = Counter(k for a in actions for k in {x.casefold() for x in (a.slug, a.name, *a.aliases)})
    for k, n in keys.items():
        if n > 1:
            p.append(f"actions: name/slug/alias {k!r} is used by {n} actions")
    used_ks = {ak for a in actions for ak in a.keystep_codes}
    used_et = {s.error for a in actions for s in a.slots}
    for ak in sorted(set(keysteps) - used_ks):
        p.append(f"keysteps.{ak} is not used by any action")
    for et in sorted(set(errors) - used_et):
        p.append(f"errors.{et} is not used by any action")
    for m in sorted(set(muscles) - {m for a in actions for m in a.target_muscles}):
        p.append(f"muscles: {m!r} is not a target of any action")
    # a keystep-specific cue must refer to an error that keystep actually carries
    carried: dict[str, set[str]] = {}
    for a in actions:
        for s in a.slots:
            carried.setdefault(s.keystep, set()).add(s.error)
    for ak, ks in keysteps.items():
        for err in ks.feedback:
            if err in errors and err not in carried.get(ak, set()):
                p.append(f"keysteps.{ak}.feedback.{err}: {ak} never carries {err}")
