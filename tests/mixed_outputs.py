"""Generated model outputs in the styles real models answer multiple-choice questions with, for scorer tests.

`mc_output(rng, options, gold)` picks a letter (the gold one with probability 0.55, else another option) and writes
it in one of STYLES: bare, lower-case, "(B)", "B. text", the option text only, "The answer is B.",
"<answer>B</answer>", "B</s>", " B.", "B, because ...", empty, multi-line, "Answer: B", "B)", a sentence with the
article "a" in it, "Option B", "b) text", whitespace only, "B\\n", "**B**", "The correct option is (B) text", no
option at all, "B. text</s>", two letters, "\\nB", a <think> block before the letter. `prediction_rows` turns
outputs into our predictions JSONL rows, leaving some out (missing) and giving some as an `answer` field only.
"""
from __future__ import annotations

import random

LETTERS = "ABCDEFGHIJ"

STYLES = {
    "bare": "{L}", "lower": "{l}", "paren": "({L})", "letter_text": "{L}. {t}", "text_only": "{t}",
    "answer_is": "The answer is {L}.", "answer_tag": "<answer>{L}</answer>", "eos": "{L}</s>",
    "leading_space": " {L}.", "because": "{L}, because the video shows it.", "empty": "",
    "multiline": "Let me look.\nThe clip shows {t}.\n{L}", "answer_colon": "Answer: {L}", "close_paren": "{L})",
    "article": "I think a person is {t}.", "option_word": "Option {L}", "lower_paren_text": "{l}) {t}",
    "spaces": "   ", "trailing_newline": "{L}\n", "bold": "**{L}**",
    "correct_option": "The correct option is ({L}) {t}",
    "no_option": "None of the options fit.", "letter_text_eos": "{L}. {t}</s>", "two_letters": "{L} or {O}",
    "newline_first": "\n{L}", "think": "<think>Looking at the motion.</think>{L}",
}
EMPTY_STYLES = ("empty", "spaces")

WORDS = ["person", "ball", "moving", "left", "right", "up", "down", "a cup", "the door", "opening", "closing", "red",
         "blue", "faster", "slower", "rotating", "clockwise", "jumping", "a dog", "car", "turning", "falling", "b"]


def phrase(rng: random.Random) -> str:
    return " ".join(rng.sample(WORDS, rng.randint(1, 3)))


def options(rng: random.Random, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        p = phrase(rng)
        if p not in out or rng.random() < 0.02:  # now and then two options with the same text
            out.append(p)
    return out


def mc_output(rng: random.Random, opts: list[str], gold: int, styles=None) -> str:
    pick = gold if rng.random() < 0.55 or len(opts) == 1 else rng.choice([i for i in range(len(opts)) if i != gold])
    other = rng.choice([i for i in range(len(opts)) if i != pick] or [pick])
    style = rng.choice(list(styles or STYLES))
    return STYLES[style].format(L=LETTERS[pick], l=LETTERS[pick].lower(), t=opts[pick], O=LETTERS[other])


def prediction_rows(rng: random.Random, ids: list[str], outputs: list[str], p_missing=0.05, p_answer_field=0.05):
    """Our predictions rows for (id, output): some left out, some as {"id", "answer"}; returns (rows, kept ids)."""
    rows, kept = [], set()
    for pid, out in zip(ids, outputs):
        r = rng.random()
        if r < p_missing:
            continue
        rows.append({"id": pid, "answer": out} if r < p_missing + p_answer_field else {"id": pid, "output": out})
        kept.add(pid)
    return rows, kept
