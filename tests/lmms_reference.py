"""lmms-eval 0.7.3 as the reference the peer scorers are tested against: its own task code, run its own way.

`run_official(tmp, {name: (official_yaml, docs, outputs)})` writes, for each task, a YAML that `include`s lmms-eval's
own task YAML (so its utils.py functions, prompts, metrics and aggregations, loaded unedited from the installed
package) and only points the dataset at a local JSON file of `docs` instead of the Hugging Face hub. lmms-eval's
TaskManager and get_task_dict build the tasks, and its evaluation loop (evaluator.evaluate: its output stripping,
filters, process_results, aggregation, sample logging) runs them with `Replay`, a model that answers each document
with a recorded output. No network: the only thing replaced is TempCompass's ChatGPT judge for outputs its rules
do not match, which answers "no rating" (0), what the official scripts do with --disable_llm.

lmms-eval is a dev dependency (pyproject.toml dev extra + `pip install --no-deps lmms-eval==0.7.3` in the Makefile);
without it these tests fail with that message rather than skip.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import yaml


def lmms_eval_tasks_dir() -> Path:
    spec = importlib.util.find_spec("lmms_eval")
    if spec is None:
        raise RuntimeError("lmms-eval is not installed: `make setup` installs it (pip install --no-deps "
                           "lmms-eval==0.7.3 plus the dev extra); the official-code tests need its task code")
    return Path(spec.submodule_search_locations[0]) / "tasks"


def official_yaml(path: str) -> Path:
    """A task YAML of lmms-eval, e.g. "mvbench/mvbench_action_count.yaml"."""
    found = lmms_eval_tasks_dir() / path
    assert found.is_file(), found
    return found


def _quiet():
    from loguru import logger
    logger.remove()
    logger.add(sys.stderr, level="ERROR")


_MODEL = None


def _replay_class():
    global _MODEL
    if _MODEL is None:
        from lmms_eval.api.model import lmms

        class Replay(lmms):
            """Answers each request with the recorded output of its (task, doc_id)."""
            is_simple = True

            def __init__(self, outputs: dict[str, list]):
                super().__init__()
                self.outputs = outputs

            def generate_until(self, requests):
                return [self.outputs[r.args[4]][r.args[3]] for r in requests]

            def loglikelihood(self, requests):
                raise NotImplementedError

            def generate_until_multi_round(self, requests):
                raise NotImplementedError

        _MODEL = Replay
    return _MODEL


def _no_llm_judge(task) -> None:
    """TempCompass sends outputs its rules do not match to ChatGPT; answer for it with no rating (0)."""
    fn = getattr(task.config, "process_results", None)
    if callable(fn) and "get_eval_result" in getattr(fn, "__globals__", {}):
        fn.__globals__["get_eval_result"] = lambda prompt, *args, **kwargs: (None, 0)


@contextlib.contextmanager
def _env(hf_home: Path):
    """HF_HOME (read by some task utils when lmms-eval loads them; lmms-eval's datasets cache goes below it) and
    offline switches for one run, restored afterwards so the rest of the test session does not see them."""
    values = {"HF_HOME": str(hf_home), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
              "LMMS_EVAL_DATASETS_CACHE": str(hf_home / "datasets")}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    _quiet()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def evaluate_tasks(include_path: Path, outputs: dict[str, list], hf_home: Path) -> dict:
    """lmms-eval's TaskManager on `include_path`, get_task_dict, and evaluator.evaluate with `Replay` answering
    outputs[task][doc_id]; returns evaluate's result (results per task, configs, samples)."""
    with _env(hf_home):
        from lmms_eval import evaluator
        from lmms_eval.tasks import TaskManager, get_task_dict

        manager = TaskManager(include_path=str(include_path), include_defaults=False, verbosity="ERROR")
        task_dict = get_task_dict(list(outputs), manager)
        for task in task_dict.values():
            _no_llm_judge(task)
        return evaluator.evaluate(lm=_replay_class()(outputs), task_dict=task_dict, log_samples=True,
                                  bootstrap_iters=0, verbosity="ERROR", process_docs_parallel=1)


def save_samples(result: dict, out: Path, model_name: str = "replay") -> dict[str, Path]:
    """Write result's samples as `lmms-eval --log_samples --output_path OUT` does (its EvaluationTracker);
    returns {task: samples file}."""
    from lmms_eval.loggers import EvaluationTracker

    tracker = EvaluationTracker(output_path=str(out))
    tracker.general_config_tracker.model_name_sanitized = model_name
    samples = result.pop("samples")
    tracker.save_results_aggregated(results=result, samples=samples, datetime_str="2026-01-01T00-00-00")
    for task in result["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return {task: next((out / model_name).glob(f"*_samples_{task}.jsonl")) for task in result["configs"]}


def replayed_outputs(rows: list[dict], ids) -> list[str]:
    """What lmms-eval is handed for each of `ids`, in order, given our prediction rows: a row's output, or its
    `answer` field when it has no output; "" where there is no row (lmms-eval answers every document)."""
    given = {r["id"]: r.get("output", r.get("answer")) for r in rows}
    return [given.get(i) or "" for i in ids]


def run_official(tmp: Path, tasks: dict[str, tuple[Path, list[dict], list]], hf_home: Path | None = None) -> dict:
    """Run lmms-eval's own tasks on local documents: `tasks` {name: (official yaml, docs, outputs aligned with docs)}
    (a task YAML that includes the official one, pointed at docs); returns {"results": {name: {metric: value}},
    "samples": {name: [logged sample rows]}}."""
    task_dir = tmp / "lmms_tasks"
    task_dir.mkdir(parents=True, exist_ok=True)
    for name, (official, docs, _) in tasks.items():
        docs_file = task_dir / f"{name}.jsonl"
        docs_file.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
        config = {"include": str(official), "task": name, "dataset_path": "json", "dataset_name": None,
                  "dataset_kwargs": {"data_files": {"test": str(docs_file)}}, "test_split": "test"}
        (task_dir / f"{name}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    out = evaluate_tasks(task_dir, {name: outputs for name, (_, _, outputs) in tasks.items()},
                         hf_home or tmp / "hf_home")
    results = {name: {k.split(",")[0]: v for k, v in r.items() if k.endswith(",none")}
               for name, r in out["results"].items()}
    return {"results": results, "samples": out.get("samples", {})}
