"""What a training run reports: a progress bar, `metrics.jsonl`, TensorBoard or wandb, sample completions.

Per-step values are sums and counts reduced over all processes, so the numbers describe the global batch.
`metrics.jsonl` is append-only; on resume, rows past the checkpoint (written by the killed run) are dropped
first, so the file has exactly one row per step.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

# Items of a step counted by why they lost a branch: an unreadable video, no counterfactual class or relation, no
# counterfactual answer where the reward needs one (crr_mode=answer with crr_unmapped=skip, grpo_cf_aug), a cached
# LLM decision that contradicts a definite lexicon rule.
COUNTERS = ("skipped", "no_counterfactual", "no_cf_answer", "llm_conflict")


def drop_rows_after(path: Path, step: int) -> None:
    """Keep only the rows of a JSONL log up to `step`: a resumed run starts from its checkpoint, and the rows the
    killed run wrote past it would otherwise appear twice."""
    if path.exists():
        keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in keep))


class MetricsLogger:
    def __init__(self, output_dir, cfg, accelerator, start_step: int = 0):
        self.out = Path(output_dir)
        self.cfg = cfg
        self.acc = accelerator
        self.main = accelerator.is_main_process
        self.writer = self.bar = self.wandb = None
        self.rollouts_path = None
        if cfg.log_rollouts:  # every rank writes its own items: rank 0 rollouts.jsonl, rank k rollouts.rank{k}.jsonl
            rank = accelerator.process_index
            self.rollouts_path = self.out / ("rollouts.jsonl" if rank == 0 else f"rollouts.rank{rank}.jsonl")
            self.out.mkdir(parents=True, exist_ok=True)
            drop_rows_after(self.rollouts_path, start_step)
        if not self.main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.out / "metrics.jsonl"
        drop_rows_after(self.metrics_path, start_step)
        (self.out / "config.json").write_text(json.dumps(vars(cfg), indent=1))
        if cfg.report_to == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(self.out / "tensorboard"))
        elif cfg.report_to == "wandb":
            import wandb
            self.wandb = wandb.init(config=vars(cfg), dir=str(self.out))
        from tqdm.auto import tqdm
        self.bar = tqdm(total=cfg.max_steps, initial=start_step, desc=f"{cfg.algorithm}", dynamic_ncols=True)

    def log_step(self, step, plans, ro, scores, loss, stats, grad_norm, lr, seconds, profile, counters):
        if self.cfg.log_rollouts:
            self.log_rollouts(step, plans, ro.texts, scores)
        sums = {}

        def add(name, values):
            vals = [v for v in values if v is not None]
            s, c = sums.get(name, (0.0, 0.0))
            sums[name] = (s + float(sum(vals)), c + len(vals))

        for branch in ("orig", "cf", "shuffled", "reversed"):
            rows = [r for r, b in enumerate(scores.branch) if b == branch]
            add(f"reward/{branch}", [float(scores.total[r]) for r in rows if not torch.isnan(scores.total[r])])
            add(f"acc/{branch}", [scores.accuracy[r] for r in rows])
        for term in ("crr", "behave", "format", "tgrpo_bonus", "arrow_reverse"):
            add(term, scores.terms.get(term, []))
        add("completion_length", ro.completion_mask.sum(-1).tolist())
        names = sorted(sums)
        # The loss is this process's share, weighted so that the DDP mean of the gradients is the global gradient:
        # its mean over processes is the global loss. kl and clip fraction: token means, averaged over processes.
        # is_weight_mean / is_truncated: rollout_engine=vllm with importance sampling (the same keys on every rank).
        mean_keys = ["kl", "clip_region"] + [k for k in ("is_weight_mean", "is_truncated") if k in stats]
        local_means = [loss] + [stats.get(k, 0.0) for k in mean_keys]
        local = torch.tensor([v for n in names for v in sums[n]] + local_means
                             + [counters[k] for k in COUNTERS], dtype=torch.float64)
        total = self.acc.reduce(local.to(self.acc.device), reduction="sum").cpu().tolist()
        # Phase seconds and peak memory: the slowest and largest process (every process has the same keys).
        phases = profile.row(seconds)
        slowest = self.acc.gather(torch.tensor(list(phases.values()), dtype=torch.float64, device=self.acc.device))
        phases = dict(zip(phases, slowest.view(self.acc.num_processes, -1).amax(0).tolist()))
        if not self.main:
            return
        k = len(COUNTERS)
        means = dict(zip(["loss", *mean_keys], (v / self.acc.num_processes
                                                for v in total[-k - 1 - len(mean_keys):-k])))
        row = {"step": step, "loss": means.pop("loss"), "kl": means.pop("kl"),
               "clip_fraction": means.pop("clip_region"), **means, "grad_norm": grad_norm, "lr": lr,
               "seconds": seconds, "generate_seconds": phases["time/generate"]}
        for i, n in enumerate(names):
            s, c = total[2 * i], total[2 * i + 1]
            row[n] = s / c if c else None
        row.update({f"{name}_items": int(v) for name, v in zip(COUNTERS, total[-k:])})
        row.update(phases)
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.writer:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.writer.add_scalar(k, v, step)
        if self.wandb:
            self.wandb.log(row, step=step)
        if self.cfg.log_completions_steps and (step % self.cfg.log_completions_steps == 0
                                               or step == self.cfg.max_steps):  # the last step always shows some
            self._samples(step, ro, scores)
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        self.bar.set_postfix_str(f"R {fmt(row['reward/orig'])}/{fmt(row['reward/cf'])} acc {fmt(row['acc/orig'])}/"
                                 f"{fmt(row['acc/cf'])} crr {fmt(row['crr'])} kl {row['kl']:.3f} {seconds:.1f}s/step")
        self.bar.update(1)

    def log_rollouts(self, step, plans, texts, scores):
        """One row per completion of this process, so reward design can be read rollout by rollout: the text, what
        was read from it, every reward term by name, the total and the advantage, and how the router read the item
        (transform, question class, relation, the branch's truth)."""
        def num(v):
            return None if v is None or v != v else round(float(v), 6)

        g = len(scores.answers) // max(1, sum(len(p.branches) for p in plans))
        context = [(b, p) for p in plans for b in p.branches for _ in range(g)]
        with open(self.rollouts_path, "a") as f:
            for r, (branch, plan) in enumerate(context):
                target = plan.target
                row = {"step": step, "item_id": scores.item_id[r], "branch": scores.branch[r],
                       "rollout": scores.rollout[r], "transform": branch.clip.transform,
                       "question_class": target.question_class if target else None, "relation": plan.relation,
                       "truth": branch.truth, "notes": plan.notes or None, "text": texts[r],
                       "answer": scores.answers[r], "accuracy": num(scores.accuracy[r])}
                row.update({name: num(values[r]) for name, values in scores.terms.items()})
                row.update({"total": num(scores.total[r]), "advantage": num(scores.advantages[r]),
                            "in_loss": bool(scores.in_loss[r])})
                f.write(json.dumps(row) + "\n")

    def _samples(self, step, ro, scores):
        """One completion per branch of the first items: enough to see what the policy is saying."""
        g = ro.num_generations
        with open(self.out / "completions.jsonl", "a") as f:
            for i, b in enumerate(ro.branches[:4]):
                r = i * g
                f.write(json.dumps({"step": step, "id": b.item.id, "branch": b.name, "truth": b.truth,
                                    "text": ro.texts[r], "answer": scores.answers[r],
                                    "reward": float(scores.total[r])}) + "\n")

    def close(self):
        if self.bar:
            self.bar.close()
        if self.writer:
            self.writer.close()
        if self.wandb:
            self.wandb.finish()
