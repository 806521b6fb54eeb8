"""Vision once per clip, and chunked generation: the same numbers as the processor layout, fewer vision passes.

Rollouts store each branch's video once (crpo.models.batching.share_videos, `video_index` per row) and encode it once
(VideoLM.video_features); every pass either reuses those features (mm_encoder_outputs) or encodes each video once
inside its forward. Each test compares with the processor layout, where every row carries (and every pass
encodes) its own copy of the video: generations, log-probs and gradients must agree, for both families, on a real
mp4 clip and its counterfactuals plus a clip of another size (so rows have different M-RoPE grids).
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from shared_data import BIKES
from transformers import LogitsProcessor, LogitsProcessorList

from crpo.data.counterfactual import counterfactual
from crpo.data.items import Item
from crpo.data.video import Clip, load_clip
from crpo.models import VideoLM
from crpo.models.batching import expand_videos, share_videos, take_rows
from crpo.rl.methods.common import Branch, ItemPlan
from crpo.training.config import TrainConfig
from crpo.training.rollout import generate_in_chunks, generate_rollouts, pad_right
from crpo.training.sampling import rollout_seed, seeded_sampling

ARCHS = ["qwen3_vl", "qwen2_5_vl"]
G = 3
TOL = 1e-5


@pytest.fixture(scope="module")
def lms(tiny_models):
    return {arch: VideoLM.load(tiny_models[arch]) for arch in ARCHS}


@pytest.fixture(scope="module")
def clips():
    """A real clip, its two counterfactuals, and a random clip of another size and length (another grid)."""
    bikes = load_clip(BIKES, num_frames=4, max_pixels=64 * 64, size_factor=32)
    pixels = np.random.default_rng(0).integers(0, 256, (6, 32, 64, 3), dtype=np.uint8)
    other = Clip(frames=pixels, fps=8.0, frame_indices=np.arange(6), source_size=(32, 64), duration=0.75)
    return [bikes, counterfactual(bikes, "hflip"), counterfactual(bikes, "reverse"), other]


def encoded(lm, clips):
    questions = ["Where do the bikes go?", "Which way do they ride?", "What happens first?", "Is it static?"]
    return lm.encode([lm.prompt(q) for q in questions], clips)


ROWS = [v for v in range(4) for _ in range(G)]


class VisionCalls:
    """Counts the vision tower's forward passes and the patches they encode (a forward hook on the real module)."""

    def __init__(self, lm):
        self.calls, self.patches = 0, 0
        self.handle = lm.model.model.visual.register_forward_hook(self.hook)

    def hook(self, module, args, output):
        self.calls += 1
        self.patches += args[0].shape[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


class Record(LogitsProcessor):
    def __init__(self):
        self.scores = []

    def __call__(self, input_ids, scores):
        self.scores.append(scores.clone())
        return scores


def sample(lm, inputs, seeds, **kw):
    record = Record()
    processors = LogitsProcessorList([record, *seeded_sampling(seeds, 1.0, 1.0, inputs["input_ids"].shape[1])])
    ids, mask, texts = lm.generate(inputs, max_new_tokens=6, do_sample=False, logits_processor=processors, **kw)
    return ids, mask, texts, torch.stack(record.scores, 1)


@pytest.mark.parametrize("arch", ARCHS)
def test_shared_videos_generate_and_score_like_copies_with_one_vision_pass(lms, clips, arch):
    lm = lms[arch]
    enc = encoded(lm, clips)
    copies, shared = take_rows(enc, ROWS), share_videos(enc, ROWS)
    assert shared["pixel_values_videos"].data_ptr() == enc["pixel_values_videos"].data_ptr()  # not copied
    assert len(set(map(tuple, enc["video_grid_thw"].tolist()))) == 2  # two grids: M-RoPE differs between rows
    for key in copies:  # the per-row view of the shared layout is the processor layout itself
        assert torch.equal(expand_videos(shared)[key], copies[key]), key
    seeds = [rollout_seed(0, 0, r, 0) for r in range(len(ROWS))]

    with VisionCalls(lm) as calls:
        ids, mask, texts, scores = sample(lm, copies, seeds)
        logp = lm.logprobs(copies, ids, mask)
    assert (calls.calls, calls.patches) == (2, 2 * copies["pixel_values_videos"].shape[0])  # every row, every pass

    with VisionCalls(lm) as calls:
        features = lm.video_features(shared)
        ids2, mask2, texts2, scores2 = sample(lm, shared, seeds, video_features=features)
        logp2 = lm.logprobs(shared, ids2, mask2, video_features=features)
    assert (calls.calls, calls.patches) == (1, enc["pixel_values_videos"].shape[0])  # each video once, all step
    assert torch.equal(ids2, ids) and torch.equal(mask2, mask) and texts2 == texts
    assert len(set(texts)) > 1  # sampled, so equality is not that of one greedy string
    torch.testing.assert_close(scores2, scores, atol=TOL, rtol=0)
    torch.testing.assert_close(logp2, logp, atol=TOL, rtol=0)

    # Without features: each video used by the rows encoded once inside the forward (here rows of 2 videos only).
    some = [5, 0, 7, 3, 4]
    with VisionCalls(lm) as calls:
        logp3 = lm.logprobs(take_rows(shared, some), ids[some], mask[some])
    used = enc["video_grid_thw"][[0, 1, 2]].prod(-1).sum()  # rows 0-8 show videos 0, 1, 2
    assert (calls.calls, calls.patches) == (1, used)
    torch.testing.assert_close(logp3, logp[some], atol=TOL, rtol=0)

    # The comparison can fail: rows pointed at another video of the same shape (bikes <-> its flip) score differently.
    wrong = dict(shared, video_index=torch.tensor([(v + 1) % 3 if v < 3 else v for v in ROWS]))
    assert (lm.logprobs(wrong, ids, mask, video_features=features) - logp).abs().max() > 1e-3


@pytest.mark.parametrize("arch", ARCHS[:1])
def test_a_model_without_precomputed_vision_inputs_scores_shared_videos_as_copies(lms, clips, arch):
    lm = lms[arch]
    enc = encoded(lm, clips)
    copies, shared = take_rows(enc, ROWS), share_videos(enc, ROWS)
    ids, mask, _ = lm.generate(copies, max_new_tokens=4, do_sample=False)
    expected = lm.logprobs(copies, ids, mask)
    lm.reuses_vision = False  # what VideoLM sets for a forward without `mm_encoder_outputs`
    try:
        assert lm.video_features(shared) is None
        with VisionCalls(lm) as calls:
            got = lm.logprobs(shared, ids, mask)
            again = lm.generate(shared, max_new_tokens=4, do_sample=False)[0]
        assert calls.patches == 2 * copies["pixel_values_videos"].shape[0]  # every row encoded, as before
    finally:
        lm.reuses_vision = True
    torch.testing.assert_close(got, expected, atol=TOL, rtol=0)
    assert torch.equal(again, ids)


def grads(model, names):
    return {n: p.grad.clone() for n, p in model.named_parameters() if n in names and p.grad is not None}


@pytest.mark.parametrize("arch", ARCHS)
def test_gradients_through_shared_videos_equal_those_through_copies(lms, clips, arch):
    lm = lms[arch]
    enc = encoded(lm, clips)
    copies, shared = take_rows(enc, ROWS), share_videos(enc, ROWS)
    ids, mask, _ = lm.generate(copies, max_new_tokens=5, do_sample=False)
    weights = torch.linspace(-1, 1, len(ROWS))[:, None]  # a loss that weighs rows differently, like advantages
    names = {n for n, _ in lm.model.named_parameters()}
    vision = {n for n in names if ".visual." in n}

    def backward(inputs, **kw):
        lm.model.zero_grad(set_to_none=True)
        (lm.logprobs(inputs, ids, mask, **kw) * weights).sum().backward()
        return grads(lm.model, names)

    try:
        # Frozen vision tower: features encoded once (no gradient) give the language model the same gradient.
        lm.model.model.visual.requires_grad_(False)
        reference = backward(copies)
        reused = backward(shared, video_features=lm.video_features(shared))
        assert reference.keys() == reused.keys() and not reference.keys() & vision
        assert "lm_head.weight" in reference or "model.language_model.embed_tokens.weight" in reference
        for n in reference:
            torch.testing.assert_close(reused[n], reference[n], atol=TOL, rtol=TOL, msg=n)
        # Trainable vision tower: each video encoded once in the forward, its gradient the sum over its G rows.
        lm.model.model.visual.requires_grad_(True)
        reference = backward(copies)
        once = backward(shared)
        assert reference.keys() == once.keys() and any(reference[n].abs().sum() > 0 for n in vision & reference.keys())
        for n in reference:
            torch.testing.assert_close(once[n], reference[n], atol=TOL, rtol=TOL, msg=n)
    finally:
        lm.model.zero_grad(set_to_none=True)
        lm.model.requires_grad_(True)


def plans_of(clips):
    items = [Item(id=f"it{i}", video="v.mp4", question=q, answer="A", options=["left", "right"])
             for i, q in enumerate(["Which way do the bikes ride?", "What happens first in this short clip?"])]
    grpo = Item(id="it2", video="v.mp4", question="Where do they go?", answer="B", options=["left", "right"])
    return [ItemPlan(items[0], [Branch(0, items[0], "orig", clips[0], "A"), Branch(0, items[0], "cf", clips[1], "B")]),
            ItemPlan(items[1], [Branch(1, items[1], "orig", clips[3], "A"), Branch(1, items[1], "cf", clips[2], None)]),
            # GRPO's 2 x G on the original: both branches show the same clip object (here item 0's too)
            ItemPlan(grpo, [Branch(2, grpo, "orig", clips[0], "B"), Branch(2, grpo, "orig", clips[0], "B")])]


@pytest.mark.parametrize("arch", ARCHS)
def test_rollouts_are_the_same_whatever_the_generation_batch_size(lms, clips, arch):
    lm = lms[arch]
    plans = plans_of(clips)
    runs = {}
    for size in (0, 1, 3, 5):
        cfg = TrainConfig(num_generations=G, max_new_tokens=6, temperature=1.2, top_p=0.95, generation_batch_size=size)
        with torch.no_grad(), VisionCalls(lm) as calls:
            runs[size] = generate_rollouts(lm, plans, cfg, step=3, item_offsets=[5, 2, 9])
        assert calls.calls == 1  # one vision pass per step, whatever the chunking
    whole = runs[0]
    grid = whole.inputs["video_grid_thw"]  # one video per distinct clip (6 branches, 4 clips), G rows a branch
    assert grid.shape[0] == 4 and whole.inputs["pixel_values_videos"].shape[0] == grid.prod(-1).sum()
    assert whole.inputs["video_index"].tolist() == [v for v in (0, 1, 2, 3, 0, 0) for _ in range(G)]
    assert len(set(whole.texts)) > 1
    for size, ro in runs.items():
        assert torch.equal(ro.completion_ids, whole.completion_ids), size
        assert torch.equal(ro.completion_mask, whole.completion_mask) and ro.texts == whole.texts, size
    # ... and the same as the processor layout, every row its own video copy, generated in one call.
    cfg = TrainConfig(num_generations=G, max_new_tokens=6, temperature=1.2, top_p=0.95)
    copies = expand_videos(whole.inputs)
    seeds = [rollout_seed(0, 3, off, k) for off in (5, 2, 9) for k in range(2 * G)]
    ids, mask, _ = lm.generate(copies, max_new_tokens=6, do_sample=False,
                               logits_processor=seeded_sampling(seeds, 1.2, 0.95, copies["input_ids"].shape[1]))
    assert torch.equal(pad_right([ids], lm.pad_id), whole.completion_ids)


@pytest.mark.parametrize("arch", ARCHS)
def test_a_row_samples_the_same_in_a_wider_batch(lms, clips, arch):
    """Same row, two batches whose prompts are left-padded to different widths: the same completion."""
    lm = lms[arch]
    long_prompt = lm.prompt("Which way do the bikes ride, and what happens first in this clip? Answer briefly.")
    inputs = share_videos(lm.encode([lm.prompt("Where?"), long_prompt], clips[:2]), [0, 0, 1])
    seeds = [11, 12, 13]
    cfg = types.SimpleNamespace(generation_batch_size=2, temperature=1.0, top_p=1.0, max_new_tokens=6)
    alone = generate_in_chunks(lm, take_rows(inputs, [0, 1]), seeds[:2], cfg)  # only the short prompt
    mixed = generate_in_chunks(lm, take_rows(inputs, [1, 2]), seeds[1:], cfg)  # row 1 next to the long prompt
    assert take_rows(inputs, [0, 1])["input_ids"].shape[1] < take_rows(inputs, [1, 2])["input_ids"].shape[1]
    width = min(alone[0].shape[1], mixed[0].shape[1])
    assert torch.equal(alone[0][1, :width], mixed[0][0, :width]) and alone[2][1] == mixed[2][0]
    assert alone[2][0] != alone[2][1]  # different seeds: different samples on the same prompt


def test_pad_right():
    a, b = torch.tensor([[1, 2, 3]]), torch.tensor([[4], [5]])
    assert pad_right([a, b], 0).tolist() == [[1, 2, 3], [4, 0, 0], [5, 0, 0]]


def vision_passes(fn) -> list[int]:
    """Patches encoded by each vision-tower forward while fn runs (a global forward hook on the real modules)."""
    calls = []

    def hook(module, args, output):
        if type(module).__name__.endswith("VisionModel"):
            calls.append(int(args[0].shape[0]))

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        fn()
    finally:
        handle.remove()
    return calls


@pytest.mark.parametrize("freeze", [True, False])
def test_a_training_step_encodes_each_clip_once_per_pass_that_needs_it(rl_args, tmp_path, freeze):
    """One CRPO step with a KL reference and 2 PPO epochs (old, reference and 2 policy passes), 2 items x 2 branches.

    Frozen vision: one vision pass per step (at generation), reused everywhere. Trainable: generation (reused by
    the old log-probs), the reference model's own, and one per policy pass, each over the 4 clips once; before,
    every one of the 5 passes encoded all 2 x 2 x G rows.
    """
    from crpo.cli import main as cli_main

    args = ["train", *rl_args, "prompts_per_step=2", "max_steps=1", "beta=0.04", "num_iterations=2",
            f"freeze_vision={str(freeze).lower()}", f"output_dir={tmp_path / 'run'}"]
    calls = vision_passes(lambda: cli_main(args))
    assert len(calls) == (1 if freeze else 4), calls
    # Every pass encodes the step's distinct clips once each: the patches of one processor call over them.
    from crpo.data.items import load_items
    from crpo.training.config import load_config
    from crpo.training.trainer import load_plans, step_items
    cfg = load_config(TrainConfig, None, args[1:])
    items = load_items(cfg.train_data)
    plans, _ = load_plans(items, step_items(len(items), 2, 0, cfg.seed), [0, 1], cfg, str(Path(cfg.train_data).parent),
                          0, {"skipped": 0, "no_counterfactual": 0}, {})
    clips = list({id(b.clip): b.clip for plan in plans for b in plan.branches}.values())
    lm = VideoLM.load(cfg.model)
    patches = lm.encode([lm.prompt("?")] * len(clips), clips)["pixel_values_videos"].shape[0]
    assert calls == [patches] * len(calls)  # before: G copies of every clip, in each of the 5 passes


def test_sharded_chunked_generation_survives_a_process_with_fewer_rows(run_crpo, tiny_model, world, tmp_path):
    """FSDP2 over 2 processes, 2 rows per generate call, and rank 0's first item unreadable (skipped): rank 0 has
    half rank 1's rows, so half its generate calls. Each forward there joins collectives (synced_gpus): without
    crpo.training.rollout.peer_chunk_count rank 1 waits in its third call for ever (this test then times out)."""
    from crpo.data.items import load_items, write_jsonl
    from crpo.training.trainer import step_items

    items = load_items(world / "train.jsonl")
    first = step_items(len(items), 4, 0, seed=0)[0]  # global position 0 of step 0: rank 0's first item
    items[first].video = "missing.mp4"
    write_jsonl(tmp_path / "train.jsonl", [item.to_json() for item in items])
    config = Path(__file__).parents[1] / "configs" / "accelerate" / "fsdp.yaml"
    run_crpo(["launch", "--config_file", config, "--num_processes", "2", "-m", "crpo.cli", "train",
              f"model={tiny_model}", f"train_data={tmp_path / 'train.jsonl'}", f"video_root={world}",
              "num_generations=2", "prompts_per_step=4", "max_new_tokens=4", "max_steps=1", "num_frames=4",
              "generation_batch_size=2", "report_to=none", "log_completions_steps=0",
              f"output_dir={tmp_path / 'run'}"], script="accelerate", timeout=90)
    row = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][0]
    assert row["skipped_items"] == 1
