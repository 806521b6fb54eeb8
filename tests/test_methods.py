"""The algorithms' rewards and advantages on recorded answers (no model: `score` is a pure function of a plan and
its completions), above all the property the issue is about: CRPO's cross-branch terms change the gradient."""
import math
import random

import numpy as np
import pytest
import torch

from crpo.data.items import Item
from crpo.data.video import Clip
from crpo.rl.answers import extract_answer
from crpo.rl.methods import METHODS
from crpo.rl.methods.common import NULL_OPTION, Branch, ItemPlan, null_option_on, with_null_option
from crpo.rl.scoring import score_rollouts
from crpo.training.config import ConfigError, TrainConfig, load_config

G = 8
DIRECTION = Item(id="d1", video="v.mp4", question="Which way does the ball move?", options=["left", "right"],
                 answer="A", category="moving_direction")
COLOUR = Item(id="s1", video="v.mp4", question="What colour is the ball?", options=["red", "blue"], answer="A",
              category="static_attribute")


def cfg(**kw):
    return TrainConfig(num_generations=G, **kw)


def two_branch_plan(item, relation, cf_truth, cf_name="cf"):
    """The plan crpo and grpo_cf_aug build for a 2-option item (its option map is a swap); clips are not read."""
    other = "B" if item.answer == "A" else "A"
    cf_map = {"A": "B", "B": "A"} if relation == "change" else {"A": "A", "B": "B"}
    return ItemPlan(item, [Branch(0, item, "orig", None, item.answer), Branch(0, item, cf_name, None, cf_truth)],
                    relation=relation, cf_answer_of=cf_map), other


def texts(answers):
    return [f"<answer>{a}</answer>" for a in answers]


def advantages(algorithm, plans, completions, **kw):
    return score_rollouts(plans, completions, G, cfg(algorithm=algorithm, **kw)).advantages


def shortcut_rollouts(rng, changes):
    """A mostly-shortcut policy on a dynamic item: the original answer A is right; on the reversed clip the shortcut
    repeats A (wrong) and `changes` rollouts switch to B (right)."""
    orig = ["A"] * G
    for i in rng.sample(range(G), rng.randint(0, 2)):
        orig[i] = "B"  # a few wrong original answers
    cf = ["A"] * G
    for i in rng.sample(range(G), changes):
        cf[i] = "B"
    return orig, cf


def test_crpo_differs_from_cf_aug_in_the_direction_the_paper_wants():
    plan, _ = two_branch_plan(DIRECTION, "change", "B")
    orig, cf = ["A"] * G, ["A"] * 6 + ["B"] * 2
    completions = texts(orig + cf)
    a_crpo = advantages("crpo", [plan], completions)
    a_aug = advantages("grpo_cf_aug", [plan], completions)
    assert not torch.allclose(a_crpo, a_aug, atol=1e-2)
    changed = [G + 6, G + 7]
    assert (a_crpo[changed] > a_aug[changed] + 0.1).all()      # the counterfactual rollouts that read the motion
    assert (a_crpo[:G] < a_aug[:G] - 0.1).all()                # the original-branch shortcut rollouts


def test_crpo_advantages_differ_from_cf_aug_over_random_shortcut_groups():
    rng = random.Random(0)
    plan, _ = two_branch_plan(DIRECTION, "change", "B")
    up, down = 0, 0
    for _ in range(200):
        orig, cf = shortcut_rollouts(rng, rng.randint(1, 3))
        completions = texts(orig + cf)
        a_crpo, a_aug = advantages("crpo", [plan], completions), advantages("grpo_cf_aug", [plan], completions)
        changed = [G + j for j, y in enumerate(cf) if y == "B"]
        shortcut = [i for i, x in enumerate(orig) if x == "A"]
        up += bool((a_crpo[changed] > a_aug[changed]).all())
        down += bool((a_crpo[shortcut] < a_aug[shortcut]).all())
    assert up == 200 and down == 200


