"""MVBench / TVBench scoring: multiple-choice accuracy per task and overall.

    crpo score --format mvbench --data mvbench_items.jsonl --predictions predictions.jsonl

Both benchmarks are sets of multiple-choice tasks (one JSON file per task upstream; `crpo data import --format
mvbench` turns them into items whose category is the task). The official MVBench notebook (OpenGVLab/Ask-Anything,
video_chat2/mvbench.ipynb) reports accuracy per task and the total accuracy over all questions; `acc` is that total
and `mean_task_acc` the mean of the per-task accuracies (equal to `acc` on MVBench, whose tasks all have 200
questions; TVBench's tasks differ in size). Answers are read as in `crpo.bench.score` (the `answer` field, else the
option letter extracted from the raw output); a missing prediction counts wrong. Fractions in [0, 1].
"""
from __future__ import annotations

from crpo.data import Item, load_items
from crpo.bench.score import answers_for, canonical, read_predictions


def mvbench_metrics(items: list[Item], answers: dict[str, str | None]) -> dict:
    per: dict[str, list[int]] = {}
    for it in items:
        answer = canonical(it.problem_type, answers.get(it.id))
        t = per.setdefault(it.category or str(it.extra.get("task") or "unknown"), [0, 0])
        t[0] += 1
        t[1] += answer is not None and answer == canonical(it.problem_type, it.answer)
    tasks = {name: {"questions": n, "acc": right / n} for name, (n, right) in sorted(per.items())}
    total = sum(n for n, _ in per.values())
    return {
        "questions": total,
        "acc": sum(r for _, r in per.values()) / total if total else None,
        "mean_task_acc": sum(t["acc"] for t in tasks.values()) / len(tasks) if tasks else None,
        "per_task": tasks,
    }


def score_mvbench(data, predictions) -> dict:
    items = load_items(data)
    return mvbench_metrics(items, answers_for(items, read_predictions(predictions), predictions))
