"""The reward pays for the right change: what scripted policies earn under the default config, computed with the
trainer's own plan -> null option -> score path (crpo/rl/methods/policy_table.py), for 2, 3 and 4 options, the null
option on and off, the answer in every position. The table in the README is this module's output."""
import itertools

import pytest

from crpo.data.items import LETTERS, Item
from crpo.rl.methods.policy_table import policy_rewards
from crpo.training.config import TrainConfig

QUESTIONS = ("Which direction does the square move?", "In which direction is the ball rolling?")
FILLERS = ("up", "down", "it stays still")


def direction_item(n: int, position: int, partner_position: int, question: str = QUESTIONS[0]) -> Item:
    """n options holding "left" (the answer, at `position`) and "right" (at `partner_position`, or absent when
    None): under a reversal (and a mirror) the correct answer becomes "right"."""
    options = list(FILLERS[:n - (1 if partner_position is None else 2)])
    slots = sorted([(position, "left")] + ([] if partner_position is None else [(partner_position, "right")]))
    for pos, word in slots:
        options.insert(pos, word)
    return Item(id="q", video="v.mp4", question=question, options=options, answer=LETTERS[position])


def layouts(n: int):
    return [(p, q) for p, q in itertools.permutations(range(n), 2)]


@pytest.mark.parametrize("null_option", ["auto", "off"])
@pytest.mark.parametrize("n", [2, 3, 4])
def test_tracking_beats_every_other_policy_and_blind_policies_never_gain(n, null_option):
    cfg = TrainConfig(num_generations=8, null_option=null_option)
    for (position, partner), question in itertools.product(layouts(n), QUESTIONS):
        item = direction_item(n, position, partner, question)
        r = policy_rewards(item, cfg)
        where = f"{item.options} answer {item.answer}"
        assert r["tracks"] is not None, where  # the router read the counterfactual answer from the text
        others = [v for k, v in r.items() if k != "tracks" and v is not None]
        assert r["tracks"] - max(others) >= 0.5, (where, r)
        for share in ("25%", "50%"):
            for to in ("null", "wrong"):
                if r[f"blind {share} {to}"] is not None:
                    assert r[f"blind {share} {to}"] <= r["shortcut"] + 1e-6, (where, share, to, r)
        assert (r["null on cf"] is None) == (null_option == "off")
        assert (r["wrong on cf"] is None) == (n == 2)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_where_the_transformed_answer_is_not_listed_the_null_option_is_the_right_change(n):
    cfg = TrainConfig(num_generations=8)
    for position in range(n):
        item = direction_item(n, position, None)
        r = policy_rewards(item, cfg)
        assert r["null on cf"] == pytest.approx(r["tracks"]), (item.options, r)  # tracking *is* answering null
        for listed in ("shortcut", "wrong on cf"):
            if r[listed] is not None:
                assert r[listed] <= r["tracks"] - 0.5, (item.options, listed, r)


def test_the_literal_rule_pays_null_and_wrong_answers_like_tracking_and_blind_policies_gain():
    # why any_change is not the default: the table the reward issue measured, reproduced
    cfg = TrainConfig(num_generations=8, crr_mode="any_change")
    r = policy_rewards(direction_item(3, 0, 1), cfg)
    assert r["null on cf"] == r["wrong on cf"] == r["tracks"] == 2.0
    assert r["shortcut"] == 0.5 and r["blind 50% null"] == r["blind 50% wrong"] == 0.75


def test_an_item_whose_counterfactual_answer_the_text_does_not_tell_gains_no_blind_exploit():
    # the relation is annotated ("change") but not the answer: crr_unmapped=skip (default) trains it as GRPO
    item = Item(id="q", video="v.mp4", question=QUESTIONS[0], options=["left", "right", "up", "down"], answer="A",
                counterfactual={"reverse": {"relation": "change"}})
    skip = policy_rewards(item, TrainConfig(num_generations=8), cf_answer="B")
    assert skip["tracks"] == skip["shortcut"] == 1.0
    assert max(skip[k] for k in skip if k.startswith("blind")) < skip["shortcut"]
    change = policy_rewards(item, TrainConfig(num_generations=8, crr_unmapped="change"), cf_answer="B")
    assert change["blind 50% null"] > change["shortcut"]  # the exploit skip closes
