"""`crpo train` end to end on the tiny Qwen3-VL: 20 CRPO steps, every baseline, LoRA, the KL reference, bad data.

The 20-step run goes through the installed CLI in a subprocess (as a user runs it); the short variants call
`crpo.cli.main` in-process, which is the same code path without paying a Python start-up per run.
"""
import json
import math
import time

import pytest
import torch
from transformers import AutoModelForImageTextToText

from crpo.cli import main as cli_main
from crpo.data.items import read_jsonl, write_jsonl
from crpo.training.step_profile import PHASES
from crpo.training.trainer import step_items

REQUIRED = ("step", "loss", "reward/orig", "reward/cf", "acc/orig", "acc/cf", "crr", "kl", "seconds")


def metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def state(path) -> dict[str, torch.Tensor]:
    return AutoModelForImageTextToText.from_pretrained(path).state_dict()


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def train_inprocess(args, out, *extra) -> list[dict]:
    assert cli_main(["train", *args, f"output_dir={out}", *extra]) == 0
    return metrics(out)


@pytest.fixture(scope="module")
def crpo20(run_crpo, rl_args, tmp_path_factory):
    out = tmp_path_factory.mktemp("crpo20") / "run"
    t0 = time.perf_counter()
    run_crpo(["train", *rl_args, f"output_dir={out}", "max_steps=20", "save_steps=10", "algorithm=crpo"])
    seconds = time.perf_counter() - t0
    print(f"\n20 CRPO steps (tiny Qwen3-VL, 4 prompts x 2 branches x G=4): {seconds:.1f} s wall, process start "
          f"included (target < 120 s); {sum(r['seconds'] for r in metrics(out)):.1f} s in steps")
    return out


def test_twenty_crpo_steps_log_one_full_row_per_step(crpo20):
    rows = metrics(crpo20)
    assert [r["step"] for r in rows] == list(range(1, 21))
    for r in rows:
        assert all(r[k] is not None for k in REQUIRED), r
        assert math.isfinite(r["loss"]) and math.isfinite(r["grad_norm"])
        assert 0.0 <= r["acc/orig"] <= 1.0 and 0.0 <= r["acc/cf"] <= 1.0 and 0.0 <= r["crr"] <= 1.0
        assert r["kl"] == 0.0 and r["seconds"] > 0 and r["skipped_items"] == 0
        # The step broken down (crpo/training/step_profile.py): the phases add up to the step, nothing negative;
        # beta 0 and one PPO epoch run no reference or old log-prob pass; HF generate has no weight sync.
        phases = {k: v for k, v in r.items() if k.startswith("time/")}
        assert set(phases) == {f"time/{k}" for k in (*PHASES, "other")} and min(phases.values()) >= 0
        assert abs(sum(phases.values()) - r["seconds"]) < 1e-3 * r["seconds"] + 1e-6
        assert phases["time/generate"] > 0 and phases["time/loss"] > 0 and phases["time/weight_sync"] == 0
        assert r["generate_seconds"] == phases["time/generate"]
        peaks = {k: v for k, v in r.items() if k.startswith("peak_mem_gib/")}
        # weight_sync's seconds are booked out of generate, its memory is generate's
        assert set(peaks) == {f"peak_mem_gib/{k}" for k in PHASES if k != "weight_sync"}
        assert min(peaks.values()) > 0.1  # the process's peak resident set (Linux VmHWM) in GiB
    # The warm start gives rewards with variance, so the policy gradient is not zero: this run actually trains.
    assert sum(r["grad_norm"] > 0 for r in rows) >= 10
    assert any(r["reward/orig"] > 0 for r in rows) and any(r["reward/cf"] > 0 for r in rows)


def test_parameters_move_and_checkpoints_load(crpo20, warm_model):
    final, start = state(crpo20 / "final"), state(warm_model)
    assert max_diff(final, start) > 1e-3
    assert json.loads((crpo20 / "checkpoint-10" / "trainer_state.json").read_text())["step"] == 10
    # Checkpoints are models too (full fine-tuning): the last one is exactly final/, the middle one is not.
    assert max_diff(state(crpo20 / "checkpoint-20"), final) == 0.0
    assert max_diff(state(crpo20 / "checkpoint-10"), final) > 0.0
    assert not list(crpo20.glob("*.tmp"))


