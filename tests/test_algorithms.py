"""Advantages and policy losses: hand-computed values on tiny tensors, and TRL's GRPOTrainer as an oracle."""
import math
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from crpo.rl.algorithms import advantages_by_group, group_advantages, policy_loss

# ----------------------------------------------------------------------------------------------- advantages

def test_group_advantages_hand_values():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    # group 0: mean 0.5, unbiased std sqrt(4 * 0.25 / 3) = 1/sqrt(3)
    std = 1 / math.sqrt(3)
    expected = torch.tensor([[0.5, -0.5, -0.5, 0.5]]) / (std + 1e-4)
    adv = group_advantages(r)
    torch.testing.assert_close(adv[0:1], expected)
    assert torch.equal(adv[1], torch.zeros(4))  # a constant group carries no signal
    torch.testing.assert_close(group_advantages(r, scale=False)[0], torch.tensor([0.5, -0.5, -0.5, 0.5]))


def test_group_advantages_matches_torch_std():
    r = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    expected = (r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 1e-4)
    torch.testing.assert_close(group_advantages(r), expected)


def test_group_advantages_nan_rewards_are_left_out():
    nan = float("nan")
    r = torch.tensor([[1.0, nan, 0.0], [nan, nan, nan], [nan, 3.0, nan]])
    adv = group_advantages(r)
    # group 0 is the group [1, 0]: mean 0.5, std sqrt(0.5)
    torch.testing.assert_close(adv[0], torch.tensor([0.5, 0.0, -0.5]) / (math.sqrt(0.5) + 1e-4))
    assert torch.equal(adv[1], torch.zeros(3)) and torch.equal(adv[2], torch.zeros(3))
    assert torch.equal(group_advantages(r, scale=False)[2], torch.zeros(3))


def test_group_advantages_matches_trl_nanstd_baseline():
    from trl.trainer.utils import nanstd  # TRL's own std, as used in GRPOTrainer's advantage block

    r = torch.tensor([[0.2, float("nan"), 1.5, 0.7], [1.0, 2.0, 4.0, 8.0]])
    mean = torch.nanmean(r, dim=1, keepdim=True)
    expected = torch.nan_to_num((r - mean) / (nanstd(r, dim=1, keepdim=True) + 1e-4), nan=0.0)
    torch.testing.assert_close(group_advantages(r), expected)


def test_advantages_by_group_group_scale_equals_group_advantages_per_group():
    r = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    adv = advantages_by_group(r, [[0, 1, 2], [3, 4, 5, 6]], "group")
    torch.testing.assert_close(adv[:3], group_advantages(r[None, :3])[0])
    torch.testing.assert_close(adv[3:], group_advantages(r[None, 3:])[0])


def test_advantages_by_group_joint_gives_signal_to_deterministic_branches():
    # Each branch deterministic (all rollouts alike), but the branches disagree: per-branch groups see nothing.
    r = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    assert torch.equal(advantages_by_group(r, [[0, 1, 2], [3, 4, 5]]), torch.zeros(6))
    std = math.sqrt(6 * 0.25 / 5)
    expected = torch.tensor([0.5] * 3 + [-0.5] * 3) / (std + 1e-4)
    torch.testing.assert_close(advantages_by_group(r, [[0, 1, 2, 3, 4, 5]]), expected)


def test_advantages_by_group_batch_scale_keeps_a_per_group_bonus():
    # Group 2 is group 1 with every correct reward multiplied by 1.3 (T-GRPO's bonus): a group std removes the
    # difference, the batch std keeps it (1.3 times the advantage), no std keeps it too.
    r = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.3, 0.0, 1.3, 0.0])
    groups = [[0, 1, 2, 3], [4, 5, 6, 7]]
    g = advantages_by_group(r, groups, "group")
    torch.testing.assert_close(g[:4], g[4:], atol=1e-3, rtol=0)
    for scale in ("batch", "none"):
        a = advantages_by_group(r, groups, scale)
        torch.testing.assert_close(a[4:], 1.3 * a[:4])
    none = advantages_by_group(r, groups, "none")
    torch.testing.assert_close(none[:4], torch.tensor([0.5, -0.5, 0.5, -0.5]))
    std = float(torch.std(r))
    torch.testing.assert_close(advantages_by_group(r, groups, "batch"), none / (std + 1e-4))


