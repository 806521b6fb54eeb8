"""`VideoLM`: one Qwen-VL video model (Qwen3-VL or Qwen2.5-VL) behind the five calls RL and evaluation need.

    lm = VideoLM.load("runs/tiny-qwen3vl")
    inputs = lm.encode([lm.prompt(q) for q in questions], clips, max_prompt_length=2048, ids=item_ids)
    inputs = lm.repeat(inputs, 8)                        # G rollouts per prompt share one processor call
    ids, mask, texts = lm.generate(inputs, max_new_tokens=64, temperature=1.0)
    logp = lm.logprobs(inputs, ids, mask)               # [B, T], differentiable, 0 where mask is 0

    shared = share_videos(lm.encode(...), rows)         # rollouts: each video stored once, video_index per row
    feats = lm.video_features(shared)                   # each video through the vision tower once, no gradient
    lm.generate(shared, ..., video_features=feats); lm.logprobs(shared, ids, mask, video_features=feats)

Layout: prompts are LEFT-padded `[B, P]`, completions RIGHT-padded `[B, T]`, so `concat(prompt, completion)` is
the sequence that generation produced, token for token, and one forward scores it. Vision tokens are never
truncated: a prompt over the limit is an error naming the item.

Family details handled here:
- frames arrive already sampled (crpo.data.video): the processor gets `do_sample_frames=False` and the clip's
  metadata, whose frame indices are ascending for every transform, so a reversed or shuffled clip gets the same
  prompt text (Qwen3-VL writes `<t seconds>` per temporal patch) as the original.
- Qwen3-VL under transformers 5.x replaces only `<|video_pad|>`, so the chat template's
  `<|vision_start|><|video_pad|><|vision_end|>` would wrap the per-frame `<t><|vision_start|>...<|vision_end|>`
  blocks in a second, stray pair; we collapse the wrapper first to get the layout Qwen3-VL was trained on.
- Qwen2.5-VL: `second_per_grid_ts` is the time spanned by one temporal patch, from the clip's frame indices.
- `mm_token_type_ids` (video tokens = 2) go to generate and forward: M-RoPE positions are computed from them.
- Vision once per clip (shared-video inputs, crpo.models.batching): the models' forward takes precomputed vision-encoder
  outputs (`mm_encoder_outputs`, transformers 5: pooled features and Qwen3-VL's deepstack features) and still
  computes M-RoPE positions from one `video_grid_thw` row per prompt row, so features encoded once per video are
  handed to every row that shows it. Without precomputed features a forward pre-hook encodes each video once
  inside the forward (under FSDP the weights are gathered there), with gradient if the vision tower trains.
- Decoding ignores the checkpoint's sampling defaults (hub Qwen configs ship top_k / repetition_penalty, which
  would make the sampled policy differ from the one `logprobs` scores): only its eos ids are used.
"""
from __future__ import annotations

import inspect
from contextlib import contextmanager, nullcontext

import torch

from crpo.data.items import DataError
from crpo.models.batching import expand_videos, select_videos, take_rows, videos_used
from crpo.models.logprobs import token_logprobs

FAMILIES = ("qwen3_vl", "qwen2_5_vl")
# generate() fills every field we leave unset from the checkpoint's generation_config (hub Qwen configs set top_k,
# top_p, temperature, repetition_penalty): pin the logits-changing ones to neutral so that the sampled policy is
# the one `logprobs` scores. Sampling adds top_k=0 (the library default would be 50).
NEUTRAL_DECODING = dict(repetition_penalty=1.0, no_repeat_ngram_size=0, min_new_tokens=0)
VIDEO_WRAPPER = "<|vision_start|><|video_pad|><|vision_end|>"
END_OF_TURN = "<|im_end|>"
# Placeholders the processor expands into vision features. The policy never emits them: one sampled into a
# completion is read back as a video token when the completion is scored ("video features and video tokens do
# not match"), which a tiny model sampled at temperature 1.5 does within a few thousand completions.
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def stop_mask(ids: torch.Tensor, stop_ids: list[int]) -> torch.Tensor:
    """1 up to and including the first stop token of each row, 0 after it; all ones for a row with none. [B, T]."""
    is_stop = torch.isin(ids, torch.as_tensor(stop_ids, device=ids.device))
    after_stop = (is_stop.cumsum(-1) - is_stop.long()) > 0  # a stop token strictly earlier in the row
    return (~after_stop).long()


