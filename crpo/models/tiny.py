"""Tiny random-initialised Qwen3-VL / Qwen2.5-VL checkpoints, built offline, for tests, CI and the CPU demo.

    crpo model tiny --arch qwen3_vl --out runs/tiny-qwen3vl --seed 0
    # or: build_tiny_model("qwen3_vl", "runs/tiny-qwen3vl", seed=0)

The directory is a complete Hugging Face checkpoint: config, weights, generation_config, a byte-level BPE
tokenizer trained here with `tokenizers` on a small built-in corpus, the family's real processor (image and video
processors sized for small clips) and a Qwen chat template. `AutoModelForImageTextToText.from_pretrained(out)` and
`AutoProcessor.from_pretrained(out)` work with no network. Same seed, same files.

Departures from the real models, all for size (~1M parameters): 2 text layers of width 128, a 2-block vision tower
of width 64, 8-pixel patches for both families (Qwen2.5-VL uses 14: with 8 a 64x64 frame maps onto the patch grid
exactly, without resampling), a ~1.5k-token vocabulary. Everything else (M-RoPE, deepstack, window attention,
timestamps, special tokens) is the real code path of transformers.
"""
from __future__ import annotations

import itertools
from pathlib import Path

ARCHS = ("qwen3_vl", "qwen2_5_vl")
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>"]
# Answer-format tags are ordinary (not special) added tokens, as in Qwen3: one id each, kept when decoding.
TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]
VOCAB_SIZE = 1536
PATCH_SIZE = 8
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2
# Pixel budgets. The Qwen3-VL video processor applies its budget to frames x height x width of the whole clip and
# the Qwen2-VL one (used by 2.5) to each frame; both leave an 8-frame 64x64 clip at its size and cap clips at about
# 32 frames of 128x128 (Qwen3) or one 256x256 frame (2.5), so a large input cannot blow up a CPU run.
VIDEO_PIXELS = {"qwen3_vl": (8 * 16 * 16, 32 * 128 * 128), "qwen2_5_vl": (16 * 16, 256 * 256)}
IMAGE_PIXELS = (16 * 16, 256 * 256)

# Qwen's pre-tokenizer: digits one by one, letters in runs, punctuation runs, whitespace.
_QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
               r"|\s+(?!\S)|\s+")

# The Qwen2.5-VL and Qwen3-VL chat templates, images and videos included, as published with the real models
# (tool calling and reasoning-content handling left out). 2.5 adds a default system prompt, 3 does not.
_VISION_PARTS = (
    "{% if content.type == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content.type == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content.text }}"
    "{% endif %}"
)
_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message.role != 'system' %}{DEFAULT_SYSTEM}{% endif %}"
    "<|im_start|>{{ message.role }}\n"
    "{% if message.content is string %}{{ message.content }}"
    "{% else %}{% for content in message.content %}" + _VISION_PARTS + "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CHAT_TEMPLATES = {
    "qwen2_5_vl": _CHAT_TEMPLATE.replace("{DEFAULT_SYSTEM}",
                                         "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"),
    "qwen3_vl": _CHAT_TEMPLATE.replace("{DEFAULT_SYSTEM}", ""),
}


