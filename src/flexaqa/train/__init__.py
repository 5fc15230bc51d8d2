"""Training-loop building blocks (the ``train`` extra): run config, checkpoints, seeding, a generic trainer
over in-memory feature tensors, DDP. ``flexaqa.models`` never imports this package.

Light at import: the config is plain Python; import :mod:`flexaqa.train.trainer` and
:mod:`flexaqa.train.checkpoint` for the torch parts.
"""

from flexaqa.train.config import ConfigError, RunConfig, config_from_dict, load_config, save_config

__all__ = ["ConfigError", "RunConfig", "config_from_dict", "load_config", "save_config"]
