"""TempCompass's hand-crafted answer matching rules, one per task type, as its official eval scripts apply them.

Reference: github.com/llyx97/TempCompass, eval_multi-choice.py, eval_yes_no.py, eval_caption_matching.py, run with
--disable_llm (a prediction no rule matches is rated 0 instead of being sent to ChatGPT; `matched` is False). Each
script first turns a None prediction into rating 0 (unmatched) and otherwise removes "</s>" and strips whitespace;
lmms-eval 0.7.3's tempcompass/utils.py applies the same rules to the output its pipeline stripped, without removing
"</s>" (`keep_eos=True`), and sends unmatched ones to ChatGPT. Reimplemented here and tested against lmms-eval's
copy of the rules, loaded unedited (tests/test_official_tempcompass.py).

`task_type(question, answer)` tells the three apart by the gold answer: "yes"/"no" is yes_no, "Caption A: ...",
"Sentence B: ...", "Option 1: ..." is caption_matching, anything else ("B. text") multi-choice. The fourth task,
captioning, is judged by an LLM and not supported.
"""
from __future__ import annotations

import re

_CAPTION = re.compile(r"^(Caption|Sentence|Option) \S+: ")


def task_type(question: str, answer: str) -> str:
    if answer in ("yes", "no"):
        return "yes_no"
    if _CAPTION.match(answer):
        return "caption_matching"
    return "multi-choice"


def clean(prediction, keep_eos: bool = False) -> str | None:
    """The text the rules read: None stays None (rated 0); else "</s>" removed (unless keep_eos) and stripped."""
    if prediction is None:
        return None
    text = str(prediction)
    return (text if keep_eos else text.replace("</s>", "")).strip()


def rate_multi_choice(pred: str, answer: str) -> tuple[int, bool]:
    if pred == answer:
        return 1, True
    if pred in ("A", "B", "C", "D"):
        return int(pred == answer[0]), True
    if any(pred.startswith(prefix) for prefix in ("A.", "B.", "C.", "D.")):
        return int(pred.split(".")[0] == answer[0]), True
    if any(pred.startswith(prefix) for prefix in ("A)", "B)", "C)", "D)")):
        return int(pred.split(")")[0] == answer[0]), True
    return 0, False


def rate_yes_no(pred: str, answer: str) -> tuple[int, bool]:
    low = pred.lower()
    said = "yes" if low.startswith("yes") else "no" if low.startswith("no") else None  # "nothing" reads as no
    return (int(said == answer), True) if said else (0, False)


def rate_caption_matching(pred: str, question: str, answer: str) -> tuple[int, bool]:
    """The official `eval_rule`: the last option string, option sentence or option index equal to the prediction."""
    option_strs = question.split("\n")[1:]
    option_sents = [opt.split(": ")[1] for opt in option_strs]
    option_inds = [opt.split(": ")[0] for opt in option_strs] + [
        opt.split(": ")[0].replace("Sentence ", "").replace("Option ", "").replace("Caption ", "")
        for opt in option_strs]
    chosen = None
    for option_str in option_strs:
        if option_str == pred:
            chosen = option_str
    for option_sent in option_sents:
        if option_sent == pred or (") " in pred and option_sent == pred.split(") ")[1]):
            chosen = option_sent
    for option_ind in option_inds:
        if option_ind == pred or option_ind == pred.replace(".", ""):
            chosen = option_ind
    if chosen is None:
        return 0, False
    right = (chosen == answer or chosen == answer.split(":")[0] or chosen == answer.split(": ")[1]
             or chosen == answer.split(": ")[0].split()[1])
    return int(right), True


def rate(prediction, question: str, answer: str, keep_eos: bool = False) -> tuple[int, bool]:
    """(rating, matched) of one prediction for one question, by the rules of the question's task type."""
    pred = clean(prediction, keep_eos)
    if pred is None:
        return 0, False
    kind = task_type(question, answer)
    if kind == "yes_no":
        return rate_yes_no(pred, answer)
    if kind == "caption_matching":
        return rate_caption_matching(pred, question, answer)
    return rate_multi_choice(pred, answer)
