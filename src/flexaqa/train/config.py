"""The configuration of one training run: a dataclass loaded from YAML, overridden, saved beside the run.

>>> cfg = load_config(overrides=["epochs=3", "model_args.variant=mv"])
>>> cfg.epochs, cfg.model_args
(3, {'variant': 'mv'})
>>> load_config(overrides=["epoch=3"])
Traceback (most recent call last):
...
flexaqa.train.config.ConfigError: overrides: unknown key 'epoch' (did you mean epochs?)
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flexaqa._io import atomic_write_text, missing_file_message
from flexaqa.errors import FlexaqaError, InputError


class ConfigError(FlexaqaError, ValueError):
    """A run configuration with an unknown key, a bad value or an unreadable file."""


@dataclass
class RunConfig:
    """Everything that decides a training run's result (saved as ``config.yaml`` and in every checkpoint)."""

    model: str = "core_gart"  # a name from flexaqa.models.list_models()
    model_args: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the model builder
    epochs: int = 50
    batch_size: int = 8
    lr: float = 1e-3
    encoder_lr: float = 1e-4  # learning rate of the encoders in end-to-end fine-tuning (the head uses lr)
    weight_decay: float = 0.0
    grad_accum: int = 1  # optimiser step every N batches
    seed: int = 0
    score_range: tuple[float, float] = (0.0, 100.0)  # (min, max) for R-ℓ2, explicit
    select_metric: str = "spearman"  # validation metric that picks the best epoch: spearman | rl2
    device: str = "cpu"
    progress: bool = True  # tqdm bar on rank 0

    def __post_init__(self):
        for names, kind in (
            (("epochs", "batch_size", "grad_accum", "seed"), int),
            (("lr", "encoder_lr", "weight_decay"), float),
        ):
            for name in names:  # YAML 1.1 reads 3e-3 as a string; accept numbers written any usual way
                value = getattr(self, name)
                try:
                    if isinstance(value, bool) or (kind is int and float(value) != int(float(value))):
                        raise ValueError
                    setattr(self, name, kind(float(value)))
                except (TypeError, ValueError):
                    raise ConfigError(f"{name} must be a number ({kind.__name__}), got {value!r}") from None
        if not isinstance(self.progress, bool):
            raise ConfigError(f"progress must be true or false, got {self.progress!r}")
        self.score_range = tuple(float(v) for v in self.score_range)
        if len(self.score_range) != 2 or not self.score_range[1] > self.score_range[0]:
            raise ConfigError(f"score_range must be [min, max] with max > min, got {list(self.score_range)}")
        for name in ("epochs", "batch_size", "grad_accum"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.select_metric not in ("spearman", "rl2"):
            raise ConfigError(f"select_metric must be 'spearman' or 'rl2', got {self.select_metric!r}")
        if not isinstance(self.model_args, dict):
            raise ConfigError(f"model_args must be a mapping, got {type(self.model_args).__name__}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["score_range"] = list(self.score_range)
        return d


_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


def _check_keys(keys, source: str) -> None:
    for key in keys:
        if key not in _FIELDS:
            close = difflib.get_close_matches(key, _FIELDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(_FIELDS)})"
            raise ConfigError(f"{source}: unknown key {key!r}{hint}")


def config_from_dict(data: Mapping[str, Any], *, source: str = "config") -> RunConfig:
    """Build a :class:`RunConfig`, rejecting unknown keys (a typo must not pass silently)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
    _check_keys(data, source)
    try:
        return RunConfig(**dict(data))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def parse_overrides(overrides: Sequence[str] | Mapping[str, Any]) -> dict[str, Any]:
    """``["epochs=3", "model_args.variant=mv"]`` -> ``{"epochs": 3, "model_args.variant": "mv"}`` (YAML values)."""
    if isinstance(overrides, Mapping):
        return dict(overrides)
    out = {}
    for item in overrides:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like key=value")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return out


def load_config(
    path: str | Path | None = None, *, overrides: Sequence[str] | Mapping[str, Any] = ()
) -> RunConfig:
    """Defaults, then the YAML file at ``path``, then ``overrides`` (``key=value``; ``model_args.K=V``)."""
    data: dict[str, Any] = {}
    if path is not None:
        if not Path(path).is_file():
            raise InputError(missing_file_message(path, "run config file (YAML)"))
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is not None:
            if not isinstance(loaded, Mapping):
                raise ConfigError(f"{path}: expected a mapping of settings at the top level")
            _check_keys(loaded, str(path))
            data.update(loaded)
    model_args = dict(data.get("model_args") or {})
    for key, value in parse_overrides(overrides).items():
        if key.startswith("model_args."):
            model_args[key.split(".", 1)[1]] = value
        else:
            _check_keys([key], "overrides")
            data[key] = value
    data["model_args"] = {**dict(data.get("model_args") or {}), **model_args}
    return config_from_dict(data, source=str(path) if path else "overrides")


def save_config(config: RunConfig, path: str | Path) -> Path:
    """Write ``config`` as YAML (atomically); :func:`load_config` reads it back unchanged."""
    return atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
