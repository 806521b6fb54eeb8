"""Tiny offline models and the VideoLM adapter, for both families (Qwen3-VL, Qwen2.5-VL)."""
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: nothing here may touch the hub

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, LogitsProcessor, LogitsProcessorList

from crpo.data.video import Clip, load_clip
from crpo.models import VideoLM
from crpo.models.adapter import VIDEO_WRAPPER, stop_mask
from crpo.models.logprobs import token_logprobs
from crpo.models.tiny import SPECIAL_TOKENS, TAG_TOKENS, build_tiny_model

ARCHS = ["qwen3_vl", "qwen2_5_vl"]
from shared_data import BIKES


@pytest.fixture(scope="module")
def lms(tiny_models):
    return {arch: VideoLM.load(path) for arch, path in tiny_models.items()}


def make_clip(seed: int, frames: int = 8, size: int = 64, fps: float = 8.0, step: int = 1) -> Clip:
    pixels = np.random.default_rng(seed).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    indices = np.arange(frames) * step
    return Clip(frames=pixels, fps=fps, frame_indices=indices, source_size=(size, size),
                duration=(indices[-1] + 1) / fps)


def reversed_clip(clip: Clip) -> Clip:
    return clip.with_frames(clip.frames[::-1].copy(), frame_indices=clip.frame_indices[::-1].copy(),
                            transform="reverse")


class RecordThenStop(LogitsProcessor):
    """Records the raw next-token scores, then forces `stop_id` on row i at step stop_at[i] (None: never)."""

    def __init__(self, stop_id: int, stop_at: list):
        self.stop_id, self.stop_at, self.scores = stop_id, stop_at, []

    def __call__(self, input_ids, scores):
        self.scores.append(scores.clone())
        step = len(self.scores) - 1
        for row, at in enumerate(self.stop_at):
            if at == step:
                scores[row] = -float("inf")
                scores[row, self.stop_id] = 0.0
        return scores


@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_checkpoint_loads_offline_with_small_consistent_config(tiny_models, arch):
    model = AutoModelForImageTextToText.from_pretrained(tiny_models[arch])
    processor = AutoProcessor.from_pretrained(tiny_models[arch])
    assert model.config.model_type == arch
    assert sum(p.numel() for p in model.parameters()) < 5_000_000
    assert model.config.vision_config.out_hidden_size == model.config.text_config.hidden_size
    tok = processor.tokenizer
    assert 1000 <= len(tok) <= 2000 and model.config.text_config.vocab_size == len(tok)
    assert model.config.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert model.generation_config.pad_token_id == tok.pad_token_id == tok.convert_tokens_to_ids("<|endoftext|>")
    assert tok.convert_tokens_to_ids("<|im_end|>") in model.generation_config.eos_token_id
    if arch == "qwen3_vl":  # see tiny.py: position embedding initialised at std 1.0 instead of 0.02
        assert model.model.visual.pos_embed.weight.std() > 0.5


def test_tiny_build_is_deterministic_in_the_seed(tiny_models, tmp_path):
    build_tiny_model("qwen3_vl", tmp_path / "same", seed=0)
    build_tiny_model("qwen3_vl", tmp_path / "other", seed=1)
    tokenizer = (tmp_path / "same" / "tokenizer.json").read_bytes()
    assert tokenizer == (tiny_models["qwen3_vl"] / "tokenizer.json").read_bytes()
    ref = AutoModelForImageTextToText.from_pretrained(tiny_models["qwen3_vl"]).state_dict()
    same = AutoModelForImageTextToText.from_pretrained(tmp_path / "same").state_dict()
    other = AutoModelForImageTextToText.from_pretrained(tmp_path / "other").state_dict()
    assert all(torch.equal(ref[k], same[k]) for k in ref)
    assert not torch.equal(ref["lm_head.weight"], other["lm_head.weight"])


