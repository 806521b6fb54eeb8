"""`crpo <command>`: the command line. Imports are lazy so that `crpo --help` is instant.

Every handler imports its module inside the function; parsing arguments never touches torch, transformers or av.
"""
from __future__ import annotations

import argparse
import json
import sys

DESCRIPTION = """Counterfactual Relational Policy Optimization for video LLMs.

Every training question is rolled out on the original clip and on a counterfactual clip (mirrored and/or
time-reversed); a Counterfactual Relation Reward asks for the answer the transform leads to, read from the question
text (left becomes right under a mirror; a static answer stays). Commands cover the synthetic world, data tools,
the trainer, audits and paired benchmarks."""


def _synth(a):
    from crpo.synth import generate
    generate(out=a.out, train=a.train, bench_pairs=a.bench_pairs, bias=a.bias, seed=a.seed, preview=a.preview,
             num_frames=a.num_frames, size=a.size, object_size=a.object_size, speed=a.speed,
             categories=a.categories.split(",") if a.categories else None,
             kinds=a.kinds.split(",") if a.kinds else None, null_share=a.null_share)


def _route(a):
    from crpo.routing.llm import LLMError, class_counts, route_classes, route_to_cache
    try:
        if a.llm:
            if not a.cache:
                print("error: --llm needs --cache OUT.jsonl (the file its decisions go to)", file=sys.stderr)
                return 2
            summary = route_to_cache(a.file, a.llm, a.cache, model=a.llm_model, batch_size=a.batch_size,
                                     max_new_tokens=a.max_new_tokens)
            print(json.dumps(summary))
            return 0
        rows = route_classes(a.file, a.cache)
        if a.summary:
            print(json.dumps(class_counts(row["class"] for row in rows)))
            return 0
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    except LLMError as e:  # unreachable endpoint, HTTP error, bad model directory: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `crpo route FILE | head`: the reader has all it wanted
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0


def _data_import(a):
    from crpo.data.importers import import_file
    n = import_file(a.format, a.src, a.out, video_root=a.video_root)
    print(f"wrote {n} items to {a.out}", file=sys.stderr)


def _data_check(a):
    from crpo.data.check import check_file
    from crpo.models.local import token_counter
    return check_file(a.file, a.video_root, strict=a.strict, out=a.out, max_text_tokens=a.max_text_tokens,
                      count_tokens=token_counter(a.model))


def _model_tiny(a):
    from crpo.models.tiny import build_tiny_model
    build_tiny_model(a.arch, a.out, seed=a.seed)
    print(f"wrote tiny {a.arch} model to {a.out}", file=sys.stderr)


def _train(a):
    from crpo.training.trainer import main as train_main
    train_main(a.config, a.overrides)


def _sft(a):
    from crpo.training.sft import main as sft_main
    sft_main(a.config, a.overrides)


def _bench_build(a):
    from crpo.bench.builder import build_bench
    build_bench(a.items, a.video_root, a.out, materialize=a.materialize or bool(a.lmms_eval_task))
    if a.lmms_eval_task:
        from pathlib import Path

        from crpo.bench.lmms_task import write_lmms_task
        name = write_lmms_task(Path(a.out) / "bench.jsonl", a.video_root, a.lmms_eval_task, name=a.lmms_eval_task_name)
        print(f"wrote lmms-eval task '{name}' to {a.lmms_eval_task} (run it with --include_path {a.lmms_eval_task})",
              file=sys.stderr)


def _run_settings(a) -> dict:
    """Frames, pixels, answer format, max new tokens and dtype: the command line's, else those of the run that
    trained --model (RUN/config.json), else the defaults; printed when a run's config supplied them."""
    from crpo.bench.evaluate import RUN_KEYS, run_defaults
    defaults, source = run_defaults(a.model)
    settings = {k: getattr(a, k) if getattr(a, k) is not None else defaults[k] for k in RUN_KEYS}
    if source is not None:
        print(f"settings from {source} (command line wins): " + ", ".join(f"{k}={v}" for k, v in settings.items()),
              file=sys.stderr)
    return settings


def _eval(a):
    from crpo.bench.evaluate import evaluate
    settings = _run_settings(a)
    from crpo.parallel.distributed import run_failing_fast  # several processes: one failing stops all
    metrics = run_failing_fast(evaluate, model=a.model, bench=a.bench, fmt=a.format, video_root=a.video_root,
                               out=a.out, batch_size=a.batch_size, limit=a.limit, null_option=a.null_option,
                               device=a.device, max_text_tokens=a.max_text_tokens, **settings)
    if metrics:  # the main process: the metrics on stdout, as `crpo score` prints them (also in OUT/metrics.json)
        print(json.dumps(metrics))