@pytest.mark.parametrize("algorithm", ["grpo", "grpo_cf_aug", "tgrpo", "arrowrl"])
def test_baselines_run_and_log_their_own_metrics(algorithm, rl_args, tmp_path):
    rows = train_inprocess(rl_args, tmp_path / "run", f"algorithm={algorithm}", "max_steps=2")
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert math.isfinite(r["loss"]) and r["reward/orig"] is not None and r["crr"] is None  # CRR is crpo's alone
        assert (r["reward/cf"] is not None) == (algorithm == "grpo_cf_aug")
        assert (r["tgrpo_bonus"] is not None) == (algorithm == "tgrpo")
        assert (r["acc/shuffled"] is not None) == (algorithm == "tgrpo")
        assert (r["arrow_reverse"] is not None) == (algorithm == "arrowrl")
        assert (r["reward/reversed"] is None) and (r["behave"] is None)  # reversed rollouts are not rewarded
    state(tmp_path / "run" / "final")


def rollout_log(out) -> list[dict]:
    return [json.loads(line) for line in (out / "rollouts.jsonl").read_text().splitlines()]


def test_rollout_log_shows_crpo_and_cf_aug_advantages_differ_on_the_same_rollouts(rl_args, tmp_path):
    # Same model, seeds and prompts (null option off for both): step 1's completions are identical, so any
    # difference in advantage is the rewards'. The warm start answers the motion question from the clip poorly:
    # both branches often give the same answer, as a shortcut policy does.
    common = [*rl_args, "max_steps=1", "log_rollouts=true", "null_option=off", "prompts_per_step=8",
              "temperature=0.7"]  # a cooler temperature than the default: most answers readable
    train_inprocess(common, tmp_path / "crpo", "algorithm=crpo")
    train_inprocess(common, tmp_path / "aug", "algorithm=grpo_cf_aug")
    crpo, aug = rollout_log(tmp_path / "crpo"), rollout_log(tmp_path / "aug")
    assert len(crpo) == len(aug) == 8 * 2 * 4
    for row in crpo:
        assert {"step", "item_id", "branch", "rollout", "answer", "accuracy", "format", "crr", "total",
                "advantage", "text", "transform", "question_class", "relation", "truth"} <= row.keys()
        assert row["branch"] in ("orig", "cf") and 0 <= row["rollout"] < 4
        assert (row["transform"] is None) == (row["branch"] == "orig") and isinstance(row["text"], str)
        assert (row["behave"] is None) == (row["branch"] == "orig")
    pairs = [(c, a) for c, a in zip(crpo, aug) if c["branch"] == a["branch"] == "cf" or c["branch"] == "orig"]
    assert all(c["item_id"] == a["item_id"] and c["answer"] == a["answer"] for c, a in pairs)
    assert max(abs(c["advantage"] - a["advantage"]) for c, a in pairs) > 0.05


def test_rollout_log_of_items_without_a_counterfactual_numbers_all_2g_rollouts(rl_args, tmp_path):
    # grpo: 2G rollouts on the original clip; log_completions_steps beyond max_steps still logs the last step
    train_inprocess(rl_args, tmp_path / "run", "algorithm=grpo", "max_steps=1", "log_rollouts=true",
                    "log_completions_steps=50")
    rows = rollout_log(tmp_path / "run")
    for item in {r["item_id"] for r in rows}:
        assert sorted(r["rollout"] for r in rows if r["item_id"] == item) == list(range(8))
    assert all(r["branch"] == "orig" and r["transform"] is None for r in rows)
    assert (tmp_path / "run" / "completions.jsonl").read_text().strip()