def test_advantages_by_group_leaves_ungrouped_and_unscored_rows_at_zero():
    r = torch.tensor([1.0, float("nan"), 0.0, 5.0])
    adv = advantages_by_group(r, [[0, 1, 2]], "group")
    assert adv[1] == 0 and adv[3] == 0 and adv[0] > 0 > adv[2]
    with pytest.raises(ValueError, match="scale"):
        advantages_by_group(r, [[0, 1]], "pooled")


# ----------------------------------------------------------------------------------------------- policy loss

def _on_policy():
    # B = 2 sequences, T = 3, 3 completion tokens in all; ratio 1 everywhere, so each token's loss is -A.
    logp = torch.log(torch.tensor([[0.5, 0.25, 0.9], [0.1, 0.8, 0.3]]))
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    adv = torch.tensor([1.0, -3.0])
    return logp, mask, adv


@pytest.mark.parametrize("loss_type, kwargs, expected", [
    ("grpo", {}, (-1.0 + 3.0) / 2),                               # (mean(-1, -1) + mean(3)) / 2
    ("bnpo", {}, (-2.0 + 3.0) / 3),                               # sum / 3 tokens
    ("dr_grpo", {"max_completion_length": 5}, (-2.0 + 3.0) / 10),  # sum / (B * 5)
    ("dapo", {"num_items_in_batch": 4}, (-2.0 + 3.0) / 4),        # sum / global tokens
    ("dapo", {}, (-2.0 + 3.0) / 3),                               # no global count: bnpo
])
def test_loss_types_on_policy_hand_values(loss_type, kwargs, expected):
    logp, mask, adv = _on_policy()
    logp.requires_grad_(True)
    loss, stats = policy_loss(logp, logp.detach(), adv, mask, loss_type, **kwargs)
    assert loss.item() == pytest.approx(expected)
    assert stats["ratio_mean"] == pytest.approx(1.0) and stats["clip_region"] == 0.0
    loss.backward()
    assert torch.equal(logp.grad[mask == 0], torch.zeros(3))  # padding gets no gradient


def test_clipping_hand_values_and_gradient():
    # one sequence, A = +1 on tokens with r = 1.5 (clipped to 1.2) and r = 1.1; one with A = -3, r = 0.5 and r = 1.5
    old = torch.zeros(2, 2)
    logp = torch.log(torch.tensor([[1.5, 1.1], [0.5, 1.5]])).requires_grad_(True)
    mask = torch.ones(2, 2)
    adv = torch.tensor([1.0, -3.0])
    loss, stats = policy_loss(logp, old, adv, mask, "bnpo")
    # -min(1.5, 1.2) = -1.2; -min(1.1, 1.1) = -1.1; -min(-1.5, -2.4) = 2.4; -min(-4.5, -3.6) = 4.5
    assert loss.item() == pytest.approx((-1.2 - 1.1 + 2.4 + 4.5) / 4)
    assert stats["clip_high"] == pytest.approx(0.25) and stats["clip_low"] == pytest.approx(0.25)
    assert stats["clip_region"] == pytest.approx(0.5)
    assert stats["ratio_mean"] == pytest.approx((1.5 + 1.1 + 0.5 + 1.5) / 4)
    assert stats["ratio_max"] == pytest.approx(1.5)
    loss.backward()
    # clipped tokens get no gradient; an unclipped token gets d(-r A)/dlogp / 4 = -r A / 4
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -1.1 / 4], [0.0, 4.5 / 4]]))


def test_asymmetric_clip_eps_high():
    old = torch.zeros(1, 1)
    logp = torch.log(torch.tensor([[1.25]]))
    adv = torch.tensor([1.0])
    loss, stats = policy_loss(logp, old, adv, torch.ones(1, 1), "grpo", eps_low=0.2, eps_high=0.28)
    assert loss.item() == pytest.approx(-1.25) and stats["clip_high"] == 0.0  # 1.25 < 1.28: not clipped
    loss, stats = policy_loss(logp, old, adv, torch.ones(1, 1), "grpo", eps_low=0.2, eps_high=0.2)
    assert loss.item() == pytest.approx(-1.2) and stats["clip_high"] == 1.0


def test_k3_kl_penalty_hand_value():
    logp, mask, adv = _on_policy()
    ref = logp + math.log(2.0)  # ref - logp = ln 2 on every token: k3 = 2 - ln 2 - 1
    k3 = 1 - math.log(2.0)
    loss, stats = policy_loss(logp, logp, adv, mask, "bnpo", ref_logp=ref, beta=0.1)
    assert loss.item() == pytest.approx((-2.0 + 3.0) / 3 + 0.1 * k3)
    assert stats["kl"] == pytest.approx(k3)
    # beta = 0: KL is reported but not added
    loss0, stats0 = policy_loss(logp, logp, adv, mask, "bnpo", ref_logp=ref)
    assert loss0.item() == pytest.approx(1 / 3) and stats0["kl"] == pytest.approx(k3)


