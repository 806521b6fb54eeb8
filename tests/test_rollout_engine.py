"""The parts of the vLLM rollout engine that need no vLLM: config keys, the importance-sampling weight in the loss,
the LoRA merge, the prompt check, and the one-line error where vLLM is not installed (this environment).

The engine itself is tested in tests/vllm_env/ (vLLM environment, `make test`).
"""
import copy

import pytest
import torch
from conftest import has_vllm

from crpo.rl.algorithms import policy_loss
from crpo.training.config import ConfigError, TrainConfig, load_config
from crpo.training.vllm_engine import EngineError, VLLMEngine, check_prompt_ids, hf_state_dict, make_rollout_engine


def test_engine_keys_default_to_hf_and_are_checked():
    cfg = TrainConfig()
    assert cfg.rollout_engine == "hf" and make_rollout_engine(None, cfg) is None
    with pytest.raises(ConfigError, match="allowed: hf, vllm"):
        load_config(TrainConfig, None, ["rollout_engine=sglang"])
    with pytest.raises(ConfigError, match="vllm_importance_sampling_cap"):
        load_config(TrainConfig, None, ["vllm_importance_sampling_cap=0.5"])


def test_importance_sampling_weights_each_token_by_the_truncated_ratio():
    torch.manual_seed(0)
    logp = torch.randn(3, 5).clamp(max=-0.1).requires_grad_(True)
    adv, mask = torch.tensor([1.0, -0.5, 2.0]), torch.ones(3, 5)
    sampler = logp.detach() + torch.randn(3, 5) * 0.5
    plain, _ = policy_loss(logp, logp.detach(), adv, mask)
    weighted, stats = policy_loss(logp, logp.detach(), adv, mask, sampler_logp=sampler, is_cap=1.5)
    w = torch.exp(logp.detach() - sampler).clamp(max=1.5)
    # ratio 1 (on-policy): per-token loss is -A, weighted by w, token-mean per sequence, mean over sequences
    expected = (-(adv[:, None] * w)).mean(-1).mean()
    assert torch.allclose(weighted, expected) and not torch.allclose(weighted, plain)
    assert stats["is_weight_mean"] == pytest.approx(w.mean().item())
    assert 0 < stats["is_truncated"] < 1
    same, _ = policy_loss(logp, logp.detach(), adv, mask, sampler_logp=logp.detach())  # engine == trainer: w = 1
    assert torch.allclose(same, plain)


def test_lora_weights_are_merged_without_touching_the_model(tiny_model):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    model = get_peft_model(AutoModelForImageTextToText.from_pretrained(tiny_model), LoraConfig(
        r=4, lora_alpha=8, target_modules=r".*language_model.*\.(q_proj|v_proj)$"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    merged = hf_state_dict(model)
    reference = copy.deepcopy(model).merge_and_unload().state_dict()
    assert merged.keys() == reference.keys()
    assert max((merged[k] - reference[k]).abs().max().item() for k in reference) < 1e-6
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the policy is left as it was
    plain = AutoModelForImageTextToText.from_pretrained(tiny_model)
    assert hf_state_dict(plain).keys() == plain.state_dict().keys()


def test_prompt_check_names_the_first_differing_token():
    inputs = {"input_ids": torch.tensor([[0, 5, 6, 7], [4, 5, 6, 7]]), "attention_mask": torch.tensor([[0, 1, 1, 1],
                                                                                                      [1, 1, 1, 1]])}
    check_prompt_ids([[5, 6, 7], [4, 5, 6, 7]], inputs)
    with pytest.raises(EngineError, match="rollout 1: .* at token 2 of 4"):
        check_prompt_ids([[5, 6, 7], [4, 5, 9, 7]], inputs)


@pytest.mark.skipif(has_vllm(), reason="checks the error where vLLM is missing")
def test_without_vllm_the_engine_is_a_one_line_error(run_crpo, tiny_model, world, tmp_path):
    with pytest.raises(EngineError, match="make setup-vllm"):
        VLLMEngine(None, TrainConfig(rollout_engine="vllm"))
    proc = run_crpo(["train", f"model={tiny_model}", f"train_data={world / 'train.jsonl'}", "rollout_engine=vllm",
                     f"output_dir={tmp_path / 'run'}", "max_steps=1", "report_to=none"], check=False)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: rollout_engine=vllm needs vLLM") and "Traceback" not in proc.stderr


def test_several_processes_need_the_trainers_process_group(monkeypatch):
    """Under a launcher the engine joins the trainer's process group (external_launcher); without one it is a
    one-line error, not vLLM creating a group of its own."""
    from crpo.training.vllm_engine import launcher_kwargs
    assert launcher_kwargs() == {}  # one process: vLLM's own in-process setup, unchanged
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(EngineError, match="process group"):
        make_rollout_engine(None, TrainConfig(rollout_engine="vllm"))
