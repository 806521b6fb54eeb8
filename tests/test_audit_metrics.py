"""The audit's numbers on policies whose right behaviour is known, without a model: stub rows on the synthetic
world's bench (conftest `world`), routed by the real router.

- an oracle answers from the world's truth on every clip: change rate 1, keep rate 1, P-Acc 1, control keep 1;
- a fixed-answer policy says "A" / "yes" whatever it sees: change rate 0 (keep rate 1: it never moves);
- a blind policy's answer distribution does not depend on the clip: every divergence is exactly 0;
- a policy that flips its distribution on the counterfactual clip: divergence equals the hand-computed KL.
"""
import math

import pytest

from crpo.bench.audit import route_of, score_audit
from crpo.bench.audit_metrics import CLIPS, kl_divergence, summarize
from crpo.data.items import LETTERS, load_items
from crpo.synth.scenes import Scene, transform_truth


def truth_answer(item, clip: str) -> str:
    """The world's right answer on `clip` (original, hflip, reverse) of a bench item."""
    if clip == "original":
        return item.answer
    if item.problem_type == "multiple_choice":
        return LETTERS[item.options.index(item.extra["counterfactual_answers"][clip])]
    scene = Scene(item.category, item.extra["kind"], item.question, None, item.problem_type, item.extra["colour"],
                  transform_truth(item.extra["truth"], clip), {})
    return scene.answer


def one_hot_logp(item, answer: str, sure: float = 0.9) -> list[float]:
    choices = list(LETTERS[:len(item.options)]) if item.problem_type == "multiple_choice" else ["yes", "no"]
    rest = (1 - sure) / (len(choices) - 1)
    return [math.log(sure if c == answer else rest) for c in choices]


def rows_of(items, answer_on) -> dict:
    """Stub audit rows: answer_on(item, clip) -> answer; the distribution puts 0.9 on that answer."""
    return {it.id: {"id": it.id, "clips": {c: {"output": f"<answer>{answer_on(it, c)}</answer>",
                                               "answer": answer_on(it, c), "logp": one_hot_logp(it, answer_on(it, c))}
                                           for c in CLIPS}} for it in items}


@pytest.fixture(scope="module")
def bench(world):
    items = load_items(world / "bench.jsonl")
    assert {route_of(it)["relation"] for it in items} == {"change", "same"}  # both kinds are exercised
    return items


def test_oracle_changes_every_dynamic_answer_and_keeps_every_static_one(bench):
    metrics, records = score_audit(bench, rows_of(bench, truth_answer))
    overall = metrics["overall"]
    assert overall["acc"] == 1.0
    assert overall["change_rate"] == 1.0 and overall["change_rate_n"] > 0
    assert overall["keep_rate"] == 1.0 and overall["keep_rate_n"] > 0
    assert overall["p_acc"] == 1.0 and overall["p_acc_n"] > 0
    assert overall["control_keep_rate"] == 1.0 and overall["control_keep_rate_n"] > 0
    assert overall["divergence"] > 1.0  # 0.9 on another choice on every dynamic item
    for name, summary in metrics["per_category"].items():
        assert summary["acc"] == 1.0, name
        assert summary["change_rate"] in (None, 1.0) and summary["keep_rate"] in (None, 1.0), name
    assert len(records) == len(bench)


def test_fixed_answer_policy_never_changes(bench):
    fixed = lambda it, clip: "A" if it.problem_type == "multiple_choice" else "yes"
    overall = score_audit(bench, rows_of(bench, fixed))[0]["overall"]
    assert overall["change_rate"] == 0.0 and overall["change_rate_n"] > 0
    assert overall["keep_rate"] == 1.0
    assert overall["divergence"] == 0.0 and overall["reverse_divergence"] == 0.0
    # P-Acc: a dynamic pair needs two different answers, so only static items can be right on both clips
    right = [it for it in bench if route_of(it)["relation"] == "same" and fixed(it, "original") == it.answer]
    assert overall["p_acc"] == pytest.approx(len(right) / overall["p_acc_n"])


def test_a_model_that_ignores_the_video_has_divergence_zero(bench):
    """Blind: the same (non-degenerate) distribution on every clip of an item, whatever the item."""
    rows = rows_of(bench, lambda it, clip: "B" if it.problem_type == "multiple_choice" else "no")
    for it in bench:
        logp = rows[it.id]["clips"]["original"]["logp"]
        for clip in CLIPS:
            rows[it.id]["clips"][clip]["logp"] = list(logp)
    overall = score_audit(bench, rows)[0]["overall"]
    assert overall["divergence"] == 0.0 and overall["control_divergence"] == 0.0
    assert overall["reverse_divergence"] == 0.0 and overall["divergence_n"] == len(bench)


def test_divergence_is_the_kl_of_original_to_counterfactual():
    p, q = [math.log(0.7), math.log(0.2), math.log(0.1)], [math.log(0.1), math.log(0.3), math.log(0.6)]
    expected = 0.7 * math.log(0.7 / 0.1) + 0.2 * math.log(0.2 / 0.3) + 0.1 * math.log(0.1 / 0.6)
    assert kl_divergence(p, q) == pytest.approx(expected, rel=1e-12)
    assert kl_divergence(q, q) == 0.0
    assert kl_divergence(p, q) != pytest.approx(kl_divergence(q, p))  # the direction matters (ArrowRL's TDS)


def test_an_unreadable_answer_is_neither_changed_nor_kept(bench):
    unreadable = lambda it, clip: truth_answer(it, clip) if clip == "original" else None
    rows = rows_of(bench, lambda it, clip: truth_answer(it, clip))
    for it in bench:
        for clip in CLIPS[1:]:
            rows[it.id]["clips"][clip]["answer"] = unreadable(it, clip)
    overall = score_audit(bench, rows)[0]["overall"]
    assert overall["acc"] == 1.0 and overall["change_rate"] == 0.0 and overall["keep_rate"] == 0.0
    assert overall["p_acc"] == 0.0


def test_summaries_leave_out_what_has_no_denominator():
    s = summarize([])
    assert s["items"] == 0 and s["acc"] is None and s["change_rate"] is None and s["change_rate_n"] == 0
