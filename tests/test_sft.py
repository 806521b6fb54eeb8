"""`crpo sft`, the supervised warm start: the loss falls, final/ loads, and `loss_on` picks the supervised tokens."""
import json

import torch
from transformers import AutoModelForImageTextToText, AutoTokenizer

from crpo.cli import main as cli_main
from crpo.training.sft import target_ids


def losses(out) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_sft_loss_falls_and_final_loads(warm_sft, tiny_model):
    got = losses(warm_sft)  # the session's warm start: 12 steps, loss on every target token
    assert len(got) == 12 and all(v == v for v in got)
    assert sum(got[-3:]) / 3 < 0.5 * got[0], got
    final = AutoModelForImageTextToText.from_pretrained(warm_sft / "final").state_dict()
    start = AutoModelForImageTextToText.from_pretrained(tiny_model).state_dict()
    assert max((final[k] - start[k]).abs().max().item() for k in final) > 1e-3
    assert json.loads((warm_sft / "checkpoint-12" / "trainer_state.json").read_text())["step"] == 12


def test_target_mask_answer_only_vs_every_token(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ids_all, mask_all = target_ids(tokenizer, "B", "answer", "all")
    ids_ans, mask_ans = target_ids(tokenizer, "B", "answer", "answer")
    assert ids_all == ids_ans  # the same target text; only what is supervised differs
    assert tokenizer.decode(ids_all) == "<answer>B</answer><|im_end|>"
    assert all(mask_all) and sum(mask_ans) == len(tokenizer.encode("B", add_special_tokens=False))
    assert tokenizer.decode([i for i, m in zip(ids_ans, mask_ans) if m]) == "B"


def test_loss_on_answer_differs_from_loss_on_all(warm_sft, tiny_model, world, tmp_path):
    out = tmp_path / "answer"
    args = [f"model={tiny_model}", f"train_data={world / 'train.jsonl'}", f"output_dir={out}", "max_steps=1",
            "batch_size=8", "learning_rate=3e-3", "num_frames=4", "loss_on=answer"]
    assert cli_main(["sft", *args]) == 0
    # Same model, seed and first batch as the warm start's step 1: only the supervised tokens differ.
    answer_only, every_token = losses(out)[0], losses(warm_sft)[0]
    assert abs(answer_only - every_token) > 0.05, (answer_only, every_token)
    assert torch.isfinite(torch.tensor(answer_only))