def test_per_branch_std_removes_the_gated_terms_which_is_why_crpo_groups_jointly():
    # The degeneracy the default avoids: per branch, R_CRR^orig = acc * (a rate of the other branch) is affine in
    # acc, and R_behave equals the counterfactual accuracy of a 2-option item, so crpo = cf-aug up to eps.
    rng = random.Random(1)
    plan, _ = two_branch_plan(DIRECTION, "change", "B")
    for _ in range(50):
        orig, cf = shortcut_rollouts(rng, rng.randint(1, 3))
        completions = texts(orig + cf)
        a_crpo = advantages("crpo", [plan], completions, advantage_grouping="per_branch")
        a_aug = advantages("grpo_cf_aug", [plan], completions, advantage_grouping="per_branch")
        torch.testing.assert_close(a_crpo, a_aug, atol=1e-3, rtol=0)


@pytest.mark.parametrize("cf_truth,mode", [(None, "any_change"), ("B", "any_change"), (None, "answer")])
def test_any_change_reward_terms_on_a_dynamic_and_a_static_item(cf_truth, mode):
    # the literal rule (any_change), and the default's crr_unmapped=change on an item whose answer is unknown
    plan, _ = two_branch_plan(DIRECTION, "change", cf_truth)
    orig, cf = ["A"] * 6 + ["B", "?"], ["A"] * 4 + ["B"] * 3 + ["?"]
    s = METHODS["crpo"].score(plan, texts(orig + cf), cfg(crr_mode=mode, crr_unmapped="change"))
    behave_rate, acc_rate = 3 / 8, 6 / 8
    assert s.terms["accuracy"] == [1.0] * 6 + [0.0, 0.0] + [None] * G
    assert s.terms["behave"] == [None] * G + [0.0] * 4 + [1.0] * 3 + [0.0]  # unreadable never behaves
    assert s.terms["crr"] == [behave_rate] * 6 + [0.0, 0.0] + [0.0] * 4 + [acc_rate] * 3 + [0.0]
    assert s.groups == [list(range(2 * G))]
    static, _ = two_branch_plan(COLOUR, "same", "A")
    s = METHODS["crpo"].score(static, texts(["A"] * G + ["A"] * 5 + ["B"] * 3), cfg(crr_mode=mode))
    assert s.terms["behave"][G:] == [1.0] * 5 + [0.0] * 3  # static: the answer must stay


def test_answer_mode_pays_the_counterfactual_answer_only():
    plan, _ = two_branch_plan(with_null_option(DIRECTION), "change", "B")
    cf = ["B"] * 3 + ["C"] * 3 + ["A", "?"]  # the right change, "None of the above", the original, unreadable
    s = METHODS["crpo"].score(plan, texts(["A"] * G + cf), cfg())
    assert s.terms["behave"][G:] == [1.0] * 3 + [0.0] * 5
    assert s.terms["crr"][:G] == [3 / 8] * G and s.terms["crr"][G:] == [1.0] * 3 + [0.0] * 5


def test_null_option_is_appended_once_and_read_as_an_option():
    item = with_null_option(DIRECTION)
    assert item.options == ["left", "right", NULL_OPTION] and item.answer == "A"
    assert with_null_option(item).options == item.options
    assert extract_answer("<answer>C</answer>", "multiple_choice", item.options) == "C"
    assert extract_answer("none of the above", "multiple_choice", item.options) == "C"
    assert null_option_on(cfg()) and not null_option_on(cfg(algorithm="grpo"))
    assert null_option_on(cfg(algorithm="grpo", null_option="on")) and not null_option_on(cfg(null_option="off"))
    # read literally (any_change), the null option is a change on a dynamic item and earns R_behave; under the
    # default it earns it only where it is the counterfactual answer (the transformed answer is not listed)
    plan, _ = two_branch_plan(item, "change", None)
    s = METHODS["crpo"].score(plan, texts(["A"] * G + ["C"] * G), cfg(crr_mode="any_change"))
    assert s.terms["behave"][G:] == [1.0] * G
    for cf_truth, earned in (("B", 0.0), ("C", 1.0)):
        plan, _ = two_branch_plan(item, "change", cf_truth)
        s = METHODS["crpo"].score(plan, texts(["A"] * G + ["C"] * G), cfg())
        assert s.terms["behave"][G:] == [earned] * G


