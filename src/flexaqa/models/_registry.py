"""An explicit model registry (timm style): ``@register_model`` builders, ``create_model``, ``list_models``.

A builder is a small function with keyword-only typed arguments that returns an ``nn.Module``.
``create_model`` records the name and the arguments on the model (``model.model_name``, ``model.model_args``)
so a checkpoint can rebuild it without the code that made it.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from flexaqa.errors import FlexaqaError


class ModelError(FlexaqaError, ValueError):
    """Unknown model name, bad builder argument, bad weights file, or a model used before it is prepared."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    fn: Callable
    kind: str  # "aqa" (a scoring head over features), "video", "pose", "emg", "image"
    doc: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(kind: str) -> Callable[[Callable], Callable]:
    """Register the decorated builder under its function name; ``kind`` groups models for listing."""

    def deco(fn: Callable) -> Callable:
        if fn.__name__ in _REGISTRY:
            raise ModelError(f"model {fn.__name__!r} is registered twice")
        doc = (inspect.getdoc(fn) or "").split("\n")[0]
        _REGISTRY[fn.__name__] = ModelEntry(fn.__name__, fn, kind, doc)
        return fn

    return deco


def list_models(pattern: str = "*", *, kind: str | None = None) -> list[str]:
    """Sorted names of the registered models matching a shell ``pattern`` (and ``kind`` if given)."""
    return sorted(n for n, e in _REGISTRY.items() if fnmatch.fnmatch(n, pattern) and kind in (None, e.kind))


def model_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = (
            f"; did you mean {', '.join(close)}?" if close else f"; known models: {', '.join(list_models())}"
        )
        raise ModelError(f"unknown model {name!r}{hint}")
    return _REGISTRY[name]


def create_model(name: str, **kwargs):
    """Build a registered model. ``None`` arguments are dropped so unset options never override defaults."""
    entry = model_entry(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    params = inspect.signature(entry.fn).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ModelError(
            f"model {name!r} has no argument(s) {', '.join(unknown)}; it takes {', '.join(params) or 'none'}"
        )
    model = entry.fn(**kwargs)
    model.model_name = name
    model.model_args = dict(kwargs)
    return model