def test_bad_arguments_are_refused():
    logp, mask, adv = _on_policy()
    with pytest.raises(ValueError, match="max_completion_length"):
        policy_loss(logp, logp, adv, mask, "dr_grpo")
    with pytest.raises(ValueError, match="ref_logp"):
        policy_loss(logp, logp, adv, mask, "grpo", beta=0.04)
    with pytest.raises(ValueError, match="loss_type"):
        policy_loss(logp, logp, adv, mask, "ppo")
    with pytest.raises(ValueError, match=r"\[B\]"):
        policy_loss(logp, logp, adv[:1], mask)


# ----------------------------------------------------------------------------------------------- TRL as oracle

def _trl_loss(loss_type, logp, old, ref, adv, mask, beta, eps_low, eps_high, max_len, num_items):
    """Run TRL's own GRPOTrainer._compute_loss on given log-probs.

    The trainer is built with object.__new__ (no model, no accelerator start-up) and carries only the attributes
    _compute_loss reads; the model forward is replaced by a function returning `logp`, and the accelerator by a
    single-process stand-in. Everything from the ratio to the aggregation is TRL's code.
    """
    from trl import GRPOTrainer

    t = object.__new__(GRPOTrainer)
    t._get_per_token_logps_and_entropies = lambda model, *a, **k: (logp, torch.zeros_like(logp), None)
    t.top_entropy_quantile, t.off_policy_mask_threshold, t.importance_sampling_level = 1.0, None, "token"
    t.beta, t.loss_type, t.epsilon_low, t.epsilon_high = beta, loss_type, eps_low, eps_high
    t.args = SimpleNamespace(delta=None, use_bias_correction_kl=False, steps_per_generation=1)
    t.use_vllm, t.vllm_importance_sampling_correction = False, False
    t.model = SimpleNamespace(training=True)
    t.current_gradient_accumulation_steps, t.max_completion_length = 1, max_len
    t.accelerator = SimpleNamespace(num_processes=1, sync_gradients=True, gather=lambda x: x,
                                    reduce=lambda x, reduction: x)
    t._entropy_bonus_enabled, t.aux_loss_enabled = False, False
    t._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    B, T = logp.shape
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask,
        "advantages": adv, "old_per_token_logps": old, "ref_per_token_logps": ref,
        "num_items_in_batch": torch.tensor(float(num_items)),
    }
    loss = t._compute_loss(None, inputs)
    return loss, {k: v[-1] for k, v in t._metrics["train"].items()}


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
def test_policy_loss_matches_trl(loss_type):
    g = torch.Generator().manual_seed(1)
    B, T = 4, 6
    logp0 = -torch.rand(B, T, generator=g) * 3
    old = logp0 + 0.3 * torch.randn(B, T, generator=g)  # off-policy so that both clip sides are exercised
    ref = logp0 + 0.5 * torch.randn(B, T, generator=g)
    adv = torch.tensor([1.5, -0.7, 0.2, -2.0])
    lengths = torch.tensor([6, 3, 1, 4])
    mask = (torch.arange(T)[None] < lengths[:, None]).long()
    kw = dict(beta=0.04, eps_low=0.2, eps_high=0.28, max_len=8, num_items=20)

    ours_logp = logp0.clone().requires_grad_(True)
    ours, stats = policy_loss(ours_logp, old, adv, mask, loss_type, kw["eps_low"], kw["eps_high"], ref, kw["beta"],
                              max_completion_length=kw["max_len"], num_items_in_batch=kw["num_items"])
    trl_logp = logp0.clone().requires_grad_(True)
    theirs, metrics = _trl_loss(loss_type, trl_logp, old, ref, adv, mask, **kw)

    torch.testing.assert_close(ours, theirs)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(ours_logp.grad, trl_logp.grad)
    assert stats["clip_low"] == pytest.approx(metrics["clip_ratio/low_mean"])
    assert stats["clip_high"] == pytest.approx(metrics["clip_ratio/high_mean"])
    assert stats["clip_region"] == pytest.approx(metrics["clip_ratio/region_mean"])
    assert stats["kl"] == pytest.approx(metrics["kl"])
    assert stats["clip_low"] > 0 and stats["clip_high"] > 0  # the comparison did cover clipping
