"""One config dataclass per entry point: YAML in, `key=value` overrides, every field with its help text.

    cfg = load_config(TrainConfig, "configs/demo_cpu.yaml", ["max_steps=50", "algorithm=grpo"])

An unknown key is an error that lists the close matches, so a typo never silently trains the default.
"""
from __future__ import annotations

import difflib
import os
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

import yaml

from crpo.data.items import ConfigError  # noqa: F401  (defined with DataError: the launch layer raises it too)


def _help(text: str, default=MISSING, choices: tuple | None = None, **kw):
    """A field with its help text; `choices` are checked when the config is built (`check_choices`)."""
    meta = {"help": text, "choices": choices}
    if default is MISSING and "default_factory" not in kw:
        return field(metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


def check_choices(cfg) -> None:
    """A value outside a field's choices is a one-line error naming the allowed values, before any model loads."""
    for f in fields(cfg):
        allowed = f.metadata.get("choices")
        if allowed and getattr(cfg, f.name) not in allowed:
            raise ConfigError(f"config key '{f.name}' is '{getattr(cfg, f.name)}'; allowed: {', '.join(allowed)}")


# Lower bounds of numeric keys (inclusive); a value below is a one-line error before any model loads.
MINIMUM = {"max_steps": 1, "num_frames": 1, "learning_rate": 0.0, "warmup_steps": 0, "max_grad_norm": 0.0,
           "lora_r": 1, "save_steps": 0, "save_total_limit": 0, "num_generations": 2, "prompts_per_step": 1,
           "max_new_tokens": 1, "temperature": 0.0, "num_iterations": 1, "beta": 0.0, "micro_batches": 1,
           "batch_size": 1, "eval_steps": 0, "eval_batch_size": 1, "max_pixels": 0, "max_prompt_length": 0,
           "max_text_tokens": 0,
           "generation_batch_size": 0, "vllm_kv_cache_gb": 0.0, "vllm_max_model_len": 0,
           "vllm_importance_sampling_cap": 1.0}
# Keys that were renamed: the old name is an error that names the new one (a silent default would train wrongly).
RENAMED = {"gradient_accumulation_steps": "micro_batches (the rollouts of one RL step split into N micro-batches; "
                                          "the optimizer steps once per RL step)"}


def check_ranges(cfg) -> None:
    names = {f.name for f in fields(cfg)}
    for key, low in MINIMUM.items():
        if key in names and getattr(cfg, key) < low:
            raise ConfigError(f"config key '{key}' is {getattr(cfg, key)}; it must be >= {low}")
    if "top_p" in names and not 0 < cfg.top_p <= 1:
        raise ConfigError(f"config key 'top_p' is {cfg.top_p}; it must be in (0, 1]")


@dataclass
class RunConfig:
    """What every training entry point (`crpo train`, `crpo sft`) shares: data, model, optimisation, checkpoints."""
    model: str = _help("local path of a Hugging Face Qwen3-VL / Qwen2.5-VL checkpoint (never downloaded)", "")
    train_data: str = _help("items JSONL (see README: data schema)", "")
    video_root: str = _help("directory the item video paths are relative to (default: the folder of train_data)", "")
    output_dir: str = _help("checkpoints (checkpoint-N/), final model (final/), metrics.jsonl", "runs/train")
    seed: int = _help("seed of data order, sampling and initialisation", 0)
    num_frames: int = _help("frames sampled per clip (even: Qwen's temporal patch is 2 frames)", 8)
    max_pixels: int = _help("per-frame pixel budget when decoding (0 = keep the source size)", 0)
    answer_format: str = _help("think: <think>..</think><answer>..</answer>; answer: <answer>..</answer> only", "answer",
                               choices=("think", "answer"))
    max_text_tokens: int = _help("error (naming the item) before the model loads when an item's prompt text, "
                                 "without the video, is longer than this many tokens; 0 = no limit", 8192)

    max_steps: int = _help("optimizer steps", 20)
    learning_rate: float = _help("AdamW learning rate", 1e-5)
    weight_decay: float = _help("AdamW weight decay", 0.0)
    lr_scheduler: str = _help("constant | linear | cosine (after warm-up)", "constant",
                              choices=("constant", "linear", "cosine"))
    warmup_steps: int = _help("linear warm-up steps", 0)
    max_grad_norm: float = _help("gradient clipping (0 = off)", 1.0)
    dtype: str = _help("compute dtype. bfloat16: forward and generation in bf16 (autocast), trainable weights and "
                       "optimizer state kept in fp32 (master weights; a 1e-6 update would round away in bf16), "
                       "frozen weights stored in bf16", "float32", choices=("float32", "bfloat16"))
    gradient_checkpointing: bool = _help("recompute activations in backward to save memory", False)
    freeze_vision: bool = _help("keep the vision tower frozen", True)
    lora: bool = _help("train LoRA adapters (peft); in RL the reference policy is the adapter disabled", False)
    lora_r: int = _help("LoRA rank", 16)
    lora_alpha: int = _help("LoRA alpha", 32)
    lora_dropout: float = _help("LoRA dropout", 0.0)
    lora_target_modules: str = _help("comma-separated module names for LoRA", "q_proj,k_proj,v_proj,o_proj")
    save_steps: int = _help("checkpoint every N steps (0 = only at the end)", 0)
    save_total_limit: int = _help("keep only the newest N checkpoint-* folders (0 = keep all)", 0)
    resume: bool = _help("continue from the newest checkpoint in output_dir", False)

    def __post_init__(self):
        check_choices(self)
        check_ranges(self)


@dataclass
class TrainConfig(RunConfig):
    algorithm: str = _help("crpo | grpo | grpo_cf_aug (counterfactual clips as plain augmentation, needs "
                           "counterfactual answers) | tgrpo (Video-R1) | arrowrl (reverse reward); formulas in "
                           "crpo/rl/methods/", "crpo", choices=("crpo", "grpo", "grpo_cf_aug", "tgrpo", "arrowrl"))
    counterfactual: str = _help("transform of the counterfactual branch: auto (the item's question class picks "
                                "hflip or reverse) | hflip | reverse | hflip+reverse", "auto",
                                choices=("auto", "hflip", "reverse", "hflip+reverse"))
    route_cache: str = _help("JSONL of question classes and option maps from `crpo route --llm` (read, never "
                             "computed, in training; a missing file is an error); items not in it are routed by "
                             "the lexicon, and an LLM row that contradicts a definite lexicon rule gives its item "
                             "no counterfactual branch", "")
    null_option: str = _help("append 'None of the above' to every multiple-choice item on both branches: auto "
                             "(crpo only) | on | off", "auto", choices=("auto", "on", "off"))
    max_prompt_length: int = _help("error (naming the item) when a prompt with its vision tokens is longer; 0 = no limit", 0)

    # --- rollouts
    num_generations: int = _help("G: completions per branch and prompt (GRPO alone gets 2G on the original, "
                                 "so every algorithm generates the same number of completions)", 4)
    prompts_per_step: int = _help("items per optimizer step, summed over all processes", 4)
    max_new_tokens: int = _help("completion length limit", 32)
    temperature: float = _help("sampling temperature of rollouts", 1.0)
    top_p: float = _help("nucleus sampling of rollouts", 1.0)
    generation_batch_size: int = _help("rows (completions) per generate call, so a step's rows need not all "
                                       "prefill at once; 0 = all of a process's rows in one call. The rollouts "
                                       "are the same whatever the value (per-rollout seeds)", 0)

    # --- vLLM rollout engine (crpo/training/vllm_engine.py, docs/vllm.md; runs in the .venv-vllm environment)
    rollout_engine: str = _help("who samples the rollouts: hf (transformers generate) | vllm (a vLLM engine in each "
                                "training process; the policy's weights are loaded into it before every step's "
                                "rollouts)", "hf", choices=("hf", "vllm"))
    vllm_gpu_memory_utilization: float = _help("vLLM's memory share, in (0, 1]: on a GPU the fraction of its "
                                               "memory the engine (weights + KV cache) may use; on CPU the "
                                               "fraction of RAM the whole process (trainer included) may reach "
                                               "before the KV cache is sized; vllm_kv_cache_gb overrides it", 0.3)
    vllm_kv_cache_gb: float = _help("vLLM KV cache size in GiB; 0 = sized from vllm_gpu_memory_utilization", 0.0)
    vllm_max_model_len: int = _help("longest prompt + completion vLLM accepts, in tokens; 0 = the model's own "
                                    "limit (the KV cache must hold one such sequence)", 0)
    vllm_sleep: bool = _help("GPU only: free the engine's weights and KV cache after each rollout phase (vLLM "
                             "sleep level 2) and wake it before the next, so trainer and engine need not fit at "
                             "once; ignored on CPU. Written as TRL does it, not yet run on a GPU here", False)
    vllm_enforce_eager: bool = _help("run vLLM eagerly: no CUDA graphs / torch.compile (slower decoding on a GPU, "
                                     "no compile at start-up; on CPU the compile takes minutes)", True)
    vllm_importance_sampling_correction: bool = _help("truncated importance sampling against the engine-vs-trainer "
                                                      "logit mismatch (TRL's): each token's loss is weighted by "
                                                      "min(exp(logp_trainer_old - logp_vllm), "
                                                      "vllm_importance_sampling_cap)", False)
    vllm_importance_sampling_cap: float = _help("upper bound of that per-token weight (>= 1)", 3.0)

    # --- rewards
    accuracy_weight: float = _help("weight of the accuracy reward (original branch; both branches for grpo_cf_aug "
                                   "and crr_mode mapped)", 1.0)
    format_weight: float = _help("weight of the format reward (answer template), on every trained rollout", 0.0)
    behave_weight: float = _help("crpo: weight of R_behave on the counterfactual branch (answer / any_change modes)",
                                 1.0)
    crr_weight: float = _help("weight of the Counterfactual Relation Reward terms (crpo only)", 1.0)
    crr_mode: str = _help("what the counterfactual branch is rewarded for (crpo/rl/methods/crpo.py): answer = the "
                          "counterfactual answer the question text tells (left -> right under a mirror; 'None of "
                          "the above' where the transformed answer is not listed) | any_change = the paper read "
                          "literally, any other answer on dynamic items (pays 'None of the above' and wrong options "
                          "too; for ablations) | mapped = accuracy on both branches + pairwise CRR along the "
                          "router's option map", "answer", choices=("answer", "any_change", "mapped"))
    crr_unmapped: str = _help("crr_mode=answer, an item whose counterfactual answer the text does not tell: skip = no "
                              "counterfactual branch (2G original rollouts) | change = the any_change rule for it "
                              "(a blind policy gains by leaving correct answers there)", "skip",
                              choices=("skip", "change"))
    crr_aggregate: str = _help("how the other branch is summarised in the CRR terms: mean (its rate) | majority",
                               "mean", choices=("mean", "majority"))
    crr_gate_on_correct: bool = _help("mapped: only correct rollouts earn CRR (answer / any_change always gate)", True)
    tgrpo_alpha: float = _help("T-GRPO bonus added to correct ordered rollouts", 0.3)
    tgrpo_mu: float = _help("T-GRPO: bonus when acc(ordered) >= mu * acc(shuffled)", 0.8)
    arrow_alpha: float = _help("ArrowRL: weight of the reverse reward alpha * (1 - sim(o, o_rev))", 0.25)
    arrow_gamma: float = _help("ArrowRL: drop the reverse reward when reversed answers match the target above gamma",
                               0.75)

    # --- advantages and loss
    advantage_grouping: str = _help("joint: both trained branches of an item form one group of 2G (crpo's "
                                    "cross-branch terms act only so); per_branch: each branch its own group",
                                    "joint", choices=("joint", "per_branch"))
    scale_rewards: str = _help("advantage scale: group (GRPO std) | batch (std over the step) | none (Dr. GRPO) | "
                               "auto (batch for tgrpo, whose bonus a group std removes; group otherwise)", "auto",
                               choices=("auto", "group", "batch", "none"))
    loss_type: str = _help("grpo | bnpo | dr_grpo | dapo (token aggregation, see crpo/rl/algorithms.py)", "grpo",
                           choices=("grpo", "bnpo", "dr_grpo", "dapo"))
    num_iterations: int = _help("PPO epochs over each batch of rollouts (old log-probs stored before the first)", 1)
    epsilon_low: float = _help("lower clip of the probability ratio", 0.2)
    epsilon_high: float = _help("upper clip of the probability ratio", 0.2)
    beta: float = _help("KL penalty to the reference policy (k3 estimator); 0 = no reference model", 0.0)
    micro_batches: int = _help("split each process's rollouts of a step into N micro-batches for the loss "
                               "passes (memory); the optimizer still steps once per RL step (accelerate's "
                               "gradient accumulation over the N)", 1)

    # --- logging
    log_completions_steps: int = _help("write sample completions of both branches every N steps (0 = never)", 10)
    eval_steps: int = _help("evaluate eval_bench before step 1, every N steps and at the end into "
                            "OUTPUT_DIR/evals.jsonl; 0 = never", 0)
    eval_bench: str = _help("bench JSONL evaluated during training (e.g. `crpo synth` or `crpo bench build` output)",
                            "")
    eval_video_root: str = _help("video root of eval_bench (default: its folder)", "")
    eval_format: str = _help("scorer of eval_bench", "dybench",
                             choices=("dybench", "timeblind", "tempcompass", "vinoground", "mvbench"))
    eval_batch_size: int = _help("items per greedy generate call during evaluation", 32)
    log_rollouts: bool = _help("write OUTPUT_DIR/rollouts.jsonl: every completion's answer, reward terms, total "
                               "and advantage", False)
    report_to: str = _help("tensorboard | wandb | none (metrics.jsonl is always written)", "tensorboard",
                           choices=("tensorboard", "wandb", "none"))


    def __post_init__(self):
        super().__post_init__()
        if self.eval_steps and not self.eval_bench:
            raise ConfigError("eval_steps is set but eval_bench is empty: name the bench JSONL to evaluate")


@dataclass
class SFTConfig(RunConfig):
    output_dir: str = _help("checkpoints, final/ model and metrics.jsonl", "runs/sft")
    loss_on: str = _help("both: mean NLL of the answer tokens + mean NLL of the format tokens; all: mean over every "
                         "completion token; answer: only the answer tokens (no format learned)", "both",
                         choices=("both", "all", "answer"))
    batch_size: int = _help("items per optimizer step", 16)
    max_steps: int = _help("optimizer steps", 30)
    learning_rate: float = _help("AdamW learning rate", 1e-3)
    freeze_vision: bool = _help("keep the vision tower frozen", False)


def _coerce(value: str, typ):
    """A command-line (or YAML text) value as the field's type; ValueError with the reason when it is not one."""
    if typ is bool:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expects a boolean (true or false), got '{value}'")
    if typ in (int, float):
        try:
            return typ(value)
        except ValueError:
            raise ValueError(f"expects {typ.__name__}, got '{value}'") from None
    return typ(value)


def _read_yaml(path) -> dict:
    """The YAML config file as a mapping; a missing file or a syntax error is one line naming the file (and line)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a YAML config file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror})") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML ({getattr(e, 'problem', None) or e})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(loaded).__name__}")
    return loaded


def load_config(cls, path=None, overrides=(), **defaults):
    """Build `cls` from defaults < YAML file < key=value overrides; unknown keys list their close matches.

    Every error names where the offending value came from: `FILE: config key 'k' ...` for the YAML file,
    `override k=v: ...` for the command line. YAML text that reads as a number of the field's type is one
    (YAML 1.1 reads `1e-5` as a string: it wants `1.0e-5`), as it is on the command line.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    values, source = dict(defaults), {}
    if path:
        for key, value in _read_yaml(path).items():
            values[key], source[key] = value, f"{path}: config key '{key}'"
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not key=value")
        key, value = item.split("=", 1)
        values[key], source[key] = value, f"override {key}={value}"
        if key in hints:
            try:
                values[key] = _coerce(value, hints[key])
            except ValueError as e:
                raise ConfigError(f"{source[key]}: config key '{key}' {e}") from None
    for key in values:
        where = source.get(key, "defaults").split(": config key")[0]
        if key in RENAMED and key not in names:
            raise ConfigError(f"{where}: config key '{key}' was renamed to {RENAMED[key]}")
        if key not in names:
            close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"{where}: unknown config key '{key}'{hint}")
    for key, value in values.items():
        typ = hints[key]
        if isinstance(value, str) and typ in (int, float, bool):
            try:
                values[key] = value = _coerce(value, typ)
            except ValueError as e:
                raise ConfigError(f"{source.get(key, key)} {e}") from None
        if value is not None and not isinstance(value, typ) and not (typ is float and isinstance(value, int)):
            raise ConfigError(f"{source.get(key, key)} expects {typ.__name__}, got {value!r}")
        if typ is int and isinstance(value, bool):
            raise ConfigError(f"{source.get(key, key)} expects int, got {value!r}")
    try:
        return cls(**values)
    except ConfigError as e:
        # a range or choice error names its key; say where that key's value came from
        key = next((k for k in source if f"'{k}'" in str(e)), None)
        where = source[key].split(": config key")[0] if key else (path or "overrides")
        raise ConfigError(f"{where}: {e}") from None


