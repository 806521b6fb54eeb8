"""Real-size smoke run: one CRPO step of a random-weight Qwen3-VL-2B-shaped model through `crpo train`.

    .venv/bin/python benchmarks/real_size_step.py [--dtype bfloat16] [--num-frames 16] [--max-pixels 50176]

Not a test (minutes and ~10 GB on a CPU): it exercises the path a GPU-day would take before anyone spends one:
a Qwen3-VL-2B-shaped config (28 text layers of 2048, 24 vision blocks of 1024, deepstack, 151,936-token embedding;
about 2.1B parameters, random weights, built and saved locally, never downloaded), LoRA on the language model,
gradient checkpointing, bf16 compute over fp32 adapter weights, 16 frames of a shared real clip, 1 item x 2
branches x G = 2, then final/ (LoRA merged from the state dict). Prints the step time (the trainer's own
`seconds`), the whole run's wall time and the peak resident memory of this process, next to the weights' size.
The tokenizer is the tiny model's (ids stay far below the embedding size): only the shapes matter here.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"


def qwen3_vl_2b_config(tokenizer):
    """Qwen3-VL-2B-Instruct's published shapes; token ids from the tiny tokenizer."""
    from transformers import Qwen3VLConfig
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    text = dict(vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=262144,
                eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tokenizer.pad_token_id,
                bos_token_id=None, rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                                                    "mrope_section": [24, 20, 20], "mrope_interleaved": True})
    vision = dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, patch_size=16,
                  temporal_patch_size=2, spatial_merge_size=2, out_hidden_size=2048, hidden_act="gelu_pytorch_tanh",
                  num_position_embeddings=2304, deepstack_visual_indexes=[5, 11, 17])
    return Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **ids)


def build_model(out: Path, dtype: str) -> int:
    import torch
    from transformers import (AutoModelForImageTextToText, GenerationConfig, Qwen2VLImageProcessor, Qwen3VLProcessor,
                              Qwen3VLVideoProcessor)

    from crpo.models.tiny import CHAT_TEMPLATES, build_tokenizer

    tokenizer = build_tokenizer()
    common = dict(patch_size=16, temporal_patch_size=2, merge_size=2)
    video = Qwen3VLVideoProcessor(size={"shortest_edge": 4096, "longest_edge": 25165824}, do_sample_frames=False,
                                  **common)
    image = Qwen2VLImageProcessor(size={"shortest_edge": 4096, "longest_edge": 16777216}, **common)
    tokenizer.chat_template = CHAT_TEMPLATES["qwen3_vl"]
    processor = Qwen3VLProcessor(image_processor=image, tokenizer=tokenizer, video_processor=video,
                                 chat_template=CHAT_TEMPLATES["qwen3_vl"])
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(qwen3_vl_2b_config(tokenizer), dtype=getattr(torch, dtype))
    eos = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=tokenizer.pad_token_id,
                                               bos_token_id=None, do_sample=False)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    del model
    return n


def write_item(root: Path, video: Path) -> Path:
    (root / "videos").mkdir(parents=True)
    (root / "videos" / video.name).symlink_to(video.resolve())
    item = {"id": "smoke-0", "video": f"videos/{video.name}", "problem_type": "multiple_choice",
            "question": "In which direction does the main object move?",
            "options": ["left", "right", "up", "down"], "answer": "A"}
    (root / "train.jsonl").write_text(json.dumps(item) + "\n")
    return root / "train.jsonl"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    p.add_argument("--num-frames", type=int, default=16)
    p.add_argument("--max-pixels", type=int, default=224 * 224, help="per frame (224 x 224: 49 tokens a frame pair)")
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--video", default=str(VIDEOS / "bigbuckbunny.mp4"))
    p.add_argument("--work", default=None, help="where to build the model (default: a temporary directory)")
    a = p.parse_args()

    from crpo.training.config import TrainConfig, load_config
    from crpo.training.trainer import train

    with tempfile.TemporaryDirectory(dir=a.work) as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        params = build_model(tmp / "model", a.dtype)
        built = time.perf_counter() - t0
        data = write_item(tmp / "data", Path(a.video))
        cfg = load_config(TrainConfig, None, [
            f"model={tmp / 'model'}", f"train_data={data}", f"output_dir={tmp / 'run'}", "algorithm=crpo",
            "counterfactual=hflip", "max_steps=1", "prompts_per_step=1", "num_generations=2",
            f"max_new_tokens={a.max_new_tokens}", f"num_frames={a.num_frames}", f"max_pixels={a.max_pixels}",
            f"dtype={a.dtype}", "lora=true", "gradient_checkpointing=true", "freeze_vision=true",
            "learning_rate=1e-5", "report_to=none", "log_completions_steps=0"])
        t1 = time.perf_counter()
        train(cfg)
        run = time.perf_counter() - t1
        row = json.loads((tmp / "run" / "metrics.jsonl").read_text().splitlines()[0])
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        weights_gb = params * (2 if a.dtype == "bfloat16" else 4) / 1e9
        print(json.dumps({
            "params_billion": round(params / 1e9, 3), "dtype": a.dtype, "num_frames": a.num_frames,
            "max_pixels": a.max_pixels, "build_seconds": round(built, 1), "step_seconds": round(row["seconds"], 1),
            "generate_seconds": round(row["generate_seconds"], 1), "run_seconds_incl_load_and_final": round(run, 1),
            "peak_rss_gb": round(peak_gb, 2), "weights_gb": round(weights_gb, 2),
            "final_loadable": (tmp / "run" / "final" / "config.json").exists()}))


if __name__ == "__main__":
    main()
