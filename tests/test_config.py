import pytest

from crpo.training.config import ConfigError, TrainConfig, describe, load_config
from crpo.training.trainer import step_items


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("algorithm: grpo\nmax_steps: 7\nlearning_rate: 1.0e-4\n")
    cfg = load_config(TrainConfig, path, ["max_steps=9", "lora=true", "top_p=0.9"])
    assert (cfg.algorithm, cfg.max_steps, cfg.learning_rate, cfg.lora, cfg.top_p) == ("grpo", 9, 1e-4, True, 0.9)


def test_unknown_key_lists_close_matches(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("num_generation: 4\n")
    with pytest.raises(ConfigError, match="unknown config key 'num_generation'; did you mean num_generations"):
        load_config(TrainConfig, path)
    with pytest.raises(ConfigError, match="max_stepz"):
        load_config(TrainConfig, None, ["max_stepz=3"])


def test_wrong_type_and_bad_bool():
    with pytest.raises(ConfigError, match="expects int"):
        load_config(TrainConfig, None, [], max_steps="ten")
    with pytest.raises(ConfigError, match="boolean"):
        load_config(TrainConfig, None, ["lora=maybe"])


def test_every_field_has_help():
    text = describe(TrainConfig)
    assert all(": " in line and len(line.split(": ", 1)[1]) > 5 for line in text.splitlines())


def test_step_items_is_a_permutation_per_epoch_and_deterministic():
    n, batch = 10, 4
    first_epoch = [i for s in range(5) for i in step_items(n, batch, s, seed=3)][:10]
    assert sorted(first_epoch) == list(range(n))
    assert step_items(n, batch, 2, seed=3) == step_items(n, batch, 2, seed=3)
    assert step_items(n, batch, 0, seed=3) != step_items(n, batch, 0, seed=4)
