"""Evaluation during training (`eval_steps`): the paired bench every k steps, on the policy being trained.

    crpo train ... eval_steps=10 eval_bench=runs/world/bench.jsonl

Rows of OUTPUT_DIR/evals.jsonl are {"step", **the benchmark's metrics} (for dybench: acc, p_acc, p_acc_dynamic,
static_acc, change and keep rates, per_category); OUTPUT_DIR/evals/step-N/predictions.jsonl keeps the raw outputs.
Greedy decoding with the benchmark's own options and prompt (`crpo eval`'s `predict`): the last row equals what
`crpo eval` gives the saved final model (identical metrics on all 9 demo runs checked). The main process evaluates while the others wait: under DDP the unwrapped policy
runs alone; sharded launchers (FSDP, ZeRO-3) would need every rank in the forward, so use `crpo eval` on
checkpoints there.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch


class BenchDuringTraining:
    def __init__(self, cfg, out: Path, start_step: int):
        from crpo.data.items import load_items
        from crpo.training.train_log import drop_rows_after
        self.cfg, self.out = cfg, Path(out)
        self.items = load_items(cfg.eval_bench)
        self.video_root = cfg.eval_video_root or str(Path(cfg.eval_bench).parent)
        self.path = self.out / "evals.jsonl"
        drop_rows_after(self.path, start_step)

    @torch.no_grad()
    def run(self, adapter, step: int) -> dict:
        """Evaluate `adapter` (its current weights) on the whole bench; append and return the metrics row."""
        from crpo.bench.evaluate import load_item_clip, predict
        from crpo.bench.score import score_file

        was_training = adapter.model.training
        adapter.model.eval()
        rows = []
        size = self.cfg.eval_batch_size
        for start in range(0, len(self.items), size):
            batch = self.items[start:start + size]
            clips = [load_item_clip(it, self.video_root, self.cfg.num_frames) for it in batch]
            rows += predict(adapter, batch, clips, self.cfg.eval_format, self.cfg.max_new_tokens,
                            self.cfg.answer_format)
        adapter.model.train(was_training)
        pred = self.out / "evals" / f"step-{step}" / "predictions.jsonl"
        pred.parent.mkdir(parents=True, exist_ok=True)
        pred.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        metrics = {"step": step, **score_file(self.cfg.eval_format, self.cfg.eval_bench, pred)}
        with open(self.path, "a") as f:
            f.write(json.dumps(metrics) + "\n")
        return metrics
