"""MVP (Minimal Video Pairs, facebook/minimal_video_pairs) scoring: single-clip and pair accuracy per sub-domain.

    crpo score --format mvp --data mvp_items.jsonl --predictions predictions.jsonl
    crpo score --format mvp --data minimal_video_pairs/ --predictions predictions.jsonl   # the dataset's own files

Reference: lmms-eval 0.7.3, tasks/mvp/utils.py (`_extract_pred`, `mvp_process_results`, `_compute_pair_and_single`,
the two aggregations; group mvp_mini = unweighted mean over the four sub-domains), applied to the output lmms-eval's
pipeline hands it (stripped; None as ""). Reimplemented here and tested against that code loaded unedited
(tests/test_official_mvp.py). What it does, quirks included:

- The prediction: lmms-eval's pattern `(answer|assistant)?:?\\s*([ab])\\b` over the lower-cased output, with no word
  boundary before the letter, so a word ending in "a" or "b" before a line break or space is read as that letter
  ("the camera pans" reads A); of several matches the SECOND is taken, of one the first. No match: wrong.
- The gold index is that of the first candidate equal to the answer text; right when the letter's index equals it.
- Pairs are the clips whose video_id is the same once its last "_<n>" part is cut off; a pair counts when it has
  exactly two clips and both are right; a group of another size counts in the denominator and never as right.
  A missing prediction is an empty output (wrong), as in lmms-eval where every document is answered.

Per sub-domain (task = category): single_acc and pair_acc; `mean_single_acc` / `mean_pair_acc` are the mvp_mini
group numbers (unweighted mean over tasks), `single_acc` / `pair_acc` the pooled ones. Fractions in [0, 1]
(lmms-eval prints percentages).

Inputs: `--data` is our items JSONL (`crpo data import --format mvp`: id = video_id, pair_id = its stem, category
= the sub-domain) or the dataset's own files, a folder (or one .parquet file) of parquet / JSON / JSONL rows
{video_id, video_path, question, answer, candidates, source}, the sub-domain named by the folder of an HF shard
(`temporal_reasoning/mini-00000-of-00001.parquet`) or by the file's name; their items get id = video_id.
"""
from __future__ import annotations

import re

from crpo.bench.mvbench import lmms_output, task_of
from crpo.bench.predictions import raw_outputs
from crpo.data.items import LETTERS, Item

_PRED = re.compile(r"(answer|assistant)?:?\s*([ab])\b", re.IGNORECASE)


def mvp_choice(output) -> int | None:
    """The option index lmms-eval's `_extract_pred` reads from a (stripped) output, None when none."""
    lowered = lmms_output(output).lower()
    matches = _PRED.findall(lowered)
    if matches:
        return "ab".index((matches[1] if len(matches) > 1 else matches[0])[1].lower())
    return None


def gold_index(item: Item) -> int:
    """The index of the first candidate whose text equals the gold one's (lmms-eval's candidates.index)."""
    return item.options.index(item.options[LETTERS.index(item.answer)])


def pair_key(item: Item) -> str:
    """The item's pair: its pair_id, else lmms-eval's video_id stem (the id without its last "_<n>" part)."""
    if item.pair_id is not None:
        return item.pair_id
    return "_".join(str(item.extra.get("video_id", item.id)).split("_")[:-1])


def mvp_metrics(items: list[Item], outputs: dict[str, str | None]) -> dict:
    """Metrics from items and raw outputs {id: text}; an id absent from `outputs` is a missing prediction (wrong)."""
    per: dict[str, dict] = {}
    for it in items:
        task = per.setdefault(task_of(it), {"questions": 0, "right": 0, "pairs": {}})
        right = mvp_choice(outputs.get(it.id)) == gold_index(it)
        task["questions"] += 1
        task["right"] += right
        task["pairs"].setdefault(pair_key(it), []).append(right)
    tasks = {}
    for name, t in sorted(per.items()):
        whole = sum(len(p) == 2 and all(p) for p in t["pairs"].values())
        tasks[name] = {"questions": t["questions"], "pairs": len(t["pairs"]), "pairs_right": whole,
                       "single_acc": t["right"] / t["questions"], "pair_acc": whole / len(t["pairs"])}
    questions = sum(t["questions"] for t in tasks.values())
    pairs = sum(t["pairs"] for t in tasks.values())

    def mean(key):
        return sum(t[key] for t in tasks.values()) / len(tasks) if tasks else None

    return {
        "questions": questions,
        "pairs": pairs,
        "missing": sum(it.id not in outputs for it in items),
        "single_acc": sum(p["right"] for p in per.values()) / questions if questions else None,
        "pair_acc": sum(t["pairs_right"] for t in tasks.values()) / pairs if pairs else None,
        "mean_single_acc": mean("single_acc"),
        "mean_pair_acc": mean("pair_acc"),
        "per_task": tasks,
    }


def score_mvp(data, predictions, quirks: dict[str, bool]) -> dict:
    from crpo.data.importers_tables import dataset_or_items
    items = dataset_or_items(data, "mvp")
    return {**mvp_metrics(items, raw_outputs(items, predictions)), "quirks": quirks}
