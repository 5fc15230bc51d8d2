"""flexaqa.train.config: YAML + overrides, unknown keys rejected, saved configs read back unchanged."""

from __future__ import annotations

import pytest

from flexaqa.train import ConfigError, RunConfig, load_config, save_config


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: usdl\nlr: 3e-4\nmodel_args:\n  variant: mv\n  bins: 51\nscore_range: [20, 90]\n")
    cfg = load_config(path, overrides=["epochs=7", "model_args.variant=sv", "lr=1e-3"])
    assert (cfg.model, cfg.epochs, cfg.lr, cfg.score_range) == ("usdl", 7, 1e-3, (20.0, 90.0))
    assert cfg.model_args == {"variant": "sv", "bins": 51}
    save_config(cfg, tmp_path / "out" / "config.yaml")
    assert load_config(tmp_path / "out" / "config.yaml") == cfg


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("epoch: 3\n", [], "unknown key 'epoch' (did you mean epochs?)"),
        ("", ["lr"], "key=value"),
        ("", ["batch_sise=4"], "did you mean batch_size"),
        ("", ["epochs=0"], "epochs must be >= 1"),
        ("", ["lr=fast"], "lr must be a number"),
        ("", ["score_range=[5, 5]"], "max > min"),
        ("[1, 2]\n", [], "mapping"),
        ("a: [\n", [], "not valid YAML"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path, text, overrides, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path, overrides=overrides)
    assert message in str(err.value)


def test_defaults_are_valid():
    assert RunConfig().to_dict()["score_range"] == [0.0, 100.0]
