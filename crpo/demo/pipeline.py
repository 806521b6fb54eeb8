"""`crpo demo`: the paper's effect in miniature, on a CPU, end to end (what `make demo` runs).

    crpo demo --out runs/demo            # 3 seeds, five algorithms
    crpo demo --quick --out runs/quick   # 1 seed, grpo and crpo, a smaller bench

Pipeline (every stage is skipped when its output exists, and RL runs resume from their checkpoints, so a
killed demo picks up where it stopped):

1. world: a miniature DyBench (moving direction 4-way, reversible dynamics 3-way, event order 2-way, and the
   colour question as the static category). A biased RL training split per seed (in each dynamic category the
   object's colour and a skewed answer prior predict the answer in `bias` of the items; `null_share` of them list
   options without the reversed answer, so "None of the above" is the counterfactual answer there) and, from a
   seed never used while tuning the demo, a balanced, cue-free, paired bench (every clip has a materialised
   counterfactual twin). Clips are lossless, so the same seed gives the same files.
2. base model: the shipped one (`crpo/assets/demo_base`, built by `crpo.demo.base`), or with `pretrain_base`
   each seed's own: a tiny random Qwen3-VL pre-trained on unbiased clips to see the dynamics (asked as code words),
   to answer the colour question, then to answer every category as the demo asks it. See crpo/demo/base.py.
3. start: a short supervised stage on *unbiased* clips of every category, asked as RL and the bench ask them;
   `pick_start` chooses a checkpoint by its dev pairs: a partially sensitive policy that still samples varied
   answers, as a pretrained video LLM is (Qwen3-VL-8B: DyBench P-Acc 50.4), not a deterministic shortcut.
4. five RL runs with the same rollout budget (2G completions per item) on the biased split: grpo, crpo,
   grpo_cf_aug, tgrpo, arrowrl (`algorithms`; --quick runs grpo and crpo). crpo runs the shipped defaults
   (TrainConfig's reward, null option and counterfactual: each item's class and transform come from the router
   reading its text); only grpo_cf_aug is given the world's counterfactual answers (WORLD/train_cf.jsonl). The
   paired bench is evaluated every `eval_steps` (OUTPUT_DIR/evals.jsonl).
5. the final bench metrics of the start (step 0) and of each run (its last step), taken from those evaluations
   -> OUT/results.json (per-seed numbers, mean, std, paired 95% CIs of crpo minus every other run),
   OUT/report.md, OUT/report.png (one panel per category against RL step; crpo/demo/report.py). Wall times go to
   OUT/timings.json, so that two runs of the same demo write identical results.json.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from crpo.data.items import DataError
from crpo.demo.base import DYNAMIC_CATEGORIES, WORLD, with_null_option

ALGORITHMS = ("grpo", "crpo", "grpo_cf_aug", "tgrpo", "arrowrl")  # run in this order: the two that matter first
# The bench of the demo is drawn from this seed; tuning used other seeds only (see docs/demo.md).
EVAL_SEED = 20261123
# The colours that give a dynamic answer away in the biased split (option i of every dynamic question): none of
# them is an answer of the colour question (red, blue, green, yellow), whose objects never wear them. With the
# colour question's own letters as cues (red = A) a tiny model's answer head tied "red" to "A" for every question,
# so any algorithm that broke the shortcut broke the colour answers with it (static accuracy 0.80 -> 0.35-0.53
# under crpo with red/blue cues, development seeds of the previous round).
SHORTCUT_COLOURS = ("orange", "purple", "cyan", "pink")


@dataclass
class DemoSettings:
    train_items: int = 400          # biased RL training split
    bench_pairs: int = 120          # pairs in the evaluation bench (30 per category)
    bias: float = 0.9               # share of each dynamic category's training items whose colour gives the answer away
    null_share: float = 0.25        # share of those (3+ options) that leave the reversed answer out of the options
    start_items: int = 200          # unbiased clips of the start stage, every category in turn
    start_max_steps: int = 50       # a checkpoint every start_check_steps; `pick_start` chooses the start
    start_check_steps: int = 5
    start_band: tuple = (0.35, 0.65)  # dynamic-pair P-Acc on the start world's own dev pairs (never the bench)
    start_dev_pairs: int = 100
    start_null_share: float = 0.5   # start items shown with "None of the above" appended (crpo's prompts with null_option on)
    start_lr: float = 1e-3
    rl_steps: int = 80
    eval_steps: int = 20            # bench evaluations during RL (the curves of report.png)
    num_generations: int = 8        # G per branch
    prompts_per_step: int = 4
    # lr 1e-3 (the earlier rounds') made every run a random walk: static accuracy fell 10-28 points under every
    # algorithm; 5e-4 for twice the steps keeps it. KL 0.05 rather than 0.2 lets grpo follow its shortcut and
    # crpo its counterfactual branch: crpo - grpo +16 / +11 / +2 on 3 development seeds, +4 / +3 / -6 at 0.2.
    rl_lr: float = 5e-4
    temperature: float = 1.5        # of rollouts and of their log-probs: keeps the policy exploring
    kl_beta: float = 0.05           # KL penalty to the start, for every algorithm
    bench_seed: int = EVAL_SEED
    workers: int = 2                # RL runs side by side (processes of one thread each)
    first_seed: int = 0             # seeds first_seed.. of the worlds and runs (benchmarks/demo_sweep.py: 100..)
    prior: float = 0.9              # letter prior of the biased split (answers lean to A; 0 = balanced letters)
    algorithms: tuple = ALGORITHMS  # the RL runs, in this order (crpo is the one every other is compared with)


# --quick: one seed, the two runs that matter at the full schedule, a smaller bench (3 min 17 s on 2 idle cores).
QUICK = DemoSettings(bench_pairs=60, start_check_steps=10, algorithms=("grpo", "crpo"))


def _log(msg: str) -> None:
    print(f"\n== crpo demo: {msg}", flush=True)


def _timed(path: Path, fn) -> float:
    """Run fn once: its wall time is stored next to its output so resumed demos report honest totals."""
    marker = path / "wall_seconds.json"
    if marker.exists():
        return json.loads(marker.read_text())["seconds"]
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    path.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"seconds": seconds}))
    return seconds


def start_set(world: Path, n: int, seed: int, null_share: float = 0.0) -> Path:
    """WORLD/start.jsonl: the first n unbiased items of the world (its categories in turn, asked by letter as RL
    and the bench ask them), shuffled; `null_share` of them with "None of the above" appended to their options."""
    mix = [json.loads(line) for line in (world / "train.jsonl").read_text().splitlines()][:n]
    rng = random.Random(seed)
    rng.shuffle(mix)
    mix = with_null_option(mix, null_share, rng)
    path = world / "start.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in mix))
    return path


def pick_start(start: Path, dev_bench: Path, s: DemoSettings) -> Path:
    """The checkpoint of the start stage that is partially sensitive (dynamic-pair P-Acc on the start world's dev
    pairs inside `start_band`) and answers the colour question best; if none is in the band, the closest to it.
    Every checkpoint's dev metrics and the choice are written to START/chosen.json."""
    from crpo.bench.evaluate import evaluate
    chosen = start / "chosen.json"
    if chosen.exists():
        return Path(json.loads(chosen.read_text())["path"])
    low, high = s.start_band
    tried = []
    for step in range(s.start_check_steps, s.start_max_steps + 1, s.start_check_steps):
        ckpt = start / (f"checkpoint-{step}" if step < s.start_max_steps else "final")
        m = evaluate(model=str(ckpt), bench=str(dev_bench / "bench.jsonl"), fmt="dybench", video_root=str(dev_bench),
                     out=str(start / "dev_eval" / f"step-{step}"), batch_size=64, max_new_tokens=8)
        tried.append((step, ckpt, m["p_acc_dynamic"], m["static_acc"]))

    def distance(t):  # a dev set without dynamic pairs (toy sizes) measures nothing: as far as can be
        return max(low - t[2], t[2] - high, 0.0) if t[2] is not None else 1.0

    step, ckpt, dyn, static = min(tried, key=lambda t: (distance(t), -(t[3] or 0.0)))
    chosen.write_text(json.dumps({"step": step, "path": str(ckpt), "dev_p_acc_dynamic": dyn, "dev_static_acc": static,
                                  "tried": [(t[0], t[2], t[3]) for t in tried]}, indent=1))
    return ckpt


