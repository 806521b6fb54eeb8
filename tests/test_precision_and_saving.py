"""fp32 master weights under bf16 compute, the LoRA merge of final/, checkpoint rotation and value-checked configs."""
import json
import re

import pytest
import torch
from transformers import AutoModelForImageTextToText

from crpo.training.checkpoint import lora_scaling, merge_lora_state_dict, rotate_checkpoints
from crpo.training.config import ConfigError, TrainConfig, load_config
from crpo.training.trainer import prepare_policy


def test_a_1e6_update_moves_fp32_master_weights_where_pure_bf16_would_not(tiny_model):
    """The 8B recipe's lr 1e-6 on bf16 weights: AdamW's first step moves each weight by ~lr, below bf16's spacing
    (~1e-4 near |w| = 0.02), so pure bf16 training changes nothing; the trainer keeps trainable weights in fp32."""
    def one_step(model):
        params = [p for p in model.parameters() if p.requires_grad]
        before = [p.detach().clone() for p in params]
        optimizer = torch.optim.AdamW(params, lr=1e-6, weight_decay=0.0)
        ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        changed = sum(int((p.detach() != b).sum()) for p, b in zip(params, before))
        return changed / sum(b.numel() for b in before)

    cfg = load_config(TrainConfig, None, ["dtype=bfloat16", "freeze_vision=true"])
    pure = AutoModelForImageTextToText.from_pretrained(tiny_model, dtype=torch.bfloat16)
    pure.model.visual.requires_grad_(False)
    master = prepare_policy(AutoModelForImageTextToText.from_pretrained(tiny_model, dtype=torch.bfloat16), cfg)
    trainable = [p for p in master.parameters() if p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    assert all(p.dtype == torch.bfloat16 for p in master.model.visual.parameters())  # frozen: stays bf16
    moved_pure, moved_master = one_step(pure), one_step(master)
    print(f"\nshare of weights changed by one lr-1e-6 step: pure bf16 {moved_pure:.3f}, fp32 master {moved_master:.3f}")
    assert moved_master > 0.5
    assert moved_pure < 0.1


def test_lora_merge_of_the_state_dict_equals_peft_merge_and_unload(tiny_model):
    from peft import LoraConfig, get_peft_model
    base = AutoModelForImageTextToText.from_pretrained(tiny_model)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=r".*language_model.*\.(q_proj|v_proj)$"))
    with torch.no_grad():  # B starts at 0 (the merge would be the identity): give the adapters a value
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    merged = merge_lora_state_dict(model.state_dict(), lora_scaling(model))
    reference = model.merge_and_unload().state_dict()
    assert merged.keys() == reference.keys()
    assert max((merged[k] - reference[k]).abs().max().item() for k in merged) <= 1e-6


def test_rotation_keeps_the_newest_complete_checkpoints(tmp_path):
    for step in (2, 4, 10, 6):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"step": step}))
    (tmp_path / "checkpoint-12.tmp").mkdir()  # a save in flight is neither counted nor deleted
    deleted = rotate_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in deleted) == ["checkpoint-2", "checkpoint-4"]  # by step, not by name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10", "checkpoint-12.tmp", "checkpoint-6"]


def test_the_renamed_accumulation_key_names_its_successor(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("gradient_accumulation_steps: 4\n")
    with pytest.raises(ConfigError, match=r"'gradient_accumulation_steps' was renamed to micro_batches"):
        load_config(TrainConfig, path)


@pytest.mark.parametrize("override,message", [
    ("num_generations=1", "'num_generations' is 1; it must be >= 2"),
    ("micro_batches=0", "'micro_batches' is 0; it must be >= 1"),
    ("learning_rate=-1e-5", "'learning_rate' is -1e-05; it must be >= 0.0"),
    ("top_p=0", "'top_p' is 0.0; it must be in (0, 1]"),
])
def test_out_of_range_values_are_one_line_errors(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(TrainConfig, None, [override])
