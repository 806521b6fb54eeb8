"""Paired benches out: a crpo bench written as an lmms-eval task, to run any model lmms-eval supports on it.

    crpo bench build --items items.jsonl --video-root videos/ --out bench/ --lmms-eval-task lmms_task/
    lmms-eval --model llava_onevision --model_args pretrained=... --tasks crpo_bench \\
        --include_path lmms_task/ --log_samples --output_path out/
    crpo score --format dybench --data bench/bench.jsonl --lmms-eval-samples out/<model>/<date>_samples_crpo_bench.jsonl

`write_lmms_task(bench, video_root, out)` writes into OUT:
- <name>.yaml  the task (name: "crpo_" + the bench folder's name unless given): a generate_until task on the local
               JSON dataset docs.jsonl (absolute path), greedy, 64 new tokens;
- docs.jsonl   one flat document per bench item, in bench order: id, video (relative to the video root), prompt
               (crpo's question text, `crpo.data.prompts.question_text`: what `crpo eval` shows a model), answer,
               problem_type, options, category, pair_id;
- bench.jsonl  a copy of the bench, which the task's metrics read;
- utils.py     doc_to_visual (the video file under VIDEO_ROOT, the --video-root given, or $CRPO_VIDEO_ROOT),
               doc_to_text,
               process_results (logs {id, output} under each metric, which `crpo score --lmms-eval-samples` joins on)
               and the aggregations acc and p_acc: crpo's DyBench metrics over the documents run (lmms-eval's
               --limit included), or NaN with a warning when crpo cannot be imported where lmms-eval runs.

lmms-eval models read whole video files: every item must point at one. A twin whose transform is applied at load
time (a bench built without --materialize) or an item with a [start, end] segment is an error naming the item;
`crpo bench build --lmms-eval-task` therefore materializes the twins itself.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from crpo.data.items import DataError, load_items, read_jsonl

UTILS = '''"""lmms-eval task utils written by `crpo bench build --lmms-eval-task` for the bench in bench.jsonl
beside this file.

Score a run made with --log_samples with `crpo score --format dybench --data bench.jsonl --lmms-eval-samples FILE`.
"""
import os
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
VIDEO_ROOT = {video_root!r}  # override with the environment variable CRPO_VIDEO_ROOT when the videos move


def doc_to_visual(doc, lmms_eval_specific_kwargs=None):
    return [os.path.join(os.environ.get("CRPO_VIDEO_ROOT", VIDEO_ROOT), doc["video"])]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    kwargs = lmms_eval_specific_kwargs or {{}}
    return kwargs.get("pre_prompt", "") + doc["prompt"] + kwargs.get("post_prompt", "")


def process_results(doc, results):
    row = {{"id": doc["id"], "output": results[0] if results else ""}}
    return {{"acc": row, "p_acc": row}}


def _metric(results, name):
    try:
        from crpo.bench.lmms_task import task_metrics
    except ImportError:
        warnings.warn("crpo is not importable here: score the samples with `crpo score --lmms-eval-samples`")
        return float("nan")
    value = task_metrics(os.path.join(HERE, "bench.jsonl"), {{r["id"]: r["output"] for r in results}})[name]
    return float("nan") if value is None else value


def aggregate_acc(results):
    return _metric(results, "acc")


def aggregate_p_acc(results):
    return _metric(results, "p_acc")
'''

YAML = """# Written by `crpo bench build --lmms-eval-task`: the paired bench {bench} as an lmms-eval task.
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {docs}
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: answer
generation_kwargs:
  max_new_tokens: 64
  temperature: 0
  do_sample: false
process_results: !function utils.process_results
metric_list:
  - metric: acc
    aggregation: !function utils.aggregate_acc
    higher_is_better: true
  - metric: p_acc
    aggregation: !function utils.aggregate_p_acc
    higher_is_better: true
metadata:
  version: 1.0
"""


def task_name_for(bench) -> str:
    return "crpo_" + (re.sub(r"\W+", "_", Path(bench).resolve().parent.name).strip("_").lower() or "bench")


def write_lmms_task(bench, video_root, out, name: str | None = None) -> str:
    """Write the lmms-eval task of `bench` (our bench JSONL) into `out`; returns the task name."""
    from crpo.data.prompts import question_text

    bench, out, video_root = Path(bench), Path(out), Path(video_root).resolve()
    name = name or task_name_for(bench)
    if not re.fullmatch(r"[A-Za-z_][\w-]*", name):
        raise DataError(f"lmms-eval task name '{name}': use letters, digits, '_' and '-'")
    items = load_items(bench)
    docs = []
    for (lineno, _), it in zip(read_jsonl(bench), items):
        where = f"{bench}:{lineno}"
        if it.transform:
            raise DataError(f"{where}: item '{it.id}' applies '{it.transform}' when loaded; lmms-eval models read "
                            "video files: build the bench with --materialize")
        if it.start is not None or it.end is not None:
            raise DataError(f"{where}: item '{it.id}' is the [{it.start}, {it.end}] s segment of its video; lmms-eval "
                            "models read whole files: cut the segment into its own file first")
        docs.append({"id": it.id, "video": it.video, "prompt": question_text(it), "answer": it.answer,
                     "problem_type": it.problem_type, "options": list(it.options or []),
                     "category": it.category or "", "pair_id": it.pair_id or ""})
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "docs.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    if bench.resolve() != (out / "bench.jsonl").resolve():
        shutil.copyfile(bench, out / "bench.jsonl")
    (out / "utils.py").write_text(UTILS.format(video_root=str(video_root)), encoding="utf-8")
    (out / f"{name}.yaml").write_text(YAML.format(bench=bench, name=name,
                                                  docs=json.dumps(str((out / "docs.jsonl").resolve()))),
                                      encoding="utf-8")
    return name


def task_metrics(bench, outputs: dict[str, str]) -> dict:
    """DyBench metrics of the bench items that have an output (a pair cut by lmms-eval's --limit counts as items)."""
    from crpo.bench.evaluate import scoring_subset
    from crpo.bench.score import dybench_metrics
    from crpo.rl.answers import extract_answer

    items = scoring_subset([it for it in load_items(bench) if it.id in outputs])
    answers = {it.id: extract_answer(outputs[it.id] or "", it.problem_type, it.options) for it in items}
    return dybench_metrics(items, answers)
