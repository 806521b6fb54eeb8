"""One config dataclass per entry point: YAML in, `key=value` overrides, every field with its help text.

    cfg = load_config(TrainConfig, "configs/demo_cpu.yaml", ["max_steps=50", "algorithm=grpo"])

An unknown key is an error that lists the close matches, so a typo never silently trains the default.
"""
from __future__ import annotations

import difflib
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

import yaml


class ConfigError(ValueError):
    pass


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
                           "crpo/methods/", "crpo", choices=("crpo", "grpo", "grpo_cf_aug", "tgrpo", "arrowrl"))
    counterfactual: str = _help("transform of the counterfactual branch: auto (the item's question class picks "
                                "hflip or reverse) | hflip | reverse | hflip+reverse", "auto",
                                choices=("auto", "hflip", "reverse", "hflip+reverse"))
    route_cache: str = _help("JSONL of question classes from `crpo route --llm` (read, never computed, in "
                             "training); items not in it are classed by the lexicon router", "")
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

    # --- vLLM rollout engine (crpo/vllm_engine.py, docs/vllm.md; runs in the .venv-vllm environment)
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
                                   "and crr_mode mapped/differ)", 1.0)
    format_weight: float = _help("weight of the format reward (answer template), on every trained rollout", 0.0)
    behave_weight: float = _help("crpo paper mode: weight of R_behave on the counterfactual branch (answer "
                                 "changed for dynamic items, correct for static ones)", 1.0)
    crr_weight: float = _help("weight of the Counterfactual Relation Reward terms (crpo only)", 1.0)
    crr_mode: str = _help("paper: label-free gated terms (R_CRR^orig = acc * rate of expected counterfactual "
                          "behaviour, R_CRR^aug = behave * rate of correct originals); mapped: the counterfactual "
                          "answer must be the router's; differ: any different answer satisfies 'change'", "paper",
                          choices=("paper", "mapped", "differ"))
    crr_aggregate: str = _help("paper mode: how the other branch is summarised: mean (its rate) | majority", "mean",
                               choices=("mean", "majority"))
    crr_gate_on_correct: bool = _help("mapped/differ: only correct rollouts earn CRR (paper mode always gates)", True)
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
    loss_type: str = _help("grpo | bnpo | dr_grpo | dapo (token aggregation, see crpo/algorithms.py)", "grpo",
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
    if typ is bool:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"expected a boolean, got '{value}'")
    return typ(value)


def load_config(cls, path=None, overrides=(), **defaults):
    """Build `cls` from defaults < YAML file < key=value overrides; unknown keys list their close matches."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    values = dict(defaults)
    if path:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of config keys")
        values.update(loaded)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not key=value")
        key, value = item.split("=", 1)
        values[key] = value if key not in hints else _coerce(value, hints[key])
    for key in values:
        if key in RENAMED and key not in names:
            raise ConfigError(f"{path or 'overrides'}: config key '{key}' was renamed to {RENAMED[key]}")
        if key not in names:
            close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"{path or 'overrides'}: unknown config key '{key}'{hint}")
    for key, value in values.items():
        if value is not None and not isinstance(value, hints[key]) and not (hints[key] is float and isinstance(value, int)):
            raise ConfigError(f"{path or 'overrides'}: config key '{key}' expects {hints[key].__name__}, got {value!r}")
    try:
        return cls(**values)
    except ConfigError as e:
        raise ConfigError(f"{path or 'overrides'}: {e}") from None


def describe(cls) -> str:
    """Every field with its default and help text, for `--help` epilogues and the README."""
    return "\n".join(f"  {f.name} = {f.default!r}: {f.metadata['help']}" for f in fields(cls))