def _audit(a):
    from crpo.bench.audit import audit
    settings = _run_settings(a)
    from crpo.parallel.distributed import run_failing_fast  # several processes: one failing stops all
    result = run_failing_fast(audit, model=a.model, items=a.items, video_root=a.video_root, out=a.out,
                              batch_size=a.batch_size, limit=a.limit, device=a.device,
                              max_text_tokens=a.max_text_tokens, **settings)
    if result:  # the main process: the overall numbers on stdout (all of them in OUT/audit.json)
        print(json.dumps(result["overall"]))


def _score(a):
    from crpo.bench.score import score_file
    metrics = score_file(a.format, a.data, a.predictions, quirks=a.quirk, lmms_eval_samples=a.lmms_eval_samples)
    if a.out:  # OUT/metrics.json, the file `crpo report` reads (as `crpo eval --out` writes it)
        from pathlib import Path
        out = Path(a.out)
        if out.exists() and not out.is_dir():
            from crpo.data.items import DataError
            raise DataError(f"--out {out}: is a file, not a directory")
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(json.dumps(metrics, indent=None))


def _report(a):
    from crpo.bench.report import write_report
    write_report(a.runs, a.out)


def _demo(a):
    import os
    # The demo builds or ships every model it uses: it must never reach a hub, and its subprocesses inherit this
    # (set before transformers / huggingface_hub are imported, which read it once).
    os.environ["HF_HUB_OFFLINE"] = "1"
    from crpo.demo.pipeline import run_demo
    run_demo(out=a.out, quick=a.quick, seeds=a.seeds, pretrain_base=a.pretrain_base)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crpo", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="<command>")

    s = sub.add_parser("synth", help="generate the synthetic video world (train split + paired bench)",
                       description="Procedural textured clips with known ground truth for motion, rotation, "
                       "reversible dynamics, event order and static questions, written as mp4. train.jsonl carries a "
                       "controllable colour shortcut; bench.jsonl is balanced, cue-free and paired.")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--train", type=int, default=200, help="number of training items")
    s.add_argument("--bench-pairs", type=int, default=100, help="number of bench pairs (item + twin)")
    s.add_argument("--bias", type=float, default=0.9,
                   help="probability that the static colour cue predicts the dynamic answer in train items")
    s.add_argument("--null-share", type=float, default=0.0,
                   help="share of dynamic training items (3+ options) whose options leave the reversed answer out, "
                        "so that 'None of the above' is its counterfactual answer")
    s.add_argument("--seed", type=int, default=0, help="random seed; output (files included) is deterministic given it")
    s.add_argument("--preview", action="store_true", help="also write preview.png, a contact sheet of a few clips")
    s.add_argument("--num-frames", type=int, default=8, help="frames per clip (even)")
    s.add_argument("--size", type=int, default=64, help="frame height and width in pixels")
    s.add_argument("--object-size", type=int, default=32, help="side of the textured object in pixels")
    s.add_argument("--speed", type=float, default=3.0, help="motion in pixels per frame")
    s.add_argument("--categories", default=None, help="comma-separated categories to draw (default: all)")
    s.add_argument("--kinds", default=None, help="comma-separated kinds of scene to keep within those categories "
                   "(stripes, checks, slide, pinwheel, grow, fill, fade, size, appear, recolour, colour, hue, shape, count, relative, side)")
    s.set_defaults(func=_synth)

    s = sub.add_parser("route", help="print the class, counterfactual relation and answer of every item "
                       "(never opens videos); --llm: classify with an LLM into a cache that training reads",
                       description="Without --llm: one JSON row per item (category, relation and answer per "
                       "transform, the transform chosen, and the paper's class spatial | temporal | spatiotemporal "
                       "| static | unknown with the transform that class gets). Which one is used: `crpo train` "
                       "(counterfactual=auto, the default) rolls the counterfactual branch out on class_transform "
                       "(the row's train_transform; None, with train_skip saying why, when it gets no branch); "
                       "`transform` is the lexicon's own pick, which `crpo bench build` uses for twins and "
                       "grpo_cf_aug falls back to when the class transform gives no answer. With --llm: a local "
                       "chat model "
                       "directory or an OpenAI-compatible URL classifies every item not yet in --cache, appending "
                       "one row per item; an unparseable reply falls back to the lexicon and is counted.")
    s.add_argument("file", help="items JSONL")
    s.add_argument("--summary", action="store_true", help="print only the number of items per class")
    s.add_argument("--llm", metavar="MODEL_DIR_OR_URL", default=None,
                   help="local transformers chat model directory, or http(s)://host:port of an OpenAI-compatible "
                        "server (e.g. `vllm serve`)")
    s.add_argument("--cache", metavar="OUT.jsonl", default=None,
                   help="route cache: written (resumably) with --llm; without --llm its decisions override the "
                        "lexicon in the printed classes")
    s.add_argument("--llm-model", metavar="NAME", default=None,
                   help="model name sent to the endpoint (default: the first one its /v1/models lists)")
    s.add_argument("--batch-size", metavar="N", type=int, default=8, help="items per generate call / parallel requests")
    s.add_argument("--max-new-tokens", metavar="N", type=int, default=1024,
                   help="reply length limit (reasoning included)")
    s.set_defaults(func=_route)

    data = sub.add_parser("data", help="import peer formats into the item schema, or check an items file")
    dsub = data.add_subparsers(dest="data_command", metavar="<data command>", required=True)
    s = dsub.add_parser("import", help="convert videor1|mvbench|timeblind|tempcompass|vinoground|mvp|vitatecs|"
                                       "dybench|verl to items JSONL")
    s.add_argument("--format", required=True, choices=["videor1", "mvbench", "timeblind", "tempcompass", "vinoground",
                                                       "mvp", "vitatecs", "dybench", "verl"],
                   help="mvp, vitatecs, dybench: a file or a folder of the dataset's files (DyBench: its three "
                        "per-category JSON files); verl: verl / EasyR1 parquet rows (needs pyarrow)")
    s.add_argument("src", help="source annotation file (mvp, vitatecs, dybench: or a folder of them)")
    s.add_argument("--out", required=True, help="items JSONL to write")
    s.add_argument("--video-root", default=None, help="strip this prefix from absolute video paths")
    s.set_defaults(func=_data_import)
    s = dsub.add_parser("check", help="report every bad row (file, line, reason); keep the good ones")
    s.add_argument("file", help="items JSONL")
    s.add_argument("--video-root", required=True, help="directory the item video paths are relative to")
    s.add_argument("--out", default=None, help="write the good rows here")
    s.add_argument("--strict", action="store_true", help="exit non-zero when any row is bad")
    s.add_argument("--max-text-tokens", type=int, default=8192, metavar="N",
                   help="a row whose question and options are longer than N tokens is bad (0 = no limit); "
                        "counted with --model's tokenizer, else estimated")
    s.add_argument("--model", default=None, metavar="DIR", help="local model directory whose tokenizer counts tokens")
    s.set_defaults(func=_data_check)

    model = sub.add_parser("model", help="model utilities")
    msub = model.add_subparsers(dest="model_command", metavar="<model command>", required=True)
    s = msub.add_parser("tiny", help="build a tiny random-initialised Qwen-VL with a locally trained tokenizer")
    s.add_argument("--arch", choices=["qwen3_vl", "qwen2_5_vl"], default="qwen3_vl")
    s.add_argument("--out", required=True, help="directory to save_pretrained into")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_model_tiny)

    from crpo.training.config import SFTConfig, TrainConfig, describe  # dataclasses and yaml only: still instant
    commands = (("train", _train, "RL post-training: crpo | grpo | grpo_cf_aug | tgrpo | arrowrl", TrainConfig),
                ("sft", _sft, "supervised warm start on items", SFTConfig))
    for name, func, what, cls in commands:
        s = sub.add_parser(name, help=what, description=f"{what}. Config keys come from a YAML file and "
                           "key=value overrides; an unknown key is an error listing close matches.",
                           epilog="config keys (key = default: help):\n" + describe(cls),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        s.add_argument("--config", default=None, help="YAML config file")
        s.add_argument("overrides", nargs="*", help="key=value overrides, applied after the file")
        s.set_defaults(func=func)

    bench = sub.add_parser("bench", help="paired benchmarks")
    bsub = bench.add_subparsers(dest="bench_command", metavar="<bench command>", required=True)
    s = bsub.add_parser("build", help="turn an annotated video-QA set into a DyBench-style paired benchmark")
    s.add_argument("--items", required=True, help="items JSONL")
    s.add_argument("--video-root", required=True)
    s.add_argument("--out", required=True, help="output directory (bench.jsonl, twin videos with --materialize)")
    s.add_argument("--materialize", action="store_true", help="write twin videos instead of transforming at load time")
    s.add_argument("--lmms-eval-task", metavar="DIR", default=None,
                   help="also write the bench as an lmms-eval task (YAML, utils.py, docs) into DIR, to run with "
                        "`lmms-eval --include_path DIR --log_samples` and score with `crpo score --lmms-eval-samples`; "
                        "implies --materialize (lmms-eval models read video files)")
    s.add_argument("--lmms-eval-task-name", metavar="NAME", default=None,
                   help="the lmms-eval task name (default: crpo_ + the --out folder's name)")
    s.set_defaults(func=_bench_build)

    s = sub.add_parser("eval", help="batched greedy evaluation of a model on a benchmark (resumable; several "
                                    "processes under accelerate launch)",
                       description="Frames, pixels, answer format, max new tokens and dtype default to the training "
                       "run's (RUN/config.json beside RUN/final); `accelerate launch --num_processes N -m crpo.cli "
                       "eval ...` shards the items by pair over N processes and merges their predictions. The "
                       "metrics JSON goes to stdout and OUT/metrics.json. OUT/eval_run.json records the model and "
                       "settings: a rerun resumes only the same evaluation (another one is an error: use another "
                       "--out); OUT/eval.lock stops a second eval on the same --out.")
    s.add_argument("--model", required=True, help="local model directory")
    s.add_argument("--bench", required=True, help="benchmark JSONL")
    s.add_argument("--format", default="dybench", choices=["dybench", "timeblind", "tempcompass", "vinoground", "mvbench"])
    s.add_argument("--video-root", required=True)
    s.add_argument("--out", required=True, help="output directory (predictions.jsonl, metrics.json)")
    _add_model_run_options(s, "evaluate", batch_help="items per batch", template_help="dybench prompt template")
    s.add_argument("--null-option", action="store_true",
                   help="append 'None of the above' to multiple-choice items, as crpo training shows them (default: "
                        "each benchmark's own options)")
    s.set_defaults(func=_eval)

    from crpo.bench.quirks import describe as describe_quirks  # a table of strings: still instant
    s = sub.add_parser("score", help="score predictions against a benchmark; prints one JSON object (no model)",
                       description="Each peer format applies its benchmark's official answer parser and "
                       "aggregation to the raw model output (docs/scorers.md). --quirk switches a reproduced "
                       "official quirk.", epilog="quirks (format.name (default): what):\n" + describe_quirks(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    from crpo.bench.score import FORMATS  # the dispatcher's own list (light imports: --help stays instant)
    s.add_argument("--format", required=True, choices=FORMATS)
    s.add_argument("--data", required=True, help="benchmark data: our items JSONL or the benchmark's own file/folder")
    s.add_argument("--predictions", default=None, help="predictions: our JSONL or the benchmark's own file/folder")
    s.add_argument("--lmms-eval-samples", metavar="FILE", nargs="+", default=None,
                   help="dybench: read the outputs from lmms-eval --log_samples file(s) of a task written by "
                        "`crpo bench build --lmms-eval-task`, instead of --predictions")
    s.add_argument("--quirk", metavar="NAME=on|off", action="append", default=None,
                   help="switch one official-code quirk of the format on or off (repeatable; listed below)")
    s.add_argument("--out", metavar="DIR", default=None,
                   help="also write the metrics to DIR/metrics.json (what `crpo report` reads)")
    s.set_defaults(func=_score)

    s = sub.add_parser("audit", help="how much a model looks at the video: answers and answer distributions on "
                                     "each item's original, mirrored and reversed clip (any video QA set, no twins)",
                       description="Per item: the router's question class, transform and relation (and the other "
                       "transform as a control), greedy answers and the distribution over the choices on the "
                       "original clip and on counterfactual clips made on the fly. Per category, per class and "
                       "overall: accuracy, change rate (dynamic items), keep rate (static items), P-Acc where the "
                       "text tells the counterfactual answer, KL divergence of the answer distributions (ArrowRL's "
                       "temporal divergence score under reversal). Writes OUT/audit.json, audit.md, audit.png, "
                       "records.jsonl; resumable; `accelerate launch -m crpo.cli audit ...` shards the items; "
                       "`crpo report AUDIT1 AUDIT2 --out DIR` compares audits.")
    s.add_argument("--model", required=True, help="local model directory")
    s.add_argument("--items", required=True, help="items JSONL (any video QA set; no twins needed)")
    s.add_argument("--video-root", required=True)
    s.add_argument("--out", required=True, help="output directory")
    _add_model_run_options(s, "audit", batch_help="items per batch (3 clips each)", template_help="prompt template")
    s.set_defaults(func=_audit)

    s = sub.add_parser("report", help="markdown table + PNG chart of several evaluation runs (or audits) side by "
                                      "side")
    s.add_argument("runs", nargs="+", help="run directories holding metrics.json (`crpo eval`), or audit folders "
                                           "holding audit.json (`crpo audit`)")
    s.add_argument("--out", required=True)
    s.set_defaults(func=_report)

    s = sub.add_parser("demo", help="the paper's effect in miniature on a CPU (what `make demo` runs)")
    s.add_argument("--out", default="runs/demo")
    s.add_argument("--quick", action="store_true",
                   help="one seed, grpo and crpo only, a 60-pair bench (3 min 17 s on 2 idle cores; the full demo: 3 "
                        "seeds, all five algorithms, 120 pairs)")
    s.add_argument("--seeds", type=int, default=3, help="worlds, starts and RL runs (each seed its own)")
    s.add_argument("--pretrain-base", action="store_true",
                   help="pre-train each seed's own base model on unbiased clips (about 5 min a seed) instead of "
                        "loading the shipped one (crpo/assets/demo_base, which is seed 0 of this)")
    s.set_defaults(func=_demo)
    return p


def _print_error(message: str) -> None:
    """`message` on a line of its own on stderr, even while a progress bar (tqdm, drawn without a newline) is on
    screen: tqdm.write clears the bar first, where a plain print would append to the bar's line."""
    if "tqdm" in sys.modules:
        from tqdm import tqdm
        tqdm.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr)


def _add_model_run_options(s, verb: str, batch_help: str, template_help: str) -> None:
    """The options `crpo eval` and `crpo audit` share: how the model runs (defaults: the training run's
    config.json, crpo/bench/evaluate.py run_defaults) and which items, checked before the model loads."""
    s.add_argument("--batch-size", type=int, default=8, help=batch_help)
    s.add_argument("--num-frames", type=int, default=None, help="frames per clip (default: the run's, else 8)")
    s.add_argument("--max-pixels", type=int, default=None, help="per-frame pixel budget (default: the run's, else "
                                                                 "0 = source size)")
    s.add_argument("--max-new-tokens", type=int, default=None, help="default: the run's, else 64")
    s.add_argument("--answer-format", choices=["answer", "think"], default=None,
                   help=f"{template_help} (default: the run's, else answer)")
    s.add_argument("--dtype", choices=["float32", "bfloat16"], default=None, help="default: the run's, else float32")
    s.add_argument("--device", default=None, help="e.g. cpu, cuda, cuda:1 (default: the process's accelerator "
                                                  "under accelerate launch, else cuda if available, else cpu)")
    s.add_argument("--limit", type=int, default=None, help=f"{verb} only the first N items")
    s.add_argument("--max-text-tokens", type=int, default=8192, metavar="N",
                   help="stop before the model loads when an item's prompt text (without the video) is longer than "
                        "N tokens of the model's tokenizer, naming the item (0 = no limit)")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from crpo.data.items import DataError
    from crpo.training.config import ConfigError
    try:
        rc = args.func(args)
    except (DataError, ConfigError) as e:  # bad input: one line naming the file, row or key, and the reason
        _print_error(f"error: {e}")
        return 2
    except OSError as e:
        if e.filename is None:  # not about a path the user gave (a socket, a library): keep the traceback
            raise
        # an output folder that is a file or unwritable, a disk that is full: the path and the reason
        from pathlib import Path
        reason = e.strerror or str(e)
        if isinstance(e, (FileExistsError, NotADirectoryError)):
            blocker = next((p for p in (Path(e.filename), *Path(e.filename).parents) if p.is_file()), None)
            if blocker is not None:
                reason = f"{blocker} is a file, where a directory is needed"
        _print_error(f"error: {e.filename}: {reason}")
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
