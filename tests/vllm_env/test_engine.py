"""The vLLM rollout engine (crpo/training/vllm_engine.py) against VideoLM on a tiny Qwen3-VL and a real mp4, on CPU.

One engine for the module (its start is a few seconds in process). Run in the vLLM environment:
.venv-vllm/bin/python -m pytest -q tests/vllm_env (tests/conftest.py keeps this folder out of the main environment).
"""
import dataclasses

import pytest
import torch
from shared_data import BIKES

from crpo.data.counterfactual import counterfactual
from crpo.data.video import load_clip
from crpo.models import VideoLM
from crpo.training.config import TrainConfig
from crpo.training.sampling import rollout_seed
from crpo.training.vllm_engine import EngineError, VLLMEngine, check_prompt_ids, hf_state_dict

QUESTIONS = ["In which direction is the red ball moving?\nA. left\nB. right", "Is the box opening or closing?"]


@pytest.fixture(scope="module")
def cfg(tiny_model):
    return TrainConfig(model=str(tiny_model), rollout_engine="vllm", vllm_kv_cache_gb=0.25, vllm_max_model_len=2048,
                       max_new_tokens=12, temperature=1.0, num_generations=3)


@pytest.fixture(scope="module")
def adapter(tiny_model):
    return VideoLM.load(tiny_model)


@pytest.fixture(scope="module")
def engine(adapter, cfg):
    return VLLMEngine(adapter, cfg)


@pytest.fixture(scope="module")
def clip():
    return load_clip(BIKES, num_frames=8, max_pixels=64 * 64)


def encode_rows(adapter, prompts, clips, g):
    inputs = adapter.encode(prompts, clips)
    return adapter.repeat(inputs, g)


def seeds_for(n_prompts, g, step=0):
    return [rollout_seed(0, step, p, j) for p in range(n_prompts) for j in range(g)]


@pytest.mark.parametrize("transform", [None, "hflip", "reverse", "shuffle"])
def test_prompt_token_ids_equal_videolm_encode(engine, adapter, clip, transform):
    shown = clip if transform is None else counterfactual(clip, transform, seed=3)
    if transform in ("reverse", "shuffle"):  # the clip's own order is not ascending: the metadata must sort it
        assert list(shown.frame_indices) != sorted(shown.frame_indices)
    prompts = [adapter.prompt(q) for q in QUESTIONS]
    inputs = encode_rows(adapter, prompts, [shown, shown], 2)
    engine.generate(prompts, [shown, shown], seeds_for(2, 2), inputs, sync=False)
    for r, ids in enumerate(engine.last_prompt_token_ids):
        expected = inputs["input_ids"][r][inputs["attention_mask"][r].bool()].tolist()
        assert ids == expected
    text = adapter.tokenizer.decode(engine.last_prompt_token_ids[0])
    assert "seconds>" in text and text.count("<|vision_start|>") == 4  # 4 temporal patches, each timestamped


def test_a_prompt_mismatch_is_an_error(engine, adapter, clip):
    prompts = [adapter.prompt(QUESTIONS[0])]
    other = encode_rows(adapter, [adapter.prompt(QUESTIONS[1])], [clip], 1)
    with pytest.raises(EngineError, match="differs from VideoLM.encode's at token"):
        engine.generate(prompts, [clip], seeds_for(1, 1), other, sync=False)
    with pytest.raises(EngineError, match="engine prompts for"):
        check_prompt_ids([[1, 2]], encode_rows(adapter, prompts, [clip], 2))


def test_a_rollout_does_not_depend_on_its_batch(engine, adapter, clip):
    flipped = counterfactual(clip, "hflip")
    prompts = [adapter.prompt(q) for q in QUESTIONS]
    seeds = seeds_for(2, 3)
    ids_all, mask_all, texts_all, _ = engine.generate(prompts, [clip, flipped], seeds, sync=False)
    # the second branch's rollouts alone, and its last rollout in a batch with rollouts of another step
    ids_b, mask_b, _, _ = engine.generate(prompts[1:], [flipped], seeds[3:], sync=False)
    mixed = [rollout_seed(0, 7, 0, j) for j in range(3)] + [seeds[5]]
    ids_m, mask_m, _, _ = engine.generate([prompts[0], prompts[1]], [clip, flipped], mixed[:2] + [seeds[5], seeds[5]],
                                          sync=False)

    def row(ids, mask, r):
        return ids[r][mask[r].bool()].tolist()

    for j in range(3):
        assert row(ids_b, mask_b, j) == row(ids_all, mask_all, 3 + j)
    assert row(ids_m, mask_m, 2) == row(ids_all, mask_all, 5) == row(ids_m, mask_m, 3)
    # different seeds sample different completions (so the equalities above say something)
    assert len({tuple(row(ids_all, mask_all, r)) for r in range(6)}) > 1