def test_tgrpo_bonus_survives_its_default_advantage_scale():
    # Two items with the same ordered answers; only the first passes the temporal test (its shuffled rollouts are
    # worse). Under the defaults the first one's advantages are (1 + alpha) times the second one's.
    plans = [ItemPlan(DIRECTION, [Branch(0, DIRECTION, "orig", None, "A"),
                                  Branch(0, DIRECTION, "shuffled", None, "A", in_loss=False)]),
             ItemPlan(COLOUR, [Branch(1, COLOUR, "orig", None, "A"),
                               Branch(1, COLOUR, "shuffled", None, "A", in_loss=False)])]
    ordered = ["A"] * 4 + ["B"] * 4
    completions = texts(ordered + ["B"] * G + ordered + ["A"] * G)
    s = score_rollouts(plans, completions, G, cfg(algorithm="tgrpo"))
    first, second = s.advantages[:G], s.advantages[2 * G:3 * G]
    torch.testing.assert_close(first, 1.3 * second)
    assert s.terms["tgrpo_bonus"][:G] == [0.3] * 4 + [0.0] * 4
    assert (s.advantages[G:2 * G] == 0).all() and not s.in_loss[G:2 * G].any()
    grouped = score_rollouts(plans, completions, G, cfg(algorithm="tgrpo", scale_rewards="group")).advantages
    torch.testing.assert_close(grouped[:G], grouped[2 * G:3 * G], atol=1e-3, rtol=0)  # the degeneracy auto avoids


def test_arrowrl_rewards_diverging_from_the_reversed_answer():
    plan = ItemPlan(DIRECTION, [Branch(0, DIRECTION, "orig", None, "A"),
                                Branch(0, DIRECTION, "reversed", None, None, in_loss=False)])
    rev = ["A"] * 2 + ["B"] * 6
    s = METHODS["arrowrl"].score(plan, texts(["A"] * 4 + ["B"] * 4 + rev), cfg(algorithm="arrowrl"))
    assert s.terms["arrow_reverse"][:G] == [0.25 * (1 - 2 / 8)] * 4 + [0.25 * (1 - 6 / 8)] * 4
    assert s.groups == [list(range(G))] and s.in_loss == [True] * G + [False] * G
    # reversed answers that already match the target (> gamma) drop the term: the question ignores time
    s = METHODS["arrowrl"].score(plan, texts(["A"] * G + ["A"] * 7 + ["B"]), cfg(algorithm="arrowrl"))
    assert s.terms["arrow_reverse"][:G] == [0.0] * G


def test_unknown_truth_stays_out_of_the_baseline():
    # grpo on an item whose truth is unknown (a yes/no item whose answer we pretend not to know) scores nothing:
    # its rows are NaN, not 0, and get advantage 0; a known item beside it is unaffected.
    unknown = ItemPlan(COLOUR, [Branch(0, COLOUR, "orig", None, None), Branch(0, COLOUR, "orig", None, None)])
    known = ItemPlan(DIRECTION, [Branch(1, DIRECTION, "orig", None, "A"), Branch(1, DIRECTION, "orig", None, "A")])
    completions = texts(["A", "B"] * G + ["A", "B"] * G)
    s = score_rollouts([unknown, known], completions, G, cfg(algorithm="grpo", format_weight=0.0))
    assert s.accuracy[:2 * G] == [None] * (2 * G)
    assert all(math.isnan(v) for v in s.total[:2 * G].tolist()) and (s.advantages[:2 * G] == 0).all()
    assert s.advantages[2 * G:].abs().sum() > 0


@pytest.mark.parametrize("key,value", [("algorithm", "ppo"), ("crr_mode", "exact"), ("advantage_grouping", "pooled"),
                                       ("loss_type", "gspo"), ("counterfactual", "rotate"), ("scale_rewards", "yes")])
def test_config_rejects_unknown_choices_naming_the_allowed_values(key, value):
    with pytest.raises(ConfigError, match=f"{key}.*allowed: "):
        load_config(TrainConfig, None, [f"{key}={value}"])


