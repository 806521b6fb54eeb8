"""Group-relative advantages and clipped policy-gradient losses: pure tensor functions, no model, no trainer state.

    adv = advantages_by_group(rewards, [[0, 1, 2, 3], [4, 5, 6, 7]], "group")  # rewards [R], ragged groups
    loss, stats = policy_loss(logp, old_logp, advantages, mask, "grpo")      # logp [B, T], advantages [B]
    loss.backward()

Shapes: N items (groups), G rollouts per item and branch, B = rollouts in a micro-batch, T = padded completion
length. The formulas and the aggregation of each loss type match TRL's GRPOTrainer (1.16, `_compute_loss` and the
advantage block of `_generate_and_score_completions`); tests/test_algorithms.py checks them against TRL's own code.
Gradient accumulation is the caller's: the loss returned is that of one micro-batch (TRL divides grpo, bnpo and
dr_grpo by the number of accumulation steps; dapo is normalised through `num_items_in_batch`).
"""
from __future__ import annotations

import math

import torch

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")


def _nanstd(x: torch.Tensor, dim: int) -> torch.Tensor:
    # Unbiased (Bessel) std over the non-NaN entries; NaN where fewer than two are present (as TRL's nanstd).
    count = (~torch.isnan(x)).sum(dim, keepdim=True)
    var = torch.nanmean((x - torch.nanmean(x, dim, keepdim=True)) ** 2, dim, keepdim=True)
    var = var * count / (count - 1)
    return torch.where(count > 1, var, torch.full_like(var, float("nan"))).sqrt()


