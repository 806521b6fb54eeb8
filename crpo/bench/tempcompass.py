"""TempCompass multi-choice scoring: accuracy per temporal aspect and consistency on the reversed videos.

    crpo score --format tempcompass --data questions/multi-choice.json --predictions predictions/M/multi-choice.json

Accuracy follows github.com/llyx97/TempCompass (eval_multi-choice.py with --disable_llm, and print_result in
utils/eval_utils.py): a prediction is right when it equals the gold answer string ("B. moving from right to left"),
or is a bare letter A-D equal to the gold letter, or starts with "X." / "X)" for the gold letter X; anything else is
unmatched and wrong (the official script would otherwise ask ChatGPT; `match_rate` reports how often the rules
matched). Per aspect (action, direction, speed, order, attribute_change) accuracy = right / questions; `acc` is over
all questions (the official "avg"). Fractions in [0, 1]; the official script prints percentages. Unlike the official
script, which iterates over the predictions, we iterate over the questions, so a missing prediction counts wrong.

Reverse consistency (ours, not an official TempCompass metric): TempCompass ships time-reversed copies of some
videos ("<id>_reverse") with the same questions in the same order and reversed answers. A reverse pair is question j of
aspect d on <id> and on <id>_reverse; `reverse_pair_acc` is the fraction of those pairs with both answers right, the
P-Acc of this benchmark.

Inputs, official: the questions JSON {video_id: {aspect: [{question, answer}]}} and the predictions JSON of the same
shape with a "prediction" (or "response") per question. Ours: items JSONL (aspect = category; video id = extra.video_id
or the video file's stem, plus "_reverse" when the item's transform is "reverse"; question j = order in the file
within a video and aspect) with our predictions JSONL (answer extracted as in `crpo.bench.score`).
"""
from __future__ import annotations

import json
from pathlib import Path

from crpo.data import DataError, load_items
from crpo.bench.score import canonical, predicted_answer, read_predictions

Key = tuple[str, str, int]  # (video id, aspect, question position)


def rate(prediction, answer: str) -> tuple[int, bool]:
    """(rating, matched) for one multi-choice prediction, by the official hand-crafted rules."""
    if prediction is None:
        return 0, False
    pred = str(prediction).replace("</s>", "")
    if pred == answer:
        return 1, True
    if pred in ("A", "B", "C", "D"):
        return int(pred == answer[0]), True
    for sep in (".", ")"):
        if any(pred.startswith(letter + sep) for letter in "ABCD"):
            return int(pred.split(sep)[0] == answer[0]), True
    return 0, False


def tempcompass_metrics(results: dict[Key, tuple[int, bool]]) -> dict:
    """Metrics from {(video, aspect, j): (rating, matched)}; see the module docstring."""
    per: dict[str, dict[str, int]] = {}
    for (video, aspect, j), (rating, _) in results.items():
        p = per.setdefault(aspect, {"questions": 0, "right": 0, "reverse_pairs": 0, "reverse_right": 0})
        p["questions"] += 1
        p["right"] += rating
        if video.endswith("_reverse") and (video[: -len("_reverse")], aspect, j) in results:
            p["reverse_pairs"] += 1
            p["reverse_right"] += rating == 1 and results[(video[: -len("_reverse")], aspect, j)][0] == 1
    n = len(results)
    pairs = sum(p["reverse_pairs"] for p in per.values())

    def frac(a, b):
        return a / b if b else None

    return {
        "questions": n,
        "acc": frac(sum(r for r, _ in results.values()), n),
        "match_rate": frac(sum(m for _, m in results.values()), n),
        "reverse_pairs": pairs,
        "reverse_pair_acc": frac(sum(p["reverse_right"] for p in per.values()), pairs),
        "per_aspect": {a: {"questions": p["questions"], "acc": frac(p["right"], p["questions"]),
                           "reverse_pairs": p["reverse_pairs"],
                           "reverse_pair_acc": frac(p["reverse_right"], p["reverse_pairs"])}
                       for a, p in sorted(per.items())},
    }


def _load_json(path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON at line {e.lineno} ({e.msg})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected the TempCompass layout {{video_id: {{aspect: [questions]}}}}")
    return data


def _official(data, predictions) -> dict[Key, tuple[int, bool]]:
    questions, preds = _load_json(data), _load_json(predictions)
    results = {}
    for video, aspects in questions.items():
        for aspect, rows in aspects.items():
            given = preds.get(video, {}).get(aspect, [])
            for j, row in enumerate(rows):
                pred = given[j] if j < len(given) else {}
                results[(video, aspect, j)] = rate(pred.get("prediction", pred.get("response")), row["answer"])
    return results


def _ours(data, predictions) -> dict[Key, tuple[int, bool]]:
    items = load_items(data)
    preds = read_predictions(predictions)
    results, counts = {}, {}
    for it in items:
        video = str(it.extra.get("video_id") or Path(it.video).stem) + ("_reverse" if it.transform == "reverse" else "")
        aspect = it.category or it.extra.get("dim") or "unknown"
        j = counts[(video, aspect)] = counts.get((video, aspect), -1) + 1
        row = preds.get(it.id)
        answer = canonical(it.problem_type, predicted_answer(it, row))
        right = answer is not None and answer == canonical(it.problem_type, it.answer)
        results[(video, aspect, j)] = (int(right), answer is not None)
    return results


def score_tempcompass(data, predictions) -> dict:
    if str(data).endswith(".jsonl") != str(predictions).endswith(".jsonl"):
        raise DataError(f"{data}, {predictions}: give the official questions and predictions JSON files, or our items "
                        "and predictions JSONL files, not one of each")
    results = _ours(data, predictions) if str(data).endswith(".jsonl") else _official(data, predictions)
    return tempcompass_metrics(results)
