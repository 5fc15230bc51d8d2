"""The JSON schema of the coach report and a small validator for the subset of JSON Schema it uses.

The validator covers ``type``, ``const``, ``enum``, ``required``, ``properties``, ``additionalProperties``,
``items``, ``minItems``/``maxItems``, ``minimum``/``maximum``, ``pattern`` and local ``$ref``; it needs no
third-party package. (With ``jsonschema`` installed, the tests also check the schema with it.)
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from flexaqa.coach._types import CoachError

SCHEMA_PATH = Path(__file__).with_name("data") / "report.schema.json"
_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "integer": int,
    "number": (int, float),
}


class ReportSchemaError(CoachError):
    """A coach report breaks its schema; ``problems`` lists every finding."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems[:20])
        super().__init__(f"the coach report breaks {SCHEMA_PATH.name} ({len(problems)} problem(s)):\n{lines}")


@lru_cache(maxsize=1)
def report_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _is(value, t: str) -> bool:
    if t in ("integer", "number") and isinstance(value, bool):
        return False
    if t == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[t])


def _check(value, schema: dict, root: dict, path: str, out: list[str]) -> None:
    if "$ref" in schema:
        ref = schema["$ref"]
        node = root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        _check(value, node, root, path, out)
        return
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: expected {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, t) for t in types):
            out.append(f"{path}: expected {' or '.join(types)}, got {type(value).__name__}")
            return
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                out.append(f"{path}: missing required field {key!r}")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, v in value.items():
            if key in props:
                _check(v, props[key], root, f"{path}.{key}", out)
            elif extra is False:
                out.append(f"{path}: unexpected field {key!r}")
            elif isinstance(extra, dict):
                _check(v, extra, root, f"{path}.{key}", out)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(f"{path}: expected at least {schema['minItems']} items, got {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(f"{path}: expected at most {schema['maxItems']} items, got {len(value)}")
        if "items" in schema:
            for i, v in enumerate(value):
                _check(v, schema["items"], root, f"{path}[{i}]", out)
    if _is(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(f"{path}: {value!r} does not match {schema['pattern']}")


def report_problems(report: dict) -> list[str]:
    """Every way ``report`` breaks the schema (empty when valid)."""
    schema = report_schema()
    out: list[str] = []
    _check(report, schema, schema, "report", out)
    return out


def validate_report(report: dict) -> dict:
    """Return ``report`` if it validates, else raise :class:`ReportSchemaError`."""
    problems = report_problems(report)
    if problems:
        raise ReportSchemaError(problems)
    return report
