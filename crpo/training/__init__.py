"""Training: the RL loop and what it runs on. Imports every layer below (data, routing, models, parallel, rl, bench).

- trainer.py      `crpo train`: the loop, top to bottom (rollout -> score -> advantages -> loss -> step)
- rollout.py      the step's rollouts: every branch of every item, G completions each, per-rollout seeds
- sampling.py     counter-based sampling noise: the same rollouts for any batch split, process count or resume
- vllm_engine.py  rollout_engine=vllm: the colocated vLLM engine and its weight sync
- checkpoint.py   atomic, rotated checkpoints, resume (also across machines), final/
- train_log.py    progress bar, metrics.jsonl, rollouts.jsonl, TensorBoard / wandb
- step_profile.py seconds and peak memory per phase of a step (time/*, peak_mem_gib/* in metrics.jsonl)
- train_eval.py   the bench evaluated every `eval_steps` during training
- config.py       TrainConfig (and the configs it extends): every field with its help text; YAML + key=value
- sft.py          `crpo sft`: the supervised warm start

Public names: TrainConfig, load_config (config); train, main (trainer).
"""