def group_advantages(rewards: torch.Tensor, scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """GRPO advantages: rewards [N, G] -> advantages [N, G], each reward minus its group's mean, divided by the
    group's unbiased std + eps when `scale` (as TRL: torch.std semantics, eps 1e-4); `scale=False` is Dr. GRPO.

    NaN rewards (rollouts with no scored reward component, see `crpo.rl.rewards.combine_rewards`) are left out of the
    group's mean and std and get advantage 0, as in TRL. A group whose rewards are all equal gets advantages 0.
    """
    if rewards.dim() != 2:
        raise ValueError(f"group_advantages expects rewards [num_groups, G], got shape {tuple(rewards.shape)}")
    adv = rewards - torch.nanmean(rewards, dim=1, keepdim=True)
    if scale:
        adv = adv / (_nanstd(rewards, dim=1) + eps)
    # A single scored rollout has NaN std: its advantage, like an unscored rollout's, carries no signal.
    return torch.nan_to_num(adv, nan=0.0)


SCALES = ("group", "batch", "none")


def advantages_by_group(rewards: torch.Tensor, groups: list[list[int]], scale: str = "group", eps: float = 1e-4,
                        all_reduce=None) -> torch.Tensor:
    """Group-relative advantages of ragged groups: rewards [R] (NaN = unscored) -> advantages [R].

    groups: lists of row indices; rows in no group (e.g. T-GRPO's shuffled rollouts) get advantage 0.
    Each row's reward minus its group's mean, then
        group: divided by its group's unbiased std + eps (GRPO; `group_advantages` with scale=True)
        batch: divided by the std of the scored rewards of all grouped rows of the step + eps (TRL's
               scale_rewards="batch", "Lite PPO"): an item-level bonus that multiplies a group's spread (T-GRPO's,
               a CRR rate) keeps its weight
        none:  not divided (Dr. GRPO)
    `all_reduce` (a function summing a float64 tensor over the training processes, e.g. accelerate's reduce) makes
    the batch std the step's, not the process's: each process contributes count, sum and sum of squares of its
    scored rewards, so several processes give the std one process would.
    Which rows share a group is the algorithm's choice (crpo/rl/methods): crpo groups the 2G rollouts of both
    branches of an item together, because its cross-branch terms are constant within one branch and a per-branch
    std removes them (measured: benchmarks/advantage_schemes.py).
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale '{scale}' (expected one of {', '.join(SCALES)})")
    out = torch.zeros_like(rewards)
    grouped = [r for rows in groups for r in rows]
    for rows in groups:
        idx = torch.tensor(rows, dtype=torch.long)
        out[idx] = group_advantages(rewards[idx][None], scale=scale == "group", eps=eps)[0]
    if scale == "batch":
        std = batch_std(rewards[torch.tensor(grouped, dtype=torch.long)], all_reduce)
        if grouped:
            idx = torch.tensor(grouped, dtype=torch.long)
            out[idx] = out[idx] / (std + eps) if math.isfinite(std) else out[idx] * 0
    return out


def batch_std(rewards: torch.Tensor, all_reduce=None) -> float:
    """Unbiased std of the non-NaN entries of `rewards` [R], summed over processes by `all_reduce` when given;
    NaN with fewer than two. Computed from (count, sum, sum of squares) in float64, the form that reduces."""
    x = rewards[~torch.isnan(rewards)].double()
    moments = torch.stack([torch.tensor(float(x.numel()), dtype=torch.float64), x.sum(), (x * x).sum()])
    if all_reduce is not None:
        moments = all_reduce(moments)
    n, total, squares = moments.tolist()
    if n < 2:
        return math.nan
    return math.sqrt(max(squares - total * total / n, 0.0) / (n - 1))


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    loss_type: str = "grpo",
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    ref_logp: torch.Tensor | None = None,
    beta: float = 0.0,
    max_completion_length: int | None = None,
    num_items_in_batch: float | torch.Tensor | None = None,
    sampler_logp: torch.Tensor | None = None,
    is_cap: float = 3.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Token-level clipped surrogate with an optional k3 KL penalty, aggregated per `loss_type`.

    logp, old_logp, ref_logp: [B, T] log-probs of the sampled tokens under the current policy (with grad), the
        sampling policy and the reference model. mask: [B, T], 1 on completion tokens. advantages: [B].
    per token:  r = exp(logp - old_logp)
                l = -min(r * A, clip(r, 1 - eps_low, 1 + eps_high) * A) + beta * (exp(ref - logp) - (ref - logp) - 1)
    aggregation (S = sum of l over unmasked tokens):
        grpo:    mean over sequences of each sequence's token mean (long answers weigh less per token)
        bnpo:    S / unmasked tokens of this micro-batch
        dr_grpo: S / (B * max_completion_length), a constant normaliser (Dr. GRPO removes the length bias)
        dapo:    S / num_items_in_batch, the unmasked token count the loss is averaged over (e.g. the whole
                 generation batch on all ranks, divided by the number of ranks because DDP averages gradients);
                 without it, equals bnpo.
    sampler_logp: [B, T] log-probs of the sampled tokens under the engine that sampled them (rollout_engine=vllm
        with vllm_importance_sampling_correction): truncated importance sampling, TRL's correction of the
        engine-vs-trainer mismatch. The clipped term of each token is weighted by w = min(exp(old_logp -
        sampler_logp), is_cap), a constant (no gradient), before the KL term is added.
    Returns (loss, stats). stats (floats, token means over unmasked tokens): clip_low (r < 1 - eps_low with A < 0),
    clip_high (r > 1 + eps_high with A > 0), clip_region (either: the tokens whose gradient the clip removes),
    ratio_mean, ratio_max, and kl (k3) when ref_logp is given.
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type '{loss_type}' (expected one of {', '.join(LOSS_TYPES)})")
    if logp.shape != old_logp.shape or logp.shape != mask.shape or advantages.shape != logp.shape[:1]:
        raise ValueError(f"policy_loss: logp {tuple(logp.shape)}, old_logp {tuple(old_logp.shape)}, "
                         f"mask {tuple(mask.shape)} must be [B, T] and advantages {tuple(advantages.shape)} [B]")
    if beta != 0.0 and ref_logp is None:
        raise ValueError("policy_loss: beta != 0 needs ref_logp")
    if loss_type == "dr_grpo" and max_completion_length is None:
        raise ValueError("policy_loss: dr_grpo needs max_completion_length")
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype).unsqueeze(1)

    ratio = torch.exp(logp - old_logp)
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    is_weight = None
    if sampler_logp is not None:
        is_weight = torch.exp(old_logp.detach() - sampler_logp.to(logp.dtype)).clamp(max=is_cap)
        per_token = per_token * is_weight
    if ref_logp is not None:
        delta = ref_logp - logp
        kl = torch.exp(delta) - delta - 1
        if beta != 0.0:
            per_token = per_token + beta * kl

    total = (per_token * mask).sum()
    tokens = mask.sum().clamp(min=1.0)
    if loss_type == "grpo":
        loss = ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo" or (loss_type == "dapo" and num_items_in_batch is None):
        loss = total / tokens
    elif loss_type == "dr_grpo":
        loss = total / (logp.shape[0] * max_completion_length)
    else:
        loss = total / torch.as_tensor(num_items_in_batch, dtype=logp.dtype).clamp(min=1.0)

    with torch.no_grad():
        def token_mean(x: torch.Tensor) -> float:
            return ((x.to(logp.dtype) * mask).sum() / tokens).item()

        low = (ratio < 1 - eps_low) & (adv < 0)
        high = (ratio > 1 + eps_high) & (adv > 0)
        stats = {
            "clip_low": token_mean(low),
            "clip_high": token_mean(high),
            "clip_region": token_mean(low | high),
            "ratio_mean": token_mean(ratio),
            "ratio_max": ratio.masked_fill(mask == 0, float("-inf")).max().item(),
        }
        if ref_logp is not None:
            stats["kl"] = token_mean(kl)
        if is_weight is not None:
            stats["is_weight_mean"] = token_mean(is_weight)
            stats["is_truncated"] = token_mean(is_weight >= is_cap)
    return loss, stats