def counterfactual_labels(train: Path) -> Path:
    """TRAIN's folder/train_cf.jsonl: the items with the world's counterfactual answer under the transform the router
    picks for their class, as explicit annotations (what grpo_cf_aug trains its counterfactual branch on). Items
    whose counterfactual answer is not among their options get none: cf-aug trains them on originals only."""
    from crpo.data.items import LETTERS, load_items, write_jsonl
    from crpo.routing.classes import CLASS_TRANSFORM, question_class

    labelled = []
    for item in load_items(train):
        transform = CLASS_TRANSFORM.get(question_class(item))
        after = (item.extra.get("counterfactual_answers") or {}).get(transform)
        if after is not None:
            original = item.options[LETTERS.index(item.answer)]
            relation = "same" if after == original else "change"
            item.counterfactual = {transform: {"relation": relation, "answer": LETTERS[item.options.index(after)]}}
        labelled.append(item)
    path = train.parent / "train_cf.jsonl"
    write_jsonl(path, labelled)
    return path


def rl_config(s: DemoSettings, algorithm: str, seed: int, model: Path, train_data: Path, bench: Path, run: Path):
    """The same settings for every algorithm; each keeps TrainConfig's defaults for what makes it itself (crpo's
    reward, null option, counterfactual transform and joint grouping, tgrpo's batch-std scale). grpo_cf_aug reads
    the labelled copy of the training split."""
    from crpo.training.config import TrainConfig
    if algorithm == "grpo_cf_aug":
        train_data = train_data.parent / "train_cf.jsonl"
    return TrainConfig(model=str(model), train_data=str(train_data), output_dir=str(run), algorithm=algorithm,
                       seed=seed, num_generations=s.num_generations, prompts_per_step=s.prompts_per_step,
                       temperature=s.temperature, max_new_tokens=8, max_steps=s.rl_steps, learning_rate=s.rl_lr,
                       beta=s.kl_beta, freeze_vision=False, save_steps=10, resume=True, eval_steps=s.eval_steps,
                       eval_bench=str(bench / "bench.jsonl"), eval_batch_size=64, log_rollouts=True,
                       video_root=str(train_data.parent), log_completions_steps=10, report_to="none")


