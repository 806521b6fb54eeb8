"""Answer extraction, accuracy, format, CRR, T-GRPO bonus and reward combination: hand values and properties."""
import itertools
import math

import pytest

from crpo.rl.answer_metrics import rouge_l
from crpo.rl.answers import extract_answer
from crpo.rl.rewards import (accuracy_reward, answer_score, combine_rewards, counterfactual_relation_reward,
                             format_reward, tgrpo_bonus)

OPTIONS = ["moving left", "moving right", "not moving"]


# ----------------------------------------------------------------------------------------------- extraction

@pytest.mark.parametrize("text, expected", [
    ("<think>A or B? The box goes right.</think><answer>B</answer>", "B"),
    ("<answer>A</answer> wait <answer>(C)</answer>", "C"),          # last answer block wins
    ("<think>I think <answer>A</answer></think><answer>B</answer>", "B"),
    ("B", "B"), ("b", "B"), ("(B)", "B"), ("B.", "B"), (" C) ", "C"),
    ("Answer: B", "B"), ("The answer is (A).", "A"), ("<think>hmm</think>I pick option C", "C"),
    ("B. moving right", "B"), ("(B) moving right, not moving left", "B"),
    ("<answer>Moving Right!</answer>", "B"),                        # option text, case and punctuation ignored
    ("The box is moving right.", "B"),                             # unique option text in a sentence
    ("<answer>D</answer>", None),                                  # not among 3 options
    ("(A) or (B)", None),                                          # two letters: no guess
    ("The answer is A, or maybe B.", None),
    ("(B) moving left", None),                                     # letter contradicted by its text
    ("It is moving left or moving right", None),
    ("<answer></answer>", None), ("<answer>I am not sure</answer>", None), ("", None),
    ("<answer>B</answer>", "B"),
    ("<think>(A) looks wrong</think>", None),                      # only thoughts, no committed answer
    ("<think>I believe (A) because", None),                        # truncated mid-thought
    ("<think>left or right</think><answer>B", "B"),                # truncated before </answer>
])
def test_extract_multiple_choice(text, expected):
    assert extract_answer(text, "multiple_choice", OPTIONS) == expected


@pytest.mark.parametrize("text, expected", [
    ("<answer>Yes</answer>", "yes"), ("No.", "no"), ("<think>yes or no?</think><answer>no</answer>", "no"),
    ("Yes, it is.", "yes"), ("yes and no", None), ("It is not clear", None), ("<answer>nope</answer>", None),
])
def test_extract_yes_no(text, expected):
    assert extract_answer(text, "yes_no") == expected


@pytest.mark.parametrize("text, expected", [
    ("<answer>3</answer>", "3"), ("<answer>3.0</answer>", "3"), ("<answer>2.50</answer>", "2.5"),
    ("There are three balls.", "3"), ("<answer>1,000</answer>", "1000"), ("<answer>-4</answer>", "-4"),
    ("<answer>3 balls, i.e. three</answer>", "3"),                 # same value twice is one answer
    ("<think>1, 2, 3</think><answer>3</answer>", "3"),
    ("<answer>" + "9" * 400 + "</answer>", "inf"),                 # a degenerate rollout must not crash
    ("3 or 4", None), ("between 2-3", None), ("the 3rd", None), ("<answer>many</answer>", None),
])
def test_extract_numerical(text, expected):
    assert extract_answer(text, "numerical") == expected


def test_extract_free_form_and_errors():
    # lower-case alphanumeric words, articles kept: what ROUGE reads (tests/test_videor1_rewards.py)
    assert extract_answer("<think>x</think><answer> The Red, ball. </answer>", "free_form") == "the red ball"
    assert extract_answer("<answer>  !! </answer>", "free_form") is None
    with pytest.raises(ValueError, match="options"):
        extract_answer("B", "multiple_choice")
    with pytest.raises(ValueError, match="problem_type"):
        extract_answer("B", "essay")


# ----------------------------------------------------------------------------------------------- accuracy, format

def test_accuracy_per_problem_type():
    acc = accuracy_reward(["B", "A", None, "yes", "3", "2.5", "the red ball", "red ball"],
                          ["B", "B", "B", "Yes", "3.0", "2.6", "The red ball.", "blue ball"],
                          ["multiple_choice"] * 3 + ["yes_no", "numerical", "numerical", "free_form", "free_form"])
    # free_form is Video-R1's ROUGE: "red ball" vs "blue ball" = (1/2 + 0 + 1/2) / 3 (ROUGE-1, -2, -L F1)
    assert acc == [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, pytest.approx(1 / 3)]
    # one problem type for the G rollouts of an item
    assert accuracy_reward(["B", "A", None], ["B"] * 3, "multiple_choice") == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="problem types"):
        accuracy_reward(["B"], ["B"], ["multiple_choice"] * 2)
    # numerical: equal after rounding to 2 decimals, as Video-R1
    assert answer_score("2.504", "2.5", "numerical") == 1.0
    assert answer_score("2.51", "2.5", "numerical") == 0.0
    assert answer_score("inf", "3", "numerical") == 0.0