def _writable_dir_problem(path: Path) -> str | None:
    """Why `path` cannot be (or become) a directory this process writes into, or None; creates nothing."""
    if path.exists():
        if not path.is_dir():
            return "is a file, not a directory"
        return None if os.access(path, os.W_OK | os.X_OK) else "is not writable"
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created: {parent} is a file"
    return None if os.access(parent, os.W_OK | os.X_OK) else f"cannot be created: {parent} is not writable"


def check_paths(cfg) -> None:
    """Every path a run reads or writes, checked before a model loads or an output is written, one line each:
    the input files exist, the folders are folders, output_dir can be written. (A route cache that does not
    exist would otherwise be ignored: the README's train command names one that only `crpo route --llm` writes.)"""
    names = {f.name for f in fields(cfg)}

    def need(key: str, kind: str, why: str = "") -> None:
        value = getattr(cfg, key, "") if key in names else ""
        if not value:
            return
        ok = Path(value).is_file() if kind == "file" else Path(value).is_dir()
        if not ok:
            state = "no such file" if not Path(value).exists() else f"not a {kind}"
            raise ConfigError(f"config key '{key}' is '{value}': {state}{why}")

    if not getattr(cfg, "train_data", ""):
        raise ConfigError("config key 'train_data' is empty: name the items JSONL to train on")
    need("train_data", "file")
    need("video_root", "directory")
    need("route_cache", "file", " (`crpo route ITEMS --llm MODEL --cache FILE` writes one; leave route_cache "
                                "empty to class items with the lexicon router)")
    if getattr(cfg, "eval_steps", 0):
        need("eval_bench", "file")
        need("eval_video_root", "directory")
    problem = _writable_dir_problem(Path(cfg.output_dir))
    if problem:
        raise ConfigError(f"config key 'output_dir' is '{cfg.output_dir}': {problem}")


def describe(cls) -> str:
    """Every field with its default and help text, for `--help` epilogues and the README."""
    return "\n".join(f"  {f.name} = {f.default!r}: {f.metadata['help']}" for f in fields(cls))