def test_completions_have_adapter_generate_layout(engine, adapter, clip):
    prompts = [adapter.prompt(QUESTIONS[0])]
    ids, mask, texts, logp = engine.generate(prompts, [clip], seeds_for(1, 4), sync=False, logprobs=True)
    assert ids.shape == mask.shape == logp.shape and ids.shape[0] == 4
    assert ids.shape[1] <= engine.cfg.max_new_tokens
    for r in range(4):
        n = int(mask[r].sum())
        assert n >= 1 and mask[r, :n].all() and not mask[r, n:].any()  # right-padded, one block of ones
        assert (ids[r, n:] == adapter.pad_id).all()
        stops = [i for i, t in enumerate(ids[r, :n].tolist()) if t in adapter.stop_ids]
        assert stops in ([], [n - 1])  # a stop token only as the last kept token
        assert texts[r] == adapter.tokenizer.decode(ids[r, :n], skip_special_tokens=True)
        assert (logp[r, :n] < 0).all() and (logp[r, n:] == 0).all()
        assert not set(ids[r, :n].tolist()) & set(adapter.vision_ids)
    # the engine's log-probs are the trainer's (same weights, same suppressed vision tokens), to fp32 noise
    inputs = encode_rows(adapter, prompts, [clip], 4)
    trainer = adapter.logprobs(inputs, ids, mask, temperature=engine.cfg.temperature)
    assert (trainer - logp).abs().max().item() < 1e-3


def greedy(engine, prompts, clips):
    saved, engine.cfg = engine.cfg, dataclasses.replace(engine.cfg, temperature=0.0)
    try:
        ids, mask, _, _ = engine.generate(prompts, clips, seeds_for(len(prompts), 1), sync=False)
    finally:
        engine.cfg = saved
    return [ids[r][mask[r].bool()].tolist() for r in range(len(prompts))]


def hf_greedy(adapter, model, prompts, clips, max_new_tokens):
    saved, adapter.model = adapter.model, model
    try:
        ids, mask, _ = adapter.generate(adapter.encode(prompts, clips), max_new_tokens=max_new_tokens, do_sample=False)
    finally:
        adapter.model = saved
    return [ids[r][mask[r].bool()].tolist() for r in range(len(prompts))]


def test_weight_sync_makes_the_engine_generate_the_updated_model(engine, adapter, clip, tiny_model):
    from transformers import AutoModelForImageTextToText

    prompts = [adapter.prompt(q) for q in QUESTIONS]
    clips = [clip, counterfactual(clip, "reverse")]
    n = engine.cfg.max_new_tokens
    assert greedy(engine, prompts, clips) == hf_greedy(adapter, adapter.model, prompts, clips, n)
    before = greedy(engine, prompts, clips)

    # full fine-tuning: a changed language-model and vision weight
    changed = AutoModelForImageTextToText.from_pretrained(tiny_model)
    with torch.no_grad():
        torch.manual_seed(1)
        for name in ("model.language_model.layers.0.mlp.down_proj.weight", "lm_head.weight",
                     "model.visual.blocks.0.attn.qkv.weight"):
            p = changed.get_parameter(name)
            p.add_(torch.randn_like(p) * p.std())
    expected = hf_greedy(adapter, changed, prompts, clips, n)
    assert expected != before
    engine.sync_weights(changed)
    assert greedy(engine, prompts, clips) == expected

    # LoRA: the merged weights W + B @ A * scaling
    from peft import LoraConfig, get_peft_model
    lora = get_peft_model(AutoModelForImageTextToText.from_pretrained(tiny_model), LoraConfig(
        r=4, lora_alpha=16, target_modules=r".*language_model.*\.(q_proj|v_proj|o_proj)$"))
    with torch.no_grad():
        torch.manual_seed(2)
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)
    merged = hf_state_dict(lora)
    assert not any("lora_" in k or "base_layer" in k for k in merged)
    reference = AutoModelForImageTextToText.from_pretrained(tiny_model)
    import copy
    plain = copy.deepcopy(lora).merge_and_unload().state_dict()
    assert merged.keys() == plain.keys()
    assert max((merged[k] - plain[k]).abs().max().item() for k in plain) < 1e-5
    expected = hf_greedy(adapter, lora, prompts, clips, n)
    assert expected != hf_greedy(adapter, reference, prompts, clips, n)
    engine.sync_weights(lora)
    assert greedy(engine, prompts, clips) == expected

    engine.sync_weights(adapter.model)  # back to the checkpoint for whatever runs after
    assert greedy(engine, prompts, clips) == before
