"""Question text for the model: the question, lettered options, and the answer-format instruction.

One function so that training, warm start and evaluation show the model exactly the same text.
"""
from __future__ import annotations

from crpo.data.items import LETTERS, Item

FORMAT_INSTRUCTIONS = {
    "think": "Think about the question in <think> </think> tags, then give only the final answer in "
             "<answer> </answer> tags.",
    "answer": "Give only the final answer in <answer> </answer> tags.",
}
TYPE_HINTS = {
    "multiple_choice": "Answer with the option's letter.",
    "yes_no": "Answer yes or no.",
    "numerical": "Answer with a number.",
    "free_form": "Answer with a short phrase.",
}
# Video-R1's regression and OCR items (crpo/data/importers.py). A table of their own because the tiny test models'
# tokenizer is trained on the texts of TYPE_HINTS (crpo/models/tiny.py): any line added there changes every tiny
# model, and with it the demo's numbers.
VIDEO_R1_TYPE_HINTS = {
    "regression": "Answer with a number.",
    "ocr": "Answer with the text exactly as it is written.",
}


def question_text(item: Item, answer_format: str = "answer") -> str:
    """The user text that goes next to the video: question, options as 'A. text' lines, instructions."""
    if answer_format not in FORMAT_INSTRUCTIONS:
        raise ValueError(f"unknown answer_format '{answer_format}' (expected one of {', '.join(FORMAT_INSTRUCTIONS)})")
    lines = [item.question.strip()]
    if item.problem_type == "multiple_choice":
        lines += [f"{LETTERS[i]}. {text}" for i, text in enumerate(item.options)]
    hint = TYPE_HINTS.get(item.problem_type) or VIDEO_R1_TYPE_HINTS[item.problem_type]
    lines.append(f"{hint} {FORMAT_INSTRUCTIONS[answer_format]}")
    return "\n".join(lines)


def target_text(answer: str, answer_format: str = "answer", reasoning: str = "") -> str:
    """The completion a supervised warm start teaches for `answer`."""
    if answer_format == "think":
        return f"<think>{reasoning}</think><answer>{answer}</answer>"
    return f"<answer>{answer}</answer>"
