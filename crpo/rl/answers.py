"""Reading the answer a completion commits to, normalised so that answers compare with ==.

    answer = extract_answer("<think>...</think><answer>(B)</answer>", "multiple_choice", ["left", "right"])  # "B"
    normalize_answer("1,000", "numerical")    # "1000": an item's raw answer in the form extract_answer returns

An answer is an option letter, "yes"/"no", a number such as "3" or "2.5", or free text; None when nothing can be
read unambiguously. Rewards (crpo/rl/rewards.py), `crpo eval` and the scorers of crpo's own predictions all read
answers here, so training and evaluation agree on what a completion said.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

from crpo.data.items import LETTERS, PROBLEM_TYPES
from crpo.rl.answer_metrics import words

_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_OPEN_THINK = re.compile(r"<think>.*", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"</?(?:think|answer)>", re.IGNORECASE)

# The whole answer is one letter: "B", "b", "(B)", "B.", "B)", "B:".
_BARE_LETTER = re.compile(r"\(?([A-Za-z])\)?[.):]?")
# Letters explicitly marked as a choice inside longer text. Upper case only: "a" and "I" are English words.
_MARKED_LETTER = re.compile(
    r"(?i:answer|option|choice)\s*(?:is\s*)?[:\-]?\s*\(?([A-Z])(?![\w])"  # "Answer: B", "the answer is (B"
    r"|\(([A-Z])\)"                                                      # "(B)"
    r"|(?<![\w(])([A-Z])[.):](?![\w])"                                   # "B.", "B)", "B:" ("U.S." does not match U)
)
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
# Integers, decimals and 1,000-style groups; "2-3" reads 2 and 3, "3rd" reads nothing.
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\w)")
_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                      "ninety": 90, "hundred": 100})
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


def normalize_text(text: str) -> str:
    """SQuAD-style normalisation: lower case, punctuation to spaces, articles dropped, whitespace collapsed."""
    text = re.sub(r"[^0-9a-z]+", " ", text.lower())
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def format_number(value: float) -> str:
    """Canonical text of a number: "3" for 3.0, "2.5" for 2.50 (shortest round-trip form)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:  # a 400-digit answer parses to inf
        return str(int(value))
    return repr(value)


def _answer_span(text: str) -> str:
    # The last closed <answer> block is authoritative (models sometimes draft one inside <think>). Without one, read
    # what is left once thoughts are removed -- closed <think> blocks and an unclosed one up to the end, since a
    # completion truncated mid-thought has committed to nothing -- and stray tags ("<answer>B" cut before its end).
    blocks = _ANSWER_BLOCK.findall(text)
    if blocks:
        return blocks[-1]
    return _TAG.sub(" ", _OPEN_THINK.sub(" ", _THINK_BLOCK.sub(" ", text)))


def _choice(span: str, options: Sequence[str]) -> str | None:
    letters = LETTERS[: len(options)]
    bare = _BARE_LETTER.fullmatch(span.strip())
    if bare:
        letter = bare.group(1).upper()
        return letter if letter in letters else None
    marked = {next(g for g in m.groups() if g) for m in _MARKED_LETTER.finditer(span)}
    padded = f" {normalize_text(span)} "
    by_text = {letters[i] for i, option in enumerate(options)
               if normalize_text(option) and f" {normalize_text(option)} " in padded}
    if len(marked) > 1:
        return None  # "(A) or (B)": two letters, no verdict
    if marked:
        letter = marked.pop()
        # "(B) left" where "left" is option A contradicts itself: refuse rather than pick one.
        return letter if letter in letters and (not by_text or letter in by_text) else None
    exact = [letters[i] for i, option in enumerate(options) if normalize_text(option) == padded.strip()]
    if exact:
        return exact[0] if len(exact) == 1 else None
    return by_text.pop() if len(by_text) == 1 else None


def _number(span: str) -> str | None:
    values = {float(m.replace(",", "")) for m in _NUMBER.findall(span)}
    values |= {float(_NUMBER_WORDS[w.lower()]) for w in _NUMBER_WORD.findall(span)}
    return format_number(values.pop()) if len(values) == 1 else None


def _free_text(span: str) -> str | None:
    # ROUGE's own tokenizer reads only lower-case alphanumeric words, so this loses nothing it scores; articles stay
    # because ROUGE counts them (normalize_text would drop them and change Video-R1's score).
    return " ".join(words(span)) or None


def extract_answer(text: str, problem_type: str, options: Sequence[str] | None = None) -> str | None:
    """The answer a completion commits to, normalised for comparison, or None when it cannot be read unambiguously.

    Reads the last `<answer>...</answer>` block, else the text outside `<think>` blocks, then by problem type:
      multiple_choice: an option letter valid for `options` ("B", "(B)", "B.", "Answer: B", or the text of
        exactly one option); two different letters, or a letter contradicted by the option text, give None;
      yes_no: "yes" or "no" when exactly one of the two words occurs;
      numerical, regression: the canonical text of the only number present ("3", "2.5", "1000"; "three" counts);
      free_form: the span's lower-case alphanumeric words joined by single spaces ("The Red, ball." -> "the red
        ball"), which is all that ROUGE reads;
      ocr: the span with its whitespace collapsed, case and punctuation kept (the word error rate counts them).
    Empty free text is None.
    """
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"unknown problem_type '{problem_type}' (expected one of {', '.join(PROBLEM_TYPES)})")
    span = _answer_span(text)
    if problem_type == "multiple_choice":
        if not options:
            raise ValueError("extract_answer: a multiple_choice question needs its options")
        return _choice(span, options)
    if problem_type == "yes_no":
        words_ = {w.lower() for w in _YES_NO.findall(span)}
        return words_.pop() if len(words_) == 1 else None
    if problem_type in ("numerical", "regression"):
        return _number(span)
    if problem_type == "ocr":
        return " ".join(span.split()) or None
    return _free_text(span)


def normalize_answer(answer: str | None, problem_type: str) -> str | None:
    """An item's raw answer in the form `extract_answer` returns for that problem type, so the two compare with ==
    (a letter upper-case, yes/no lower-case, a number as `format_number` writes it, free text as extracted); None
    when it is None or unusable (a numerical answer that is no number)."""
    if answer is None:
        return None
    if problem_type == "multiple_choice":
        return answer.strip().upper() or None
    if problem_type == "yes_no":
        return answer.strip().lower() or None
    if problem_type in ("numerical", "regression"):
        try:
            return format_number(float(answer.replace(",", "")))  # Video-R1 drops thousands separators too
        except ValueError:
            return None
    if problem_type == "ocr":
        return " ".join(answer.split()) or None
    if problem_type == "free_form":
        return _free_text(answer)
    raise ValueError(f"unknown problem_type '{problem_type}' (expected one of {', '.join(PROBLEM_TYPES)})")