def test_unknown_truth_is_unscored_not_wrong():
    # the counterfactual answer of an item the router cannot decide is None: that branch's accuracy is unscored
    assert accuracy_reward(["A", None], [None, None], ["multiple_choice"] * 2) == [None, None]


def test_rouge_l_by_hand():
    # LCS("the cat sat", "cat sat down") = 2: P = 2/3, R = 2/3
    assert rouge_l("the cat sat", "cat sat down") == pytest.approx(2 / 3)
    assert rouge_l("a b c d", "a x c") == pytest.approx(2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3))
    assert rouge_l("x", "y") == 0.0
    assert rouge_l(["red", "ball"], ["the", "red", "ball"]) == pytest.approx(0.8)  # token lists too


def test_format_reward():
    texts = ["<think>a</think><answer>B</answer>",
             " <think>\nline\n</think>\n\n<answer> B </answer>\n",
             "<think></think><answer>B</answer>",
             "<think>a</think><answer> </answer>",                         # empty answer
             "<answer>B</answer>",                                         # no think
             "Sure! <think>a</think><answer>B</answer>",                   # text outside the blocks
             "<think>a</think><answer>B</answer><answer>C</answer>",       # two answers
             "<think><answer>A</answer></think><answer>B</answer>"]        # nested tag
    assert format_reward(texts) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert format_reward(texts, "answer") == [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert format_reward([" <answer>B</answer>\n", "<answer>B</answer> because"], "answer") == [1.0, 0.0]
    with pytest.raises(ValueError, match="answer_format"):
        format_reward(texts, "json")


# ----------------------------------------------------------------------------------------------- CRR

SWAP = {"A": "B", "B": "A", "C": "C"}  # e.g. hflip: left <-> right, "not moving" stays


def test_crr_hand_values():
    orig, cf = ["A", "A", "B", None], ["B", "A", "C"]
    o, c = counterfactual_relation_reward(orig, cf, "change", SWAP)
    # orig A: cf answers equal to SWAP[A] = B -> 1/3; orig B: SWAP[B] = A -> 1/3; None -> 0
    assert o == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0.0])
    # cf B: orig with SWAP[x] = B are the two A's -> 2/4; cf A: one B -> 1/4; cf C: none (no C in orig) -> 0
    assert c == pytest.approx([2 / 4, 1 / 4, 0.0])
    o, c = counterfactual_relation_reward(orig, cf, "change")  # no map: any different answer
    assert o == pytest.approx([2 / 3, 2 / 3, 2 / 3, 0.0]) and c == pytest.approx([2 / 4, 1 / 4, 3 / 4])
    o, c = counterfactual_relation_reward(orig, cf, "same")
    assert o == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0.0]) and c == pytest.approx([1 / 4, 2 / 4, 0.0])


def test_crr_gating_on_correctness():
    # static item, truth A on both branches; the policy answers B consistently on some rollouts
    orig, cf = ["A", "B", "B"], ["A", "B"]
    o, c = counterfactual_relation_reward(orig, cf, "same")
    assert o == pytest.approx([0.5, 0.5, 0.5]) and c == pytest.approx([1 / 3, 2 / 3])  # consistently wrong pays
    o, c = counterfactual_relation_reward(orig, cf, "same", correct_orig=[x == "A" for x in orig],
                                          correct_cf=[y == "A" for y in cf])
    assert o == pytest.approx([0.5, 0.0, 0.0]) and c == pytest.approx([1 / 3, 0.0])
    # branches gate independently: an unknown cf truth leaves that branch ungated
    o, c = counterfactual_relation_reward(orig, cf, "same", correct_orig=[x == "A" for x in orig])
    assert o == pytest.approx([0.5, 0.0, 0.0]) and c == pytest.approx([1 / 3, 2 / 3])


def test_crr_unknown_relation_is_unscored():
    assert counterfactual_relation_reward(["A"], ["B", "A"], "unknown") == ([None], [None, None])
    with pytest.raises(ValueError, match="relation"):
        counterfactual_relation_reward(["A"], ["B"], "opposite")


def test_static_shortcut_earns_no_crr_on_dynamic_pairs():
    # A shortcut policy answers from a static cue: the same answer on every rollout of both branches. That includes
    # "C", a fixed point of the map (not moving stays not moving), which must not pass as a change.
    for answer, cf_map, gate in itertools.product(["A", "B", "C"], [None, SWAP], [None, [True] * 3]):
        o, c = counterfactual_relation_reward([answer] * 3, [answer] * 2, "change", cf_map, gate, gate and gate[:2])
        assert o == [0.0] * 3 and c == [0.0] * 2


