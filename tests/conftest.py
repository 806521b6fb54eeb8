"""Session fixtures shared by the trainer tests: a tiny Qwen3-VL, a small synthetic world, a warm-started model.

Built once per test session (about 30 s on 2 cores together) into pytest's temporary directory, never downloaded:

    tiny_model   a random-initialised tiny Qwen3-VL checkpoint (crpo model tiny)
    tiny_models  {arch: dir} of a tiny checkpoint per family (qwen3_vl, qwen2_5_vl)
    world        crpo synth --train 32 --bench-pairs 8: train.jsonl + mp4 videos
    warm_sft     `crpo sft` output dir (12 steps, loss on every target token) whose final/ is the RL start: a random
                 model never writes `<answer>X</answer>`, earns reward 0 everywhere and so has zero advantages
    warm_model   warm_sft / "final"
    run_crpo     run `.venv/bin/crpo ...` (or another venv script) in a subprocess, offline; returns CompletedProcess
    rl_args      key=value overrides of a small, fast RL run on the warm model and world (output_dir left out)
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported anywhere: nothing here may touch the hub
# One OpenMP thread per process (before torch is imported; subprocesses inherit it). The models are tiny, and on a
# shared or oversubscribed CPU OpenMP threads wait on each other: a tiny CRPO step measured 0.7 s with one thread
# and 2-13 s with two on 2 busy cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import importlib.util
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def free_port() -> int:
    """A loopback TCP port that is free now: the rendezvous port of an `accelerate launch`, so that launches running
    side by side (or beside the other environment's tests) do not meet."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def has_vllm() -> bool:
    """Whether the real vLLM package is installed. (The folder is tests/vllm_env, not tests/vllm: pytest puts tests/
    on sys.path, where a folder named vllm shadows the package, and transformers / TRL then misread its version.)"""
    spec = importlib.util.find_spec("vllm")
    return spec is not None and spec.origin is not None


# tests/vllm_env runs in the vLLM environment (`make test`: .venv-vllm/bin/python -m pytest tests/vllm_env,
# docs/vllm.md); the main environment has no vLLM, so it does not collect that folder at all.
collect_ignore = [] if has_vllm() else ["vllm_env"]

BIN = Path(sys.executable).parent
# 4 of the world's 8 frames (2 temporal patches): halves every step and keeps the tests under their budget.
NUM_FRAMES = 4
SFT_ARGS = ["max_steps=12", "batch_size=8", "learning_rate=3e-3", "loss_on=all", f"num_frames={NUM_FRAMES}"]


def _run(args, timeout=300, check=True, script="crpo", env=None):
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    proc = subprocess.run([str(BIN / script), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="session")
def run_crpo():
    return _run


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from crpo.models.tiny import build_tiny_model
    path = tmp_path_factory.mktemp("models") / "tiny-qwen3vl"
    build_tiny_model("qwen3_vl", path, seed=0)
    return path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict:
    """{arch: directory} of a tiny checkpoint of each family (qwen3_vl, qwen2_5_vl), built once per session."""
    from crpo.models.tiny import ARCHS, build_tiny_model
    root = tmp_path_factory.mktemp("tiny_models")
    for arch in ARCHS:
        build_tiny_model(arch, root / arch, seed=0)
    return {arch: root / arch for arch in ARCHS}


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    from crpo.synth import generate
    path = tmp_path_factory.mktemp("world")
    generate(out=path, train=32, bench_pairs=8, seed=0)
    return path


@pytest.fixture(scope="session")
def warm_sft(tmp_path_factory, tiny_model, world) -> Path:
    out = tmp_path_factory.mktemp("sft") / "run"
    _run(["sft", f"model={tiny_model}", f"train_data={world / 'train.jsonl'}", f"output_dir={out}", *SFT_ARGS])
    return out


@pytest.fixture(scope="session")
def warm_model(warm_sft) -> Path:
    return warm_sft / "final"


@pytest.fixture(scope="session")
def rl_args(warm_model, world) -> list[str]:
    return [f"model={warm_model}", f"train_data={world / 'train.jsonl'}", "num_generations=4", "prompts_per_step=4",
            "max_new_tokens=6", "learning_rate=1e-3", "freeze_vision=false", "report_to=none",
            f"num_frames={NUM_FRAMES}", "log_completions_steps=0"]