@pytest.mark.parametrize("arch", ARCHS)
def test_tokenizer_special_and_tag_tokens(lms, arch):
    tok = lms[arch].tokenizer
    for token in SPECIAL_TOKENS:
        assert token in tok.all_special_tokens
        assert len(tok(f"a{token}b", add_special_tokens=False)["input_ids"]) == 3
    text = "<|im_start|>assistant\n<think>It moves left.</think><answer>B</answer><|im_end|>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    for tag in TAG_TOKENS:  # one id each, and ordinary text: kept when special tokens are skipped
        assert tok.convert_tokens_to_ids(tag) in ids
    assert tok.decode(ids, skip_special_tokens=True) == "assistant\n<think>It moves left.</think><answer>B</answer>"


@pytest.mark.parametrize("arch", ARCHS)
def test_prompt_renders_one_video_part_before_the_question(lms, arch):
    lm = lms[arch]
    text = lm.prompt("Is the door opening?")
    assert text.endswith(f"<|im_start|>user\n{VIDEO_WRAPPER}Is the door opening?<|im_end|>\n<|im_start|>assistant\n")
    assert ("You are a helpful assistant." in text) == (arch == "qwen2_5_vl")  # 2.5's template has a default
    assert lm.prompt("Q?", system="Be brief.").startswith("<|im_start|>system\nBe brief.<|im_end|>\n")


