"""`crpo train` / `crpo sft` and their configs on the mistakes users make: every one is one line naming the key,
file or item (exit 2), found before the model loads, and nothing is written into output_dir."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crpo.cli import main as crpo_main

BIN = Path(sys.executable).parent


def run(capsys, *args) -> tuple[int, str]:
    rc = crpo_main([str(a) for a in args])
    err = capsys.readouterr().err
    return rc, err


def one_line(err: str) -> str:
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def base(tmp_path, tiny_model, world):
    return [f"model={tiny_model}", f"train_data={world / 'train.jsonl'}", f"output_dir={tmp_path / 'run'}"]


@pytest.mark.parametrize("override, needles", [
    ("learning_rate=abc", ["override learning_rate=abc", "'learning_rate' expects float, got 'abc'"]),
    ("max_steps=abc", ["override max_steps=abc", "'max_steps' expects int"]),
    ("num_generations=two", ["override num_generations=two", "'num_generations'"]),
    ("lora=yes_please", ["override lora=yes_please", "'lora' expects a boolean"]),
    ("max_steps=0", ["override max_steps=0", "'max_steps' is 0; it must be >= 1"]),
])
def test_bad_override_values_name_the_key_and_the_command_line(tmp_path, capsys, override, needles):
    config = tmp_path / "c.yaml"
    config.write_text("max_steps: 3\nlearning_rate: 1.0e-4\n")
    for command in ("train", "sft"):
        rc, err = run(capsys, command, "--config", config, override)
        line = one_line(err)
        assert rc == 2 and all(n in line for n in needles) and str(config) not in line, line


def test_yaml_mistakes(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("max_steps: 3\nlearning_rate: [1e-5\n")
    rc, err = run(capsys, "train", "--config", config)
    assert rc == 2 and f"{config}:" in one_line(err) and "invalid YAML" in err
    rc, err = run(capsys, "train", "--config", tmp_path / "nope.yaml")
    assert rc == 2 and "nope.yaml: cannot read" in one_line(err)
    config.write_text("lora: yes_please\n")
    rc, err = run(capsys, "train", "--config", config)
    assert rc == 2 and f"{config}: config key 'lora'" in one_line(err)

    from crpo.training.config import TrainConfig, load_config
    config.write_text("learning_rate: 1e-5\nmax_steps: 2\nbeta: 1e-2\n")  # YAML 1.1 reads 1e-5 as a string
    cfg = load_config(TrainConfig, config)
    assert (cfg.learning_rate, cfg.beta, cfg.max_steps) == (1e-5, 1e-2, 2)


def test_paths_and_items_are_checked_before_the_model_loads(tmp_path, capsys, base, tiny_model, world):
    run_dir = tmp_path / "trained"
    shutil.copytree(tiny_model, run_dir / "final")
    (run_dir / "config.json").write_text(json.dumps({"algorithm": "crpo"}))
    (tmp_path / "afile").write_text("x")
    rows = (world / "train.jsonl").read_text().splitlines()
    (tmp_path / "empty.jsonl").write_text("\n")
    (tmp_path / "dup.jsonl").write_text("\n".join(rows[:3] + [rows[1]]) + "\n")
    long_row = {**json.loads(rows[0]), "question": "Which way does the square move? " * 4000}
    (tmp_path / "long.jsonl").write_text("\n".join(rows[1:3] + [json.dumps(long_row)]) + "\n")
    cases = [
        (["model=models/nope"], "config key 'model' is 'models/nope': no such directory"),
        ([f"model={run_dir}"], f"its model is {run_dir / 'final'}"),
        ([f"model={tmp_path / 'afile'}"], "is a file, not a model directory"),
        ([f"route_cache={tmp_path / 'route.jsonl'}"], "config key 'route_cache'"),
        ([f"train_data={tmp_path / 'nope.jsonl'}"], "config key 'train_data'"),
        ([f"video_root={tmp_path / 'novideos'}"], "config key 'video_root'"),
        ([f"output_dir={tmp_path / 'afile'}"], "config key 'output_dir'"),
        ([f"output_dir={tmp_path / 'afile' / 'run'}"], "is a file"),
        ([f"train_data={tmp_path / 'empty.jsonl'}"], "no items"),
        ([f"train_data={tmp_path / 'dup.jsonl'}"], ":4: duplicate id"),
        ([f"train_data={tmp_path / 'long.jsonl'}"], f"item '{long_row['id']}'"),
    ]
    for command in ("train", "sft"):
        for overrides, needle in cases:
            rc, err = run(capsys, command, *base, *overrides)
            line = one_line(err)
            assert rc == 2 and needle in line, (command, overrides, line)
            assert not (tmp_path / "run").exists(), (command, overrides)  # no config.json, no tensorboard/
    assert "max_text_tokens" in one_line(run(capsys, "train", *base, f"train_data={tmp_path / 'long.jsonl'}")[1])
    assert "route" in one_line(run(capsys, "train", *base, f"route_cache={tmp_path / 'route.jsonl'}")[1])


def test_help_lists_every_algorithm_and_says_which_transform_training_uses():
    out = subprocess.run([str(BIN / "crpo"), "--help"], capture_output=True, text=True).stdout
    train = subprocess.run([str(BIN / "crpo"), "train", "--help"], capture_output=True, text=True).stdout
    route = subprocess.run([str(BIN / "crpo"), "route", "--help"], capture_output=True, text=True).stdout
    from crpo.rl.methods import METHODS
    for algorithm in METHODS:
        assert algorithm in out and algorithm in train.split("\n\n")[1], algorithm
    assert "class_transform" in " ".join(route.split()) and "crpo train" in route
