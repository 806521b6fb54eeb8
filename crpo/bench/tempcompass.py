"""TempCompass scoring (multi-choice, yes_no, caption_matching): accuracy per temporal aspect, reverse consistency.

    crpo score --format tempcompass --data questions/multi-choice.json --predictions predictions/M/multi-choice.json
    crpo score --format tempcompass --data tempcompass_items.jsonl --predictions predictions.jsonl

Accuracy follows github.com/llyx97/TempCompass: eval_<task>.py with --disable_llm and print_result in
utils/eval_utils.py. Every prediction is rated by the official hand-crafted rule of its task type
(crpo/bench/tempcompass_rules.py: "</s>" removed and whitespace stripped first); one no rule matches is rated 0 (the
official script would otherwise ask ChatGPT; `match_rate` says how often the rules matched). Per aspect (action,
direction, speed, order, attribute_change) acc = rated right / rated; `acc` is over all of them (the official "avg").
Fractions in [0, 1]; the official script prints percentages rounded to one decimal. The real Reka-core and
Reka-flash multi-choice predictions shipped with the repository give the official 41.39 and 56.65 (docs/scorers.md).

Quirks (crpo/bench/quirks.py):
- `missing_excluded` (default on): the official scripts iterate the predictions file, so a question without a
  prediction is not rated at all; off: it is rated 0. `missing` counts such questions either way.
- `lmms_eval_eos` (default off): lmms-eval 0.7.3's TempCompass task strips the output (its pipeline) but leaves
  "</s>" in, so "B</s>" is unmatched there; on reproduces lmms-eval's number.

Reverse consistency (ours, not an official TempCompass metric): TempCompass ships time-reversed copies of some videos
("<id>_reverse") with the same questions in the same order and reversed answers. A reverse pair is question j of
aspect d on <id> and on <id>_reverse, both rated; `reverse_pair_acc` is the fraction of those pairs with both right.

Inputs, official: the questions JSON {video_id: {aspect: [{question, answer}]}} and the predictions JSON of the same
shape with a "prediction" (or "response") per question; a prediction's own question and answer are used when it
carries them, as officially. Ours: items JSONL (aspect = category; video id = extra.video_id or the video file's
stem, plus "_reverse" when the item's transform is "reverse"; question j = order in the file within a video and
aspect; multi-choice items get the gold string "X. option", yes_no items "yes"/"no") with our predictions JSONL,
whose raw output is rated.
"""
from __future__ import annotations

import json
from pathlib import Path

from crpo.bench.predictions import raw_outputs
from crpo.bench.tempcompass_rules import rate, task_type
from crpo.data.items import LETTERS, DataError, Item, load_items

Key = tuple[str, str, int]  # (video id, aspect, question position)


def tempcompass_metrics(results: dict[Key, tuple[int, bool]], missing: int = 0, tasks: dict | None = None) -> dict:
    """Metrics from {(video, aspect, j): (rating, matched)} of the rated questions; see the module docstring."""
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
        "missing": missing,
        "tasks": tasks or {},
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


Question = tuple[str, str]  # (question text, gold answer string)


def _official(data, predictions) -> tuple[dict[Key, Question], dict[Key, object]]:
    """({key: (question, answer)}, {key: prediction}) of the official files. A prediction that carries its question
    is matched to the first unused question of its video and aspect with that text (else to its position), and its
    own answer is the gold one, as the official scripts rate it; one matching no question needs both fields."""
    questions, preds = _load_json(data), _load_json(predictions)
    gold = {(video, aspect, j): (row["question"], row["answer"])
            for video, aspects in questions.items() for aspect, rows in aspects.items() for j, row in enumerate(rows)}
    given = {}
    for video, aspects in preds.items():
        for aspect, rows in aspects.items():
            texts = [row["question"] for row in questions.get(video, {}).get(aspect, [])]
            used = set()
            for j, row in enumerate(rows):
                where = f"{predictions}:{video}/{aspect}/{j}"
                if not isinstance(row, dict):
                    raise DataError(f"{where}: expected an object with a 'prediction'")
                if "question" in row:
                    k = next((i for i, t in enumerate(texts) if t == row["question"] and i not in used), None)
                    if k is None:
                        k = len(texts) + j
                        if "answer" not in row:
                            raise DataError(f"{where}: question not in {data} and no 'answer' of its own")
                else:
                    k = j
                    if (video, aspect, k) not in gold:
                        raise DataError(f"{where}: no question {k} of {video}/{aspect} in {data}")
                used.add(k)
                key = (video, aspect, k)
                gold[key] = (row.get("question", gold.get(key, ("", ""))[0]), row["answer"] if "answer" in row
                             else gold[key][1])
                given[key] = row["prediction"] if "prediction" in row else row.get("response")
    return gold, given


def _gold_of(item: Item, where: str) -> Question:
    if item.problem_type == "yes_no":
        return item.question, item.answer.strip().lower()
    if item.problem_type == "multiple_choice":
        lines = [f"{LETTERS[i]}. {text}" for i, text in enumerate(item.options)]
        return "\n".join([item.question.strip(), *lines]), lines[LETTERS.index(item.answer)]
    raise DataError(f"{where}: item '{item.id}' is {item.problem_type}; the TempCompass scorer reads multiple_choice "
                    "and yes_no items (caption matching: score the official files)")


def _ours(data, predictions) -> tuple[dict[Key, Question], dict[Key, object]]:
    items = load_items(data)
    outputs = raw_outputs(items, predictions)
    gold, given, counts = {}, {}, {}
    for it in items:
        video = str(it.extra.get("video_id") or Path(it.video).stem) + ("_reverse" if it.transform == "reverse" else "")
        aspect = it.category or it.extra.get("dim") or "unknown"
        j = counts[(video, aspect)] = counts.get((video, aspect), -1) + 1
        gold[(video, aspect, j)] = _gold_of(it, data)
        if it.id in outputs:
            given[(video, aspect, j)] = outputs[it.id]
    return gold, given


def score_tempcompass(data, predictions, quirks: dict[str, bool]) -> dict:
    if str(data).endswith(".jsonl") != str(predictions).endswith(".jsonl"):
        raise DataError(f"{data}, {predictions}: give the official questions and predictions JSON files, or our items "
                        "and predictions JSONL files, not one of each")
    gold, given = _ours(data, predictions) if str(data).endswith(".jsonl") else _official(data, predictions)
    keys = [k for k in gold if k in given] if quirks["missing_excluded"] else list(gold)
    results, tasks = {}, {}
    for key in keys:
        question, answer = gold[key]
        results[key] = rate(given.get(key), question, answer, keep_eos=quirks["lmms_eval_eos"])
        kind = task_type(question, answer)
        tasks[kind] = tasks.get(kind, 0) + 1
    out = tempcompass_metrics(results, missing=sum(k not in given for k in gold), tasks=tasks)
    return {**out, "quirks": quirks}