@pytest.mark.parametrize("arch", ARCHS)
def test_encode_lays_out_video_tokens_and_types(lms, arch):
    lm = lms[arch]
    clips = [make_clip(0), make_clip(1, frames=4, step=6, fps=24.0)]  # frames 0, 6, 12, 18 of a 24 fps file
    inputs = lm.encode([lm.prompt("Where does it go?"), lm.prompt("Which way?")], clips)
    ids, grid = inputs["input_ids"], inputs["video_grid_thw"]
    video_id = lm.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert grid.tolist() == [[4, 8, 8], [2, 8, 8]]  # 64x64 frames are not resized; 2 frames per temporal patch
    assert inputs["pixel_values_videos"].shape[0] == int(grid.prod(-1).sum())
    assert ((ids == video_id).sum(-1) == grid.prod(-1) // 4).all()
    assert torch.equal(inputs["mm_token_type_ids"] == 2, ids == video_id)
    assert (inputs["attention_mask"][:, -1] == 1).all() and inputs["attention_mask"][1, 0] == 0  # left padding
    start = lm.tokenizer.convert_tokens_to_ids("<|vision_start|>")
    if arch == "qwen3_vl":  # one <t seconds><|vision_start|>...<|vision_end|> block per temporal patch, no wrapper
        assert (ids == start).sum(-1).tolist() == [4, 2]
        text = lm.tokenizer.decode(ids[1], skip_special_tokens=False)
        assert "user\n<0.1 seconds><|vision_start|><|video_pad|>" in text
        assert "<|vision_end|><0.6 seconds><|vision_start|>" in text  # frames 12 and 18: (0.5 + 0.75) / 2 s
    else:  # one temporal patch spans 2 frames: 2/8 s, and 2 * 6/24 s for every sixth frame of a 24 fps file
        assert torch.allclose(inputs["second_per_grid_ts"], torch.tensor([0.25, 0.5]))
        assert (ids == start).sum(-1).tolist() == [1, 1]


@pytest.mark.parametrize("arch", ARCHS)
def test_reversed_and_shuffled_clips_get_the_same_prompt_tokens(lms, arch):
    lm = lms[arch]
    clip = make_clip(3)
    order = np.random.default_rng(0).permutation(8)
    shuffled = clip.with_frames(clip.frames[order], frame_indices=clip.frame_indices[order], transform="shuffle")
    prompt = lm.prompt("What happens first?")
    inputs = lm.encode([prompt] * 3, [clip, reversed_clip(clip), shuffled])
    assert torch.equal(inputs["input_ids"][0], inputs["input_ids"][1])
    assert torch.equal(inputs["input_ids"][0], inputs["input_ids"][2])
    if "second_per_grid_ts" in inputs:
        assert len(set(inputs["second_per_grid_ts"].tolist())) == 1
    patches = torch.split(inputs["pixel_values_videos"], inputs["video_grid_thw"].prod(-1).tolist())
    assert not torch.equal(patches[0], patches[1])  # the frames themselves did change


@pytest.mark.parametrize("arch", ARCHS)
def test_too_long_prompt_names_the_item(lms, arch):
    lm = lms[arch]
    prompts = [lm.prompt("Short?"), lm.prompt("A much longer question about what the ball does in the video?")]
    clips = [make_clip(0), make_clip(1)]
    short, long = lm.encode(prompts, clips)["attention_mask"].sum(-1).tolist()
    assert short < long
    with pytest.raises(ValueError, match=rf"item clip-8: prompt is {long} tokens .* max_prompt_length={short}"):
        lm.encode(prompts, clips, max_prompt_length=short, ids=["clip-7", "clip-8"])
    assert lm.encode(prompts, clips, max_prompt_length=long, ids=["clip-7", "clip-8"])["input_ids"].shape == (2, long)


@pytest.mark.parametrize("arch", ARCHS)
def test_repeat_equals_encoding_repeated_rows(lms, arch):
    lm = lms[arch]
    prompts = [lm.prompt("Left or right?"), lm.prompt("Is the box opening or closing in this clip?")]
    clips = [make_clip(0, frames=4), make_clip(1)]
    repeated = lm.repeat(lm.encode(prompts, clips), 3)
    direct = lm.encode([p for p in prompts for _ in range(3)], [c for c in clips for _ in range(3)])
    assert repeated.keys() == direct.keys()
    for key in direct:
        assert torch.equal(repeated[key], direct[key]), key


@pytest.mark.parametrize("arch", ARCHS)
def test_generate_masks_and_logprobs_match_generation_scores(lms, arch):
    lm = lms[arch]
    # Hub Qwen configs carry sampling defaults; generate() must ignore them or the scores below would not match.
    lm.model.generation_config.update(repetition_penalty=3.0, top_k=2, temperature=0.1)
    questions = ["Where?", "In which direction is the red ball moving?\nA. left\nB. right", "Opening or closing?"]
    inputs = lm.encode([lm.prompt(q) for q in questions], [make_clip(i, frames=4 + 2 * i) for i in range(3)])
    assert (inputs["attention_mask"] == 0).any()  # the batch is padded
    im_end = lm.tokenizer.convert_tokens_to_ids("<|im_end|>")
    recorder = RecordThenStop(im_end, stop_at=[2, None, 5])
    ids, mask, texts = lm.generate(inputs, max_new_tokens=8, do_sample=False,
                                   logits_processor=LogitsProcessorList([recorder]))
    assert ids.shape == mask.shape == (3, 8)
    assert mask.sum(-1).tolist() == [3, 8, 6]  # up to and including the end of turn
    assert ids[0, 2] == im_end and (ids[0, 3:] == lm.pad_id).all() and (ids[2, 6:] == lm.pad_id).all()
    assert texts[0] == lm.tokenizer.decode(ids[0, :2]) and "<|im_end|>" not in texts[0]
    scores = torch.stack(recorder.scores, 1).log_softmax(-1).gather(-1, ids[..., None]).squeeze(-1)
    logp = lm.logprobs(inputs, ids, mask)
    assert logp.dtype == torch.float32 and (logp[mask == 0] == 0).all()
    torch.testing.assert_close(logp[mask == 1], scores[mask == 1], atol=1e-4, rtol=0)
    lm.model.generation_config.update(repetition_penalty=None, top_k=None, temperature=None)


class Favour(LogitsProcessor):
    """Adds a large bonus to some token ids: a policy that would emit them at every step."""

    def __init__(self, ids):
        self.ids = ids

    def __call__(self, input_ids, scores):
        scores[:, self.ids] += 1e4
        return scores


@pytest.mark.parametrize("arch", ARCHS)
def test_vision_placeholders_are_never_generated_nor_given_mass(lms, arch):
    lm = lms[arch]
    assert len(lm.vision_ids) == 4  # <|vision_start|>, <|vision_end|>, <|image_pad|>, <|video_pad|>
    inputs = lm.repeat(lm.encode([lm.prompt("Which way?")], [make_clip(3)]), 3)
    ids, mask, _ = lm.generate(inputs, max_new_tokens=5, do_sample=False,
                               logits_processor=LogitsProcessorList([Favour(lm.vision_ids)]))
    assert not torch.isin(ids, torch.tensor(lm.vision_ids)).any()
    logp = lm.logprobs(inputs, ids, mask)  # scoring them back works (it fails when a placeholder is in them)
    assert torch.isfinite(logp).all()


@pytest.mark.parametrize("arch", ARCHS)
def test_sampling_is_seeded_and_video_changes_the_distribution(lms, arch):
    lm = lms[arch]
    clip = make_clip(5)
    flipped = clip.with_frames(clip.frames[:, :, ::-1].copy(), transform="hflip")
    inputs = lm.repeat(lm.encode([lm.prompt("Which way?")] * 2, [clip, flipped]), 2)
    lm.model.generation_config.update(top_k=1)  # a hub default that would make sampling greedy: must be ignored
    torch.manual_seed(0)
    first = lm.generate(inputs, max_new_tokens=6, temperature=1.0, top_p=0.9)
    torch.manual_seed(0)
    second = lm.generate(inputs, max_new_tokens=6, temperature=1.0, top_p=0.9)
    lm.model.generation_config.update(top_k=None)
    assert torch.equal(first[0], second[0]) and first[2] == second[2]
    assert len({tuple(row.tolist()) for row in first[0]}) > 1  # sampled, not greedy (4 rows, 2 per clip)
    ids = first[0][[0, 0, 0, 0]]  # score the same completion on both clips
    logp = lm.logprobs(inputs, ids, torch.ones_like(ids))
    assert (logp[0] - logp[2]).abs().max() > 1e-4  # a mirrored clip reaches the language model


@pytest.mark.parametrize("arch", ARCHS)
def test_supervised_inputs_loss_equals_mean_negative_logprob(lms, arch):
    lm = lms[arch]
    prompts = [lm.prompt("Which way?"), lm.prompt("Is it opening or closing?")]
    clips = [make_clip(0), make_clip(1, frames=6)]
    targets = ["<answer>B</answer>", "<think>It opens.</think><answer>yes</answer>"]
    batch = lm.supervised_inputs(prompts, clips, targets)
    prompt_len = lm.encode(prompts, clips)["input_ids"].shape[1]
    labels = batch.pop("labels")
    ids, mask = batch["input_ids"][:, prompt_len:], batch["attention_mask"][:, prompt_len:]
    assert (labels[:, :prompt_len] == -100).all() and torch.equal(labels[:, prompt_len:] != -100, mask == 1)
    assert lm.tokenizer.decode(ids[1][mask[1] == 1]) == targets[1] + "<|im_end|>"
    # The policy's distribution is the model's with the vision placeholders removed (see VISION_TOKENS).
    logits = lm.model(**batch).logits[:, :-1]
    logits[..., lm.vision_ids] = float("-inf")
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100)
    per_row = ("input_ids", "attention_mask", "mm_token_type_ids")
    logp = lm.logprobs({k: v[:, :prompt_len] if k in per_row else v for k, v in batch.items()}, ids, mask)
    torch.testing.assert_close(loss, -logp.sum() / mask.sum(), atol=1e-5, rtol=1e-5)
    loss.backward()
    assert lm.model.lm_head.weight.grad.abs().sum() > 0
    lm.model.zero_grad(set_to_none=True)


def test_real_video_reversed_keeps_prompt_and_generates(lms):
    lm = lms["qwen3_vl"]
    clip = load_clip(BIKES, num_frames=8, max_pixels=64 * 64, size_factor=16)
    inputs = lm.encode([lm.prompt("Where do the bikes go?")] * 2, [clip, reversed_clip(clip)])
    assert torch.equal(inputs["input_ids"][0], inputs["input_ids"][1])
    ids, mask, texts = lm.generate(inputs, max_new_tokens=4, do_sample=False)
    assert ids.shape[0] == 2 and len(texts) == 2


def test_pure_helpers():
    ids = torch.tensor([[5, 2, 7, 2], [5, 6, 7, 8], [0, 9, 9, 9]])
    assert stop_mask(ids, [0, 2]).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    logits = torch.randn(2, 3, 11, dtype=torch.bfloat16)
    targets = torch.randint(0, 11, (2, 3))
    expected = logits.float().log_softmax(-1).gather(-1, targets[..., None]).squeeze(-1)
    torch.testing.assert_close(token_logprobs(logits, targets), expected)