def tokenizer_corpus() -> list[str]:
    """English video-QA text in the shapes the project produces: questions, options, reasoning, tagged answers."""
    from crpo.data.prompts import FORMAT_INSTRUCTIONS, TYPE_HINTS

    objects = ("ball box car person door bird square circle triangle stripe patch dog cat cup bottle book chair "
               "table window lid drawer bag phone hand arm head wheel tree road water glass plate paper bike rider "
               "man woman child horse rabbit butterfly apple flower camera screen block disk bar arrow star shape "
               "object rabbit boat train plane cloud sun light shadow wall floor line dot pattern texture").split()
    colours = "red green blue yellow white black orange purple pink brown grey gray dark bright".split()
    sizes = "small large big tiny little huge tall short wide narrow striped plain textured round".split()
    verbs = ("moves rolls slides jumps falls rotates spins turns opens closes pours walks runs throws catches "
             "pushes pulls lifts drops grows shrinks appears disappears enters leaves rises sinks bounces flies "
             "swims climbs crosses follows stops starts waves points holds carries places removes fills empties "
             "approaches passes flips mirrors reverses").split()
    directions = ["left", "right", "up", "down", "toward the camera", "away from the camera", "clockwise",
                  "counterclockwise", "forward", "backward", "upward", "downward", "from left to right",
                  "from right to left", "from top to bottom", "from bottom to top"]
    changes = [("opening", "closing"), ("appearing", "disappearing"), ("growing", "shrinking"),
               ("filling", "emptying"), ("rising", "falling"), ("entering", "leaving"), ("assembling",
               "disassembling"), ("folding", "unfolding"), ("putting on", "taking off"), ("lighting", "dimming")]
    times = ["first", "then", "after that", "before", "finally", "at the beginning", "at the end", "in the middle",
             "during the video", "while", "later", "earlier", "at the start", "last"]
    numbers = "zero one two three four five six seven eight nine ten".split()
    lines = ["You are a helpful assistant.", "system", "user", "assistant", "Video 1: ", "Picture 1: ",
             *FORMAT_INSTRUCTIONS.values(), *TYPE_HINTS.values(),
             " ".join(f"<{t / 2:.1f} seconds>" for t in range(64)), "0 1 2 3 4 5 6 7 8 9 10 12 16 24 32 64 100",
             "A. B. C. D. A B C D yes no Yes No", " ".join(numbers)]
    for i, (obj, verb) in enumerate(itertools.product(objects, verbs)):
        colour, size, time = colours[i % len(colours)], sizes[i % len(sizes)], times[i % len(times)]
        d1, d2 = directions[i % len(directions)], directions[(i * 7 + 3) % len(directions)]
        a, b = changes[i % len(changes)]
        n = i % 10
        lines.append([
            f"In which direction is the {colour} {obj} moving?\nA. {d1}\nB. {d2}\nC. {a}\nD. it does not move",
            f"Is the {size} {obj} moving {d1}? Answer yes or no.",
            f"<think>{time.capitalize()} the {size} {colour} {obj} {verb} {d1}, not {d2}.</think><answer>A</answer>",
            f"Is the {obj} {a} or {b}?\nA. {a}\nB. {b}",
            f"<think>At the start the {obj} is {b}; at the end it is {a}.</think><answer>{'ABCD'[n % 4]}</answer>",
            f"How many {obj}s are there? There are {numbers[n]}. <answer>{n}</answer>",
            f"What happens {time}: the {obj} {verb} or the {obj} is {a}? <answer>{'yes' if n % 2 else 'no'}</answer>",
        ][i % 7])
    common = ("the a an of and to in is it that was for on are as with his they at be this from have or by not but "
              "what all were when we there can which their if do will each about how up out them then she many some "
              "so these would other into has more her two like him see time could no make than been who its now "
              "people my made over did down only way find use may long little very after words called just where "
              "most know get through back much before go good new write our used me man too any day same right look "
              "think also around another came come work three word must because does part even place well such here "
              "take why things help put years different away again off went old number great tell men say small "
              "every found still between name should home big give air line set own under read last never us left "
              "end along while might next sound below saw something thought both few those always looked show large "
              "often together asked house world going want school important until form food keep children feet land "
              "side without boy once animals life enough took sometimes four head above kind began almost live page "
              "got earth need far hand high year mother light parts country father let night following picture being "
              "study second eyes soon times story boys since white days ever paper hard near sentence better best "
              "across during today others however sure means knew try told young miles sun ways thing whole hear "
              "example heard several change answer room sea against top turned learned point city play toward five "
              "using himself usually video clip frame frames scene camera motion moving direction order sequence "
              "event events action actions object objects question options option letter reasoning correct wrong "
              "true false same opposite reversed mirrored flipped horizontal vertical temporal spatial static dynamic "
              "position speed fast slow quickly slowly rotation color colour count shape shapes user assistant "
              "system").split()
    lines += [f"{w} {w.capitalize()} the {w}, <answer>{w}</answer>" for w in common + directions + colours]
    return lines