def test_no_constant_policy_earns_full_accuracy_and_crr_on_a_dynamic_pair():
    truth, truth_cf, cf_map = "A", "B", {"A": "B", "B": "A", "C": "C"}
    for const in ["A", "B", "C", None]:
        answers = [const] * 4
        acc_o = accuracy_reward(answers, [truth] * 4, ["multiple_choice"] * 4)
        acc_c = accuracy_reward(answers, [truth_cf] * 4, ["multiple_choice"] * 4)
        for mapping, gated in itertools.product((None, cf_map), (False, True)):
            gates = ([a == 1.0 for a in acc_o], [a == 1.0 for a in acc_c]) if gated else (None, None)
            o, c = counterfactual_relation_reward(answers, answers, "change", mapping, *gates)
            full = all(a == 1.0 for a in acc_o + acc_c) and all(r == 1.0 for r in o + c)
            assert not full, (const, mapping, gated)
            assert sum(o + c) == 0.0  # the same answer on both branches never stands in "change"
    # while a policy that tracks the motion earns everything
    o, c = counterfactual_relation_reward(["A"] * 4, ["B"] * 4, "change", cf_map, [True] * 4, [True] * 4)
    assert o == [1.0] * 4 and c == [1.0] * 4


def test_none_answers_never_earn_crr_or_accuracy():
    for relation, mapping in (("same", None), ("change", None), ("change", {"A": "B"})):
        o, c = counterfactual_relation_reward([None, None], [None, "B", "A"], relation, mapping)
        assert o == [0.0, 0.0] and c == [0.0, 0.0, 0.0]
    assert accuracy_reward([None] * 4, ["A", "yes", "3", "x"],
                           ["multiple_choice", "yes_no", "numerical", "free_form"]) == [0.0] * 4


def test_crr_needs_both_branches():
    with pytest.raises(ValueError, match="both branches"):
        counterfactual_relation_reward(["A"], [], "same")


# ----------------------------------------------------------------------------------------------- T-GRPO, combination

def test_tgrpo_bonus_rule_and_boundaries():
    # ordered mean 0.5 >= 0.8 * 0.5: bonus on the correct ordered rollouts only
    assert tgrpo_bonus([1, 0, 1, 0], [1, 0]) == [0.3, 0.0, 0.3, 0.0]
    # ordered mean 0.25 < 0.8 * 0.5 = 0.4: no bonus
    assert tgrpo_bonus([1, 0, 0, 0], [1, 0]) == [0.0] * 4
    # exactly on the boundary (Video-R1 uses >=): 0.25 >= 0.5 * 0.5
    assert tgrpo_bonus([1, 0, 0, 0], [1, 0], mu=0.5, alpha=1.0) == [1.0, 0.0, 0.0, 0.0]
    assert tgrpo_bonus([1, 1, 0, 0, 0], [1, 0]) == [0.3, 0.3, 0.0, 0.0, 0.0]  # 0.4 >= 0.8 * 0.5 (both 0.4)
    # all wrong on both: condition holds (0 >= 0) but no rollout is correct
    assert tgrpo_bonus([0, 0], [0, 0]) == [0.0, 0.0]
    # "correct" is accuracy > 0.1, so partial (ROUGE) accuracy qualifies and 0.1 does not
    assert tgrpo_bonus([0.5, 0.1, 0.11], [0.0]) == [0.3, 0.0, 0.3]
    # unscored items get nothing
    assert tgrpo_bonus([None, None], [None]) == [0.0, 0.0]


def test_combine_rewards():
    out = combine_rewards({"accuracy": [1.0, 0.0, None, None], "format": [1.0, 1.0, 0.0, None],
                           "crr": [0.5, None, 1.0, None]}, {"accuracy": 1.0, "format": 0.5, "crr": 2.0})
    assert out[:3] == pytest.approx([1.0 + 0.5 + 1.0, 0.5, 2.0])
    assert math.isnan(out[3])  # nothing scored: left out of the group baseline by group_advantages
    with pytest.raises(ValueError, match="no weight"):
        combine_rewards({"accuracy": [1.0]}, {})
    with pytest.raises(ValueError, match="length"):
        combine_rewards({"accuracy": [1.0], "format": [1.0, 0.0]}, {"accuracy": 1, "format": 1})


def test_partial_types_compare_by_their_own_score_not_by_string():
    # "The man opens the door." paraphrases "He opens the door."; "He closes the door." is the change
    from crpo.rl.rewards import behave_reward
    paraphrase, change = "the man opens the door", "he closes the door"
    literal = behave_reward([paraphrase, change, None], "change", "He opens the door.", "free_form")
    assert literal[0] < 0.5 and literal[2] == 0.0  # a paraphrase is (mostly) no change; unreadable never behaves
    assert behave_reward(["2.1"], "same", "2.1", "regression") == [1.0]  # a static regression answer kept
    o, _ = counterfactual_relation_reward([paraphrase], ["he opens the door"], "same", problem_type="free_form")
    assert o == [1.0]
    o, _ = counterfactual_relation_reward(["he opens the door"], [paraphrase], "change", problem_type="free_form")
    assert o == [0.0]