def test_lora_final_is_a_merged_plain_model(rl_args, warm_model, tmp_path):
    out = tmp_path / "run"
    train_inprocess(rl_args, out, "lora=true", "lora_r=4", "lora_alpha=8", "learning_rate=1e-2", "max_steps=2")
    assert not list((out / "final").glob("adapter_*"))
    final, start = state(out / "final"), state(warm_model)
    assert final.keys() == start.keys()
    moved = {k for k in final if not torch.equal(final[k], start[k])}
    # Exactly the LoRA targets of the language model changed (merged B @ A); everything else is the base model.
    assert moved and all(".language_model." in k and k.split(".")[-2] in ("q_proj", "k_proj", "v_proj", "o_proj")
                         for k in moved), sorted(moved)
    # A LoRA checkpoint is training state only, not a from_pretrained model with silently missing weights.
    assert not (out / "checkpoint-2" / "config.json").exists()


def test_kl_to_reference_copy_is_zero_then_positive(rl_args, tmp_path):
    rows = train_inprocess(rl_args, tmp_path / "run", "beta=0.1", "max_steps=2")
    # Step 1 scores the rollouts before any update: policy == reference. Step 2 comes after one update.
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-7)
    assert rows[1]["kl"] > 1e-6


def _world_copy(world, tmp_path, broken_ids, missing=False):
    """train.jsonl in tmp_path (its video root) with the world's videos; `broken_ids` point to a corrupt mp4."""
    (tmp_path / "videos").symlink_to(world / "videos")
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 10)
    rows = [row for _, row in read_jsonl(world / "train.jsonl")]
    for row in rows:
        if row["id"] in broken_ids:
            row["video"] = "missing.mp4" if missing else "broken.mp4"
    write_jsonl(tmp_path / "train.jsonl", rows)
    return tmp_path / "train.jsonl"


def test_unreadable_video_is_skipped_and_counted(rl_args, world, tmp_path):
    rows = [row for _, row in read_jsonl(world / "train.jsonl")]
    first = rows[step_items(len(rows), 4, 0, seed=0)[0]]["id"]  # an item of step 1 (seed 0 is the default)
    data = _world_copy(world, tmp_path, {first})
    args = [a for a in rl_args if not a.startswith("train_data=")] + [f"train_data={data}"]
    got = train_inprocess(args, tmp_path / "run", "max_steps=2")
    assert [r["skipped_items"] for r in got] == [1, 0]  # counted per step, and training went on
    assert got[1]["step"] == 2


def test_batch_without_any_usable_item_is_a_clear_error(rl_args, world, tmp_path, capsys):
    ids = {row["id"] for _, row in read_jsonl(world / "train.jsonl")}
    data = _world_copy(world, tmp_path, ids, missing=True)
    args = [a for a in rl_args if not a.startswith("train_data=")] + [f"train_data={data}"]
    assert cli_main(["train", *args, f"output_dir={tmp_path / 'run'}", "max_steps=1"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "step 1: no usable item" in err[0] and str(data) in err[0], err


def test_unknown_config_key_lists_close_matches(run_crpo, tmp_path):
    proc = run_crpo(["train", "learning_rat=0.1", f"output_dir={tmp_path}"], check=False, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "learning_rat" in lines[0] and "learning_rate" in lines[0], proc.stderr
    assert not (tmp_path / "metrics.jsonl").exists()


@pytest.mark.parametrize("algorithm", ["crpo", "grpo_cf_aug", "tgrpo", "arrowrl"])
def test_items_stored_as_video_plus_transform_train(algorithm, rl_args, world, tmp_path):
    # A twin stored as "original video + transform" (crpo bench build without --materialize) is its own original:
    # its counterfactual branch transforms it again instead of failing on a twice-transformed clip.
    from crpo.routing.rules import relation
    items = [it for _, it in read_jsonl(world / "train.jsonl")]
    twins = []
    for row in items[:8]:
        from crpo.data.items import item_from_json
        item = item_from_json(row)
        rel, answer = relation(item, "reverse")
        if rel != "unknown":
            twins.append({**row, "id": row["id"] + "-rev", "transform": "reverse", "answer": answer})
    assert twins
    data = tmp_path / "twins.jsonl"
    write_jsonl(data, twins)
    args = [a for a in rl_args if not a.startswith("train_data=")]
    rows = train_inprocess([*args, f"train_data={data}", f"video_root={world}"], tmp_path / "run",
                           f"algorithm={algorithm}", "max_steps=1")
    assert len(rows) == 1 and math.isfinite(rows[0]["loss"])