def build_tokenizer():
    """A byte-level BPE tokenizer trained on `tokenizer_corpus()`, wrapped as a transformers fast tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(tokenizer_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None, bos_token=None, clean_up_tokenization_spaces=False,
                                   model_max_length=32768)
    fast.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    fast.add_tokens(TAG_TOKENS)
    return fast


def build_processor(arch: str, tokenizer):
    from transformers import (Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor, Qwen3VLProcessor,
                              Qwen3VLVideoProcessor)

    min_video, max_video = VIDEO_PIXELS[arch]
    common = dict(patch_size=PATCH_SIZE, temporal_patch_size=TEMPORAL_PATCH_SIZE, merge_size=MERGE_SIZE)
    image = Qwen2VLImageProcessor(size={"shortest_edge": IMAGE_PIXELS[0], "longest_edge": IMAGE_PIXELS[1]}, **common)
    video_cls, processor_cls = {"qwen3_vl": (Qwen3VLVideoProcessor, Qwen3VLProcessor),
                                "qwen2_5_vl": (Qwen2VLVideoProcessor, Qwen2_5_VLProcessor)}[arch]
    # Frames come in already sampled by crpo.data.video.load_clip: the processor must not sample again.
    video = video_cls(size={"shortest_edge": min_video, "longest_edge": max_video}, do_sample_frames=False,
                      cap_pixels_per_frame=False, **common)
    tokenizer.chat_template = CHAT_TEMPLATES[arch]
    return processor_cls(image_processor=image, tokenizer=tokenizer, video_processor=video,
                         chat_template=CHAT_TEMPLATES[arch])


def tiny_config(arch: str, tokenizer):
    """Model config of ~1M parameters; token ids taken from `tokenizer`."""
    from transformers import Qwen2_5_VLConfig, Qwen3VLConfig

    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    eos, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.pad_token_id
    text = dict(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=384, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                eos_token_id=eos, pad_token_id=pad, bos_token_id=None)
    vision = dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=4, patch_size=PATCH_SIZE,
                  temporal_patch_size=TEMPORAL_PATCH_SIZE, spatial_merge_size=MERGE_SIZE, out_hidden_size=128)
    if arch == "qwen3_vl":
        # head_dim 32 -> 16 rotary frequencies, interleaved T/H/W as in the real [24, 20, 20] of 64.
        text.update(head_dim=32, rope_parameters={"rope_type": "default", "rope_theta": 500000.0,
                                                  "mrope_section": [8, 4, 4], "mrope_interleaved": True})
        vision.update(hidden_act="gelu_pytorch_tanh", num_position_embeddings=64, deepstack_visual_indexes=[0])
        return Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)
    text.update(rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]})
    # Window attention in block 0 over 32-pixel windows (2x2 merged tokens), full attention in block 1.
    vision.update(hidden_act="silu", window_size=32, fullatt_block_indexes=[1], tokens_per_second=4)
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)


def build_tiny_model(arch: str, out, seed: int = 0) -> None:
    """Write a tiny random-initialised `arch` checkpoint (model, tokenizer, processor, generation config) to `out`."""
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    if arch not in ARCHS:
        raise ValueError(f"unknown arch '{arch}' (expected one of {', '.join(ARCHS)})")
    tokenizer = build_tokenizer()
    processor = build_processor(arch, tokenizer)
    config = tiny_config(arch, tokenizer)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    if arch == "qwen3_vl":
        # The learned position embedding of the vision tower starts at std 1.0 instead of 0.02: at 0.02 it is
        # drowned by the patch embedding, so the random LM sees no "where" in the vision tokens and a tiny model
        # cannot learn left/right motion in a short run (probe: position must reach the LM as content).
        torch.nn.init.normal_(model.model.visual.pos_embed.weight, std=1.0)
    eos = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=tokenizer.pad_token_id,
                                               bos_token_id=None, do_sample=False)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