def test_counterfactual_target_follows_the_class_and_a_cached_llm_decision():
    from crpo.data.prompts import question_text
    from crpo.routing.classes import counterfactual_target
    lexicon = counterfactual_target(DIRECTION)
    assert (lexicon.transform, lexicon.relation, lexicon.question_class) == ("reverse", "change", "spatiotemporal")
    assert lexicon.answer == "B" and lexicon.source == "lexicon"
    cached = counterfactual_target(DIRECTION, cached="spatial")
    assert (cached.transform, cached.relation, cached.source) == ("hflip", "change", "llm")
    static = counterfactual_target(COLOUR)
    assert (static.transform, static.relation, static.answer) == ("hflip", "same", "A")
    # "to the left" reversed is "to the right", which is not listed: the null option is the counterfactual answer
    odd = Item(id="o", video="v.mp4", question="In which direction is the car moving?", answer="A",
               options=["to the left", "towards the camera", "it is not moving"], category="moving_direction")
    target = counterfactual_target(odd, null_option=True)
    assert (target.relation, target.answer, target.unlisted) == ("change", None, True)
    assert counterfactual_target(odd, needs_answer=True, null_option=False).skip == "no_answer"
    clip = Clip(np.zeros((2, 4, 4, 3), np.uint8), 2.0, np.arange(2), (4, 4), 1.0)
    plan = METHODS["crpo"].plan(0, odd, clip, cfg())
    assert plan.branches[1].truth == "D" and plan.relation == "change"  # D = "None of the above", appended
    assert METHODS["grpo_cf_aug"].plan(0, odd, clip, cfg(algorithm="grpo_cf_aug")).notes == ["no_cf_answer"]
    assert "C. None of the above" in question_text(with_null_option(DIRECTION))


def test_every_classified_item_of_a_tempcompass_style_file_gets_a_counterfactual_branch():
    # tests/data/tempcompass_style.json: TempCompass's multi-choice layout (direction, order, attribute_change,
    # speed, action), no counterfactual answers anywhere. The literal rule (any_change) needs only the class; the
    # default needs the counterfactual answer (or knows it is not listed); cf-aug needs a listed answer.
    from pathlib import Path

    from crpo.data.importers import convert
    from crpo.routing.classes import counterfactual_target, question_class
    items = convert("tempcompass", Path(__file__).parent / "data" / "tempcompass_style.json")
    classified = [it for it in items if question_class(it) != "unknown"]
    literal = [it for it in items if not counterfactual_target(it).skip]
    default = [it for it in items if not counterfactual_target(it, needs_answer=True).skip]
    labelled = [it for it in items if not counterfactual_target(it, needs_answer=True, null_option=False).skip]
    assert literal == classified and len(classified) >= 0.8 * len(items)
    assert len(labelled) <= len(default) <= len(literal)


def test_eval_steps_without_a_bench_is_a_config_error():
    with pytest.raises(ConfigError, match="eval_bench"):
        load_config(TrainConfig, None, ["eval_steps=5"])


def test_constant_schedule_keeps_its_warm_up():
    from crpo.training.trainer import make_scheduler
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, cfg(lr_scheduler="constant", warmup_steps=4), total_steps=10)
    lrs = []
    for _ in range(6):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_config_algorithm_choices_are_the_method_modules():
    from dataclasses import fields
    choices = next(f for f in fields(TrainConfig) if f.name == "algorithm").metadata["choices"]
    assert set(choices) == set(METHODS)


def test_free_form_counterfactual_is_scored_against_the_answer_the_text_tells():
    # "He opens the door." reversed is "he closes the door" (the router's swap): the paraphrase of the original
    # answer earns little, the change earns all of R_behave; the literal rule could not tell them apart.
    door = Item(id="door", video="v.mp4", question="What does the man do to the door?", answer="He opens the door.",
                problem_type="free_form")
    clip = Clip(np.zeros((2, 4, 4, 3), np.uint8), 2.0, np.arange(2), (4, 4), 1.0)
    plan = METHODS["crpo"].plan(0, door, clip, cfg())
    assert plan.branches[1].truth == "he closes the door"
    cf = ["The man opens the door."] * 4 + ["He closes the door."] * 4
    s = METHODS["crpo"].score(plan, texts(["He opens the door."] * G + cf), cfg())
    assert max(s.terms["behave"][G:G + 4]) < 0.5 and s.terms["behave"][G + 4:] == [1.0] * 4
