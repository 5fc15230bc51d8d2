"""Run the docstring examples of every flexaqa module that has some (they are documentation that must stay true)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import flexaqa


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(flexaqa.__path__, prefix="flexaqa."):
        spec = importlib.util.find_spec(info.name)
        origin = getattr(spec, "origin", None)
        if origin and origin.endswith(".py"):
            with open(origin, encoding="utf-8") as fh:
                if ">>> " in fh.read():
                    names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