class VideoLM:
    """A Qwen-VL model and its processor; see the module docstring for the tensor layout."""

    def __init__(self, model, processor):
        self.family = model.config.model_type
        if self.family not in FAMILIES:
            raise DataError(f"{model.name_or_path}: model type '{self.family}' is not supported (expected one of "
                            f"{', '.join(FAMILIES)})")
        self.model, self.processor, self.tokenizer = model, processor, processor.tokenizer
        self.tokenizer.padding_side = "left"  # batched generation appends on the right of every row
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            raise ValueError(f"{model.name_or_path}: the tokenizer has no pad token (Qwen's is <|endoftext|>)")
        eos = model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        self.stop_ids = sorted(set(eos) | {self.tokenizer.convert_tokens_to_ids(END_OF_TURN)})
        known = [self.tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS if t in self.tokenizer.get_vocab()]
        self.vision_ids = sorted(set(known))
        # transformers releases whose forward takes no precomputed vision outputs: shared videos are expanded to
        # one copy per row (every pass encodes every row, as before shared videos).
        self.reuses_vision = "mm_encoder_outputs" in inspect.signature(model.model.forward).parameters

    @classmethod
    def load(cls, path, dtype="float32", device="cpu", attn_implementation="sdpa") -> "VideoLM":
        """The model and processor of a local directory (crpo/models/local.py: when a hub id is allowed); a path
        that is not a loadable model is one DataError line naming it."""
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from crpo.models.local import from_pretrained_kwargs, load_error, model_source

        source = model_source(path)
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        try:
            model = AutoModelForImageTextToText.from_pretrained(
                source, dtype=dtype, attn_implementation=attn_implementation, **from_pretrained_kwargs())
            processor = AutoProcessor.from_pretrained(source, **from_pretrained_kwargs())
        except (OSError, ValueError, KeyError) as e:
            raise load_error(path, e) from None
        return cls(model.to(device), processor)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def prompt(self, question: str, system: str | None = None) -> str:
        """Chat-template text of one user turn (the video, then `question`) ready for the assistant's answer."""
        messages = [{"role": "system", "content": system}] if system is not None else []
        messages.append({"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]})
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def encode(self, prompts: list[str], clips: list, max_prompt_length: int | None = None,
               ids: list[str] | None = None) -> dict[str, torch.Tensor]:
        """Processor inputs for one video per prompt, left-padded, on the model's device.

        Keys: input_ids, attention_mask, mm_token_type_ids [B, P]; pixel_values_videos [sum of patches, D];
        video_grid_thw [B, 3]; second_per_grid_ts [B] for Qwen2.5-VL.
        """
        if len(prompts) != len(clips):
            raise ValueError(f"encode: {len(prompts)} prompts but {len(clips)} clips")
        if self.family == "qwen3_vl":
            prompts = [p.replace(VIDEO_WRAPPER, "<|video_pad|>") for p in prompts]
        inputs = self.processor(text=list(prompts), videos=[c.frames for c in clips],
                                video_metadata=[c.video_metadata() for c in clips], do_sample_frames=False,
                                padding=True, return_tensors="pt")
        inputs = dict(inputs)
        if "second_per_grid_ts" in inputs:
            temporal_patch = self.processor.video_processor.temporal_patch_size
            inputs["second_per_grid_ts"] = torch.tensor([temporal_patch * seconds_per_frame(c) for c in clips])
        if max_prompt_length is not None:
            for i, n in enumerate(inputs["attention_mask"].sum(-1).tolist()):
                if n > max_prompt_length:
                    name = ids[i] if ids is not None else f"#{i} of the batch"
                    raise DataError(f"item {name}: prompt is {n} tokens with its video, over max_prompt_length="
                                     f"{max_prompt_length}; vision tokens are never truncated: use fewer frames or "
                                     "pixels, or raise max_prompt_length")
        dtype = next(self.model.parameters()).dtype
        return {k: v.to(self.device, dtype=dtype if k == "pixel_values_videos" else None) for k, v in inputs.items()}

    def repeat(self, inputs: dict, n: int) -> dict:
        """Every row repeated n times consecutively (row i -> rows i*n .. i*n+n-1), video patches included."""
        return take_rows(inputs, [i for i in range(inputs["input_ids"].shape[0]) for _ in range(n)])

    @torch.no_grad()
    def generate(self, inputs: dict, max_new_tokens: int, do_sample: bool = True, temperature: float = 1.0,
                 top_p: float = 1.0, video_features=None,
                 **generate_kwargs) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """Sample (or greedily decode) completions.

        Returns completion_ids [B, T] right-padded with the pad id, completion_mask [B, T] (1 up to and including
        the first end-of-turn / EOS token) and the decoded texts (special tokens skipped). Extra keyword
        arguments (e.g. logits_processor) go to `model.generate`. `video_features`: `video_features(inputs)` of
        shared-video inputs, computed once and reused (computed here when not given).
        """
        from transformers import GenerationConfig

        sampling = dict(temperature=temperature, top_p=top_p, top_k=0, typical_p=1.0) if do_sample else {}
        config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=do_sample, eos_token_id=self.stop_ids,
                                  pad_token_id=self.pad_id, bos_token_id=None, suppress_tokens=self.vision_ids or None,
                                  **NEUTRAL_DECODING, **sampling)
        if "video_index" in inputs and video_features is None:  # generate encodes outside forward: no hook there
            video_features = self.video_features(inputs)
        kwargs, encode = self.model_inputs(inputs, self.model, video_features)
        with encode:
            sequences = self.model.generate(**kwargs, generation_config=config, **generate_kwargs)
        ids = sequences[:, inputs["input_ids"].shape[1]:]
        mask = stop_mask(ids, self.stop_ids)
        ids = ids.masked_fill(mask == 0, self.pad_id)
        texts = self.tokenizer.batch_decode([row[:m.sum()] for row, m in zip(ids, mask)], skip_special_tokens=True)
        return ids, mask, texts

    def join(self, inputs: dict, completion_ids: torch.Tensor, completion_mask: torch.Tensor) -> dict:
        """Model inputs for prompt + completion: [B, P + T] sequences with the prompt's visual inputs."""
        joined = dict(inputs)
        joined["input_ids"] = torch.cat([inputs["input_ids"], completion_ids], dim=1)
        prompt_mask = inputs["attention_mask"]
        joined["attention_mask"] = torch.cat([prompt_mask, completion_mask.to(prompt_mask)], dim=1)
        if "mm_token_type_ids" in inputs:  # completion tokens are text (type 0)
            types = inputs["mm_token_type_ids"]
            joined["mm_token_type_ids"] = torch.cat([types, types.new_zeros(completion_ids.shape)], dim=1)
        return joined

    def logprobs(self, inputs: dict, completion_ids: torch.Tensor, completion_mask: torch.Tensor,
                 model=None, temperature: float = 1.0, video_features=None) -> torch.Tensor:
        """Per-token log-probabilities [B, T] of the completion under `model`, 0 where the mask is 0.

        `model` defaults to self.model; pass the DDP/peft-wrapped policy for the loss, or a reference model. One
        forward over prompt + completion with the prompt's video; logits only at the completion positions.
        `temperature`: the one rollouts were sampled at, so ratios and KL describe the policy that was sampled.
        `video_features` (shared-video inputs): the vision outputs of `model`'s own vision tower, reused instead of
        encoding (no gradient reaches the vision tower through them); None encodes each video once in the forward.
        """
        model = self.model if model is None else model
        t = completion_ids.shape[1]
        # Prompts are left-padded, so every row's completion starts at column P: logits_to_keep=t+1 keeps columns
        # P-1 .. P+T-1 of all rows, column j predicts token j+1, and the last one is dropped.
        kwargs, encode = self.model_inputs(self.join(inputs, completion_ids, completion_mask), model, video_features)
        with encode:
            logits = model(**kwargs, logits_to_keep=t + 1, use_cache=False).logits
        # Tempered, with the vision placeholders out of the softmax: the distribution generate() samples from.
        # Column t of the logits is unused; token_logprobs keeps a single gradient buffer for all of them.
        return token_logprobs(logits, completion_ids, temperature, self.vision_ids).masked_fill(
            completion_mask == 0, 0.0)

    @torch.no_grad()
    def video_features(self, inputs: dict, model=None):
        """The vision tower's output for every video of shared-video `inputs`, once each, without gradient.

        What generation and every later pass whose vision weights are the same reuse (`video_features=`): a frozen
        vision tower's features are the same all step. Last hidden states are dropped: the models read only the
        pooled and deepstack features. None where the model cannot take them (see `reuses_vision`).
        """
        if not self.reuses_vision:
            return None
        out = vision_language_model(model or self.model).get_video_features(
            inputs["pixel_values_videos"], inputs["video_grid_thw"], return_dict=True)
        fields = {"pooler_output": out.pooler_output}
        if getattr(out, "deepstack_features", None) is not None:
            fields["deepstack_features"] = out.deepstack_features
        return type(out)(**fields)

    def model_inputs(self, inputs: dict, model, video_features=None):
        """Keyword arguments for `model` (forward or generate) and a context to run it in.

        Processor-layout inputs go as they are. Shared-video inputs get one video_grid_thw / second_per_grid_ts row
        per prompt row (M-RoPE positions come from them), and either the rows' share of `video_features` as
        `mm_encoder_outputs`, or the needed videos' pixels, each once, with a pre-hook that encodes them in the
        forward and hands each row its video's features.
        """
        if "video_index" not in inputs:
            return inputs, nullcontext()
        if not self.reuses_vision:
            return expand_videos(inputs), nullcontext()
        index = inputs["video_index"]
        kwargs = {k: v for k, v in inputs.items() if k not in ("video_index", "pixel_values_videos")}
        kwargs["video_grid_thw"] = inputs["video_grid_thw"][index]
        if "second_per_grid_ts" in inputs:
            kwargs["second_per_grid_ts"] = inputs["second_per_grid_ts"][index]
        if video_features is not None:
            kwargs["mm_encoder_outputs"] = {"video": select_videos(video_features, index.tolist())}
            return kwargs, nullcontext()
        videos, rows = videos_used(inputs)
        kwargs["pixel_values_videos"] = videos["pixel_values_videos"]
        return kwargs, encode_each_video_once(model, videos["video_grid_thw"], rows)

    def supervised_inputs(self, prompts: list[str], clips: list, targets: list[str],
                          max_prompt_length: int | None = None, ids: list[str] | None = None) -> dict:
        """Inputs with `labels` for a supervised warm start: prompt + target + <|im_end|>, labels -100 except on
        the target tokens and the end of turn. Same token layout as a rollout (target tokenised on its own)."""
        inputs = self.encode(prompts, clips, max_prompt_length=max_prompt_length, ids=ids)
        rows = [self.tokenizer(t + END_OF_TURN, add_special_tokens=False)["input_ids"] for t in targets]
        width = max(len(r) for r in rows)
        target_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        target_mask = torch.zeros_like(target_ids)
        for i, row in enumerate(rows):
            target_ids[i, :len(row)], target_mask[i, :len(row)] = torch.tensor(row), 1
        target_ids, target_mask = target_ids.to(self.device), target_mask.to(self.device)
        joined = self.join(inputs, target_ids, target_mask)
        prompt_labels = torch.full_like(inputs["input_ids"], -100)
        joined["labels"] = torch.cat([prompt_labels, target_ids.masked_fill(target_mask == 0, -100)], dim=1)
        return joined


def vision_language_model(model):
    """The Qwen*VLModel inside `model` (a ForConditionalGeneration, maybe peft- or DDP/DeepSpeed-wrapped): the
    module whose forward turns pixels into features (`get_video_features`) and merges them into the text."""
    model = getattr(model, "module", model)
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model.model


def vision_trainable(model) -> bool:
    """Whether any vision-tower weight of `model` takes gradients (freeze_vision=false, full fine-tuning)."""
    return any(p.requires_grad for p in vision_language_model(model).visual.parameters())


@contextmanager
def encode_each_video_once(model, grid: torch.Tensor, rows: list[int]):
    """While active, `model`'s forward encodes the `pixel_values_videos` it is given (one block per video, shapes
    `grid`) in one vision pass and gives prompt row r the features of video rows[r].

    A forward pre-hook on the inner VL model: it runs inside the outer forward, so DDP, FSDP and ZeRO-3 see the
    vision tower used where they expect it, and gradients flow to it when it trains (a video shown by G rows then
    gets the sum of their gradients, as G copies would).
    """
    def hook(module, args, kwargs):
        pixels = kwargs.get("pixel_values_videos")
        if pixels is None:  # decoding steps after the prefill
            return None
        features = module.get_video_features(pixels, grid, return_dict=True)
        encoded = {"video": select_videos(features, rows)}
        return args, {**kwargs, "pixel_values_videos": None, "mm_encoder_outputs": encoded}

    handle = vision_language_model(model).register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def seconds_per_frame(clip) -> float:
    """Mean time between the clip's sampled frames, from its (ascending) source frame indices."""
    indices = clip.video_metadata()["frames_indices"]
    if len(indices) < 2 or indices[-1] == indices[0]:
        return 1.0 / clip.fps
    return (indices[-1] - indices[0]) / ((len(indices) - 1) * clip.fps)