def final_metrics(evals: Path, step: int, out: Path) -> None:
    """OUT (a metrics.json) from the row of EVALS (a run's evals.jsonl) at `step`."""
    rows = {r["step"]: r for r in map(json.loads, evals.read_text().splitlines())}
    if step not in rows:
        raise DataError(f"{evals}: no bench evaluation at step {step} (the run ended early or eval_steps changed)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({k: v for k, v in rows[step].items() if k != "step"}, indent=1))


def _one_thread():
    import torch
    torch.set_num_threads(1)


def _train_timed(cfg) -> float:
    from crpo.training.trainer import train
    _log(f"RL with {cfg.algorithm}, seed {cfg.seed} -> {cfg.output_dir}")
    return _timed(Path(cfg.output_dir), lambda: train(cfg))


def run_demo(out="runs/demo", quick=False, seeds=3, settings: DemoSettings | None = None,
             pretrain_base: bool = False) -> dict:
    from crpo.demo.base import SHIPPED_BASE
    from crpo.demo.base import pretrain_base as pretrain_base_model
    from crpo.demo.report import summarise
    from crpo.synth import generate
    from crpo.training.sft import SFTConfig, sft
    t0 = time.perf_counter()
    s = settings or (QUICK if quick else DemoSettings())
    seeds = 1 if quick else seeds
    if "crpo" not in s.algorithms or set(s.algorithms) - set(ALGORITHMS):
        raise ValueError(f"DemoSettings.algorithms {list(s.algorithms)}: must include crpo (every other run is "
                         f"compared with it) and name only {', '.join(ALGORITHMS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "settings.json").write_text(json.dumps(asdict(s), indent=1))
    bench = out / "bench"
    if not (bench / "bench.jsonl").exists():
        _log(f"bench: {s.bench_pairs} pairs from seed {s.bench_seed}")
        generate(bench, train=0, bench_pairs=s.bench_pairs, seed=s.bench_seed, preview=True, **WORLD)

    runs, jobs = {}, []
    for k in range(seeds):
        seed = s.first_seed + k
        root = out / f"seed{k}"
        world, start_world = root / "world", root / "start_world"
        if not (world / "train.jsonl").exists():
            _log(f"seed {seed}: biased training split ({s.train_items} items, bias {s.bias})")
            generate(world, train=s.train_items, bench_pairs=0, bias={c: s.bias for c in DYNAMIC_CATEGORIES},
                     prior=s.prior, seed=1000 + seed, cue_colours=SHORTCUT_COLOURS, null_share=s.null_share, **WORLD)
            counterfactual_labels(world / "train.jsonl")
        if not (start_world / "bench.jsonl").exists():  # its dev pairs pick the start; the bench is never used
            generate(start_world, train=2 * s.start_items, bench_pairs=s.start_dev_pairs, bias=0.0, seed=3000 + seed,
                     **WORLD)
        base, start = SHIPPED_BASE, root / "start"
        if pretrain_base:
            _log(f"seed {seed}: base model pre-training on unbiased clips")
            base = pretrain_base_model(root, seed, WORLD)
        if not (start / "final").exists():
            _log(f"seed {seed}: start, up to {s.start_max_steps} supervised steps on unbiased items")
            config = SFTConfig(model=str(base), output_dir=str(start), seed=seed, max_steps=s.start_max_steps,
                               train_data=str(start_set(start_world, s.start_items, seed, s.start_null_share)),
                               learning_rate=s.start_lr, save_steps=s.start_check_steps)
            _timed(start, lambda: sft(config))
        start_model = pick_start(start, start_world, s)
        runs[seed] = {"start": start}
        for algorithm in s.algorithms:
            run = root / algorithm
            runs[seed][algorithm] = run
            if not (run / "final").exists():
                jobs.append(rl_config(s, algorithm, seed, start_model, world / "train.jsonl", bench, run))
    # The RL runs are independent: `workers` processes of one thread each (a tiny model gains nothing from two
    # threads, and two runs side by side use both cores).
    if jobs:
        _log(f"{len(jobs)} RL runs of {s.rl_steps} steps, {s.workers} at a time")
        if s.workers > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor
            with ProcessPoolExecutor(s.workers, mp_context=mp.get_context("spawn"), initializer=_one_thread) as pool:
                list(pool.map(_train_timed, jobs))
        else:
            for cfg in jobs:
                _train_timed(cfg)
    # Final metrics come from the bench evaluations the RL runs already made (`eval_steps`): the last row is the
    # final weights, and every run's step-0 row is the start (re-evaluating the saved models gave identical
    # metrics on all 9 runs checked, so a second pass would only repeat the work).
    for seed_runs in runs.values():
        for name, run in seed_runs.items():
            source, step = (seed_runs[s.algorithms[0]], 0) if name == "start" else (run, s.rl_steps)
            final_metrics(source / "evals.jsonl", step, run / "eval" / "metrics.json")
    notes = ["grpo_cf_aug is trained with the counterfactual answers of the synthetic world (labels); crpo runs "
             "the shipped defaults: its counterfactual answers are what the router reads from each question's "
             "text (\"None of the above\" where the options leave the transformed answer out).",
             "start: the RL starting point (the shipped base + the unbiased start stage); "
             "start_answer_entropy_bits in results.json: entropy of its answers at RL step 1."]
    results = summarise(out, seeds, ("start",) + s.algorithms, s.algorithms, notes, DYNAMIC_CATEGORIES)
    walls = {f"seed{k}/{name}": json.loads(p.read_text())["seconds"] for k in range(seeds) for name in
             ("start",) + s.algorithms if (p := out / f"seed{k}" / name / "wall_seconds.json").exists()}
    (out / "timings.json").write_text(json.dumps({"this_call_seconds": time.perf_counter() - t0,
                                                  "stage_seconds": walls}, indent=1))
    _log(f"done: {out / 'report.md'}")
    print((out / "report.md").read_text())
    return results
