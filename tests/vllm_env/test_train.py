"""`crpo train rollout_engine=vllm` end to end on the warm-started tiny Qwen3-VL and the synthetic world, and
resume with the engine.

Every step the engine checks each rollout's prompt token ids against the rows VideoLM.encode built and raises on
the first difference (crpo/vllm_engine.py, check_prompt_ids; tests/vllm_env/test_engine.py shows it can fail), so a
run that finishes had every rollout's prompt match.

Resume guarantee (measured here): a run stopped after a checkpoint and resumed with resume=true trains the same
steps on the same items, and its engine, restarted from cfg.model, is synced to the checkpoint's weights before
its first rollout, so the rollouts, rewards and losses after the resume equal the uninterrupted run's.
"""
import json

ENGINE = ["rollout_engine=vllm", "vllm_kv_cache_gb=0.25", "vllm_max_model_len=2048"]


def jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_crpo_training_with_the_vllm_engine(run_crpo, rl_args, tmp_path):
    out = tmp_path / "run"
    proc = run_crpo(["train", *rl_args, *ENGINE, f"output_dir={out}", "max_steps=3", "log_rollouts=true",
                     "algorithm=crpo"])
    rows = jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    rollouts = jsonl(out / "rollouts.jsonl")
    # 4 prompts x 2 branches x G=4 completions a step, every one scored
    assert len(rollouts) == 3 * 4 * 2 * 4
    assert {r["branch"] for r in rollouts} == {"orig", "cf"}
    # the warm start answers in the template, so some of the engine's samples are readable answers
    assert any(r["answer"] is not None for r in rollouts)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]  # the engine's teardown at exit included
    assert (out / "final" / "config.json").exists()


def test_resume_with_the_vllm_engine_continues_the_uninterrupted_run(run_crpo, rl_args, tmp_path):
    args = ["train", *rl_args, *ENGINE, "prompts_per_step=2", "save_steps=2", "log_rollouts=true",
            "vllm_importance_sampling_correction=true"]
    run_crpo([*args, f"output_dir={tmp_path / 'straight'}", "max_steps=4"])
    out = tmp_path / "stopped"
    run_crpo([*args, f"output_dir={out}", "max_steps=2"])  # stops after its checkpoint-2
    assert (out / "checkpoint-2" / "trainer_state.json").exists()
    run_crpo([*args, f"output_dir={out}", "max_steps=4", "resume=true"])

    rows, straight = jsonl(out / "metrics.jsonl"), jsonl(tmp_path / "straight" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    resumed_ro = [r for r in jsonl(out / "rollouts.jsonl") if r["step"] > 2]
    straight_ro = [r for r in jsonl(tmp_path / "straight" / "rollouts.jsonl") if r["step"] > 2]
    # same data order, same samples (answers), same rewards and advantages after the resume
    assert [(r["step"], r["item_id"], r["branch"]) for r in resumed_ro] == \
        [(r["step"], r["item_id"], r["branch"]) for r in straight_ro]
    assert [(r["answer"], r["total"], r["advantage"]) for r in resumed_ro] == \
        [(r["answer"], r["total"], r["advantage"]) for r in straight_ro]
    for a, b in zip(rows[2:], straight[2:]):
        for key in ("reward/orig", "reward/cf", "loss", "grad_norm"):
            assert a[key] == b[key], (a["step"], key)
    # The importance-sampling weights are logged: near 1 (engine and trainer score the same fp32 model), capped.
    assert all(0 < r["is_weight_mean"] <= 3.0 and 0 <= r["is_truncated"] <= 1 for r in rows)
    assert abs(rows[0]["is_weight_mean"] - 1) < 0.05
