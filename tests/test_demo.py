"""`crpo demo` end to end at toy scale: every stage runs for real (synth, tiny model, the start stage, five RL runs
with evaluation during RL, eval), results.json holds per-seed numbers, mean/std and paired CIs per category, and a
second call resumes instead of redoing finished work. The statistics' pure functions against known values."""
import dataclasses
import json
import math
import shutil

import pytest
from transformers import AutoModelForImageTextToText

from crpo.data.items import LETTERS, load_items
from crpo.demo.base import BY_LETTER, CODE_WORDS, SHIPPED_BASE, BaseRecipe, code_word_item, pretrain_base, pretraining_set
from crpo.demo.pipeline import (ALGORITHMS, DYNAMIC_CATEGORIES, WORLD, DemoSettings, counterfactual_labels, rl_config,
                                run_demo, start_set)
from crpo.demo.report import run_metrics
from crpo.demo.stats import mean_std, paired_difference, t_cdf, t_quantile
from crpo.rl.methods.common import NULL_OPTION
from crpo.synth import generate
from crpo.training.config import TrainConfig

TOY = DemoSettings(train_items=8, bench_pairs=4, start_items=8, start_max_steps=2, start_check_steps=1,
                   start_dev_pairs=4, rl_steps=2, eval_steps=1, num_generations=2, prompts_per_step=2, bench_seed=7)


# ---------------------------------------------------------------------------------------------------------------
# Statistics: pure functions

@pytest.mark.parametrize("df, q975", [(1, 12.706205), (2, 4.302653), (4, 2.776445), (9, 2.262157), (29, 2.045230)])
def test_t_quantile_matches_tables(df, q975):
    assert t_quantile(0.975, df) == pytest.approx(q975, abs=1e-5)
    assert t_quantile(0.025, df) == pytest.approx(-q975, abs=1e-5)
    assert t_cdf(0.0, df) == 0.5


def test_t_cdf_closed_forms():
    assert t_cdf(1.0, 1) == pytest.approx(0.75)                                  # Cauchy: 1/2 + atan(1)/pi
    assert t_cdf(-2.0, 2) == pytest.approx(0.5 - 2 / (2 * math.sqrt(6)))          # df 2: 1/2 + t / (2 sqrt(2 + t^2))


def test_paired_difference_is_a_t_interval_over_seed_differences():
    d = paired_difference([0.7, 0.5, 0.9], [0.3, 0.4, 0.2])
    assert d["per_seed"] == pytest.approx([0.4, 0.1, 0.7]) and d["n"] == 3
    assert d["mean"] == pytest.approx(0.4) and d["std"] == pytest.approx(0.3)       # std with n - 1
    half = 4.302653 * 0.3 / math.sqrt(3)
    assert d["ci95"] == pytest.approx([0.4 - half, 0.4 + half], abs=1e-6)
    # pairing matters: the same scores unpaired would give a wider interval; a shift by a constant a zero-width one
    shifted = paired_difference([0.5, 0.6, 0.9], [0.3, 0.4, 0.7])
    assert shifted["ci95"] == pytest.approx([0.2, 0.2])
    assert paired_difference([0.5], [0.2])["ci95"] is None                           # one seed: no interval
    assert paired_difference([0.5, None], [0.2, 0.1])["n"] == 1                       # a missing seed is dropped
    with pytest.raises(ValueError, match="one value per seed"):
        paired_difference([0.1, 0.2], [0.1])
    assert mean_std([]) is None and mean_std([0.25]) == {"n": 1, "mean": 0.25, "std": 0.0}


def test_run_metrics_average_the_dynamic_categories_equally():
    row = {"static_acc": 0.8, "per_category": {"moving_direction": {"p_acc": 0.5}, "reversible_dynamics": {"p_acc": 0.2},
                                               "event_sequence": {"p_acc": 0.8}, "static_attribute": {"p_acc": 1.0}}}
    m = run_metrics(row, DYNAMIC_CATEGORIES)
    assert m == {"moving_direction": 0.5, "reversible_dynamics": 0.2, "event_sequence": 0.8,
                 "dynamic": pytest.approx(0.5), "static": 0.8}


# ---------------------------------------------------------------------------------------------------------------
# The demo's data and configs

def test_start_set_takes_every_category_by_letter_from_unbiased_clips(tmp_path):
    generate(tmp_path, train=40, bench_pairs=0, bias=0.0, seed=4, **WORLD)
    items = load_items(start_set(tmp_path, 20, seed=0))
    assert len(items) == 20 and {it.category for it in items} == set(WORLD["categories"])
    assert all(it.problem_type == "multiple_choice" for it in items)  # asked by letter, as RL asks
    assert not any(it.extra.get("cue") for it in items)


def test_cf_aug_alone_gets_the_worlds_counterfactual_answers_and_crpo_the_shipped_defaults(tmp_path):
    generate(tmp_path, train=40, bench_pairs=0, bias={c: 0.9 for c in DYNAMIC_CATEGORIES}, seed=4, null_share=0.5,
             **WORLD)
    labelled = load_items(counterfactual_labels(tmp_path / "train.jsonl"))
    plain = load_items(tmp_path / "train.jsonl")
    assert not any(it.counterfactual for it in plain)  # crpo's file: the router reads the text, no labels
    with_label = [it for it in labelled if it.counterfactual]
    unlisted = [it for it in labelled if not it.counterfactual]
    assert with_label and unlisted
    for it in with_label:
        (transform, label), = it.counterfactual.items()
        assert it.options[LETTERS.index(label["answer"])] == it.extra["counterfactual_answers"][transform]
    assert all(None in it.extra["counterfactual_answers"].values() for it in unlisted)
    s, default = DemoSettings(), TrainConfig()
    crpo = rl_config(s, "crpo", 0, tmp_path, tmp_path / "train.jsonl", tmp_path, tmp_path / "run")
    for key in ("crr_mode", "crr_unmapped", "null_option", "counterfactual", "behave_weight", "crr_weight",
                "accuracy_weight", "advantage_grouping", "route_cache"):
        assert getattr(crpo, key) == getattr(default, key), key
    assert crpo.train_data == str(tmp_path / "train.jsonl")
    cf_aug = rl_config(s, "grpo_cf_aug", 0, tmp_path, tmp_path / "train.jsonl", tmp_path, tmp_path / "run")
    assert cf_aug.train_data == str(tmp_path / "train_cf.jsonl")


def test_code_word_items_ask_each_dynamic_category_in_words_no_option_holds(tmp_path):
    generate(tmp_path, train=16, bench_pairs=0, bias=0.0, seed=3, **WORLD)
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    options = {o for r in rows for o in r["options"]}
    for row in rows:
        item = code_word_item(row)
        if row["extra"]["kind"] == "hue":
            assert item == row
            continue
        key, words, _ = CODE_WORDS[row["extra"]["kind"]]
        assert item["problem_type"] == "free_form" and "options" not in item
        assert item["answer"] == words[row["extra"]["truth"][key]] and item["answer"] not in options
    items = load_items(pretraining_set(tmp_path, ("checks", "size"), seed=0))  # the trainer's loader accepts them
    assert {it.extra["kind"] for it in items} == {"checks", "size"}
    # a by-letter stage asks the demo's own questions: the world's rows and letter answers, some with the null
    # option appended (never the answer)
    path = pretraining_set(tmp_path, ("checks", "hue"), seed=0, by_letter=True)
    lettered = {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}
    expected = {r["id"]: r for r in rows if r["extra"]["kind"] in ("checks", "hue")}
    assert lettered.keys() == expected.keys()
    for key, row in lettered.items():
        assert row["options"] in (expected[key]["options"], expected[key]["options"] + [NULL_OPTION])
        assert {**row, "options": expected[key]["options"]} == expected[key]
    assert 0 < sum(r["options"][-1] == NULL_OPTION for r in lettered.values()) < len(lettered)


def test_pretrain_base_runs_every_stage_and_skips_finished_ones(tmp_path):
    recipe = BaseRecipe(items=8, stages=[(("checks",), 2, 1e-3), (("checks", "hue"), 1, 1e-3)])
    final = pretrain_base(tmp_path, seed=0, world_kwargs=WORLD, recipe=recipe)
    assert final == tmp_path / "base_stage2" / "final"
    assert AutoModelForImageTextToText.from_pretrained(final).config.model_type == "qwen3_vl"
    assert len((tmp_path / "base_stage1" / "metrics.jsonl").read_text().splitlines()) == 2
    assert len((tmp_path / "base_stage2" / "metrics.jsonl").read_text().splitlines()) == 1
    stamp = (final / "model.safetensors").stat().st_mtime_ns
    assert pretrain_base(tmp_path, seed=0, world_kwargs=WORLD, recipe=recipe) == final
    assert (final / "model.safetensors").stat().st_mtime_ns == stamp
    # continuing a checkpoint from a later stage (how the shipped base was rebuilt): no random model, no stage 1
    later = BaseRecipe(items=8, stages=recipe.stages, init=str(tmp_path / "base_stage1" / "final"), first_stage=2)
    cont = tmp_path / "continued"
    assert pretrain_base(cont, seed=0, world_kwargs=WORLD, recipe=later) == cont / "base_stage2" / "final"
    assert not (cont / "tiny").exists() and not (cont / "base_stage1").exists()
    # a by-letter stage (as the shipped stage 6) continues the last stage on the world's lettered items
    lettered = BaseRecipe(items=8, stages=[*recipe.stages, (("checks", "hue"), 1, 1e-3, BY_LETTER)],
                          init=str(final), first_stage=3)
    assert pretrain_base(cont, seed=0, world_kwargs=WORLD, recipe=lettered) == cont / "base_stage3" / "final"
    assert (cont / "pretrain_world" / "pretrain-letters-checks-hue.jsonl").exists()


def test_shipped_base_loads():
    model = AutoModelForImageTextToText.from_pretrained(SHIPPED_BASE)
    assert model.config.model_type == "qwen3_vl" and sum(p.numel() for p in model.parameters()) < 2_000_000


def test_demo_runs_every_stage_and_resumes(tmp_path):
    out = tmp_path / "demo"
    results = run_demo(out=out, seeds=2, settings=TOY)
    metrics = [*DYNAMIC_CATEGORIES, "dynamic", "static"]
    assert set(results["runs"]) == {"start", *ALGORITHMS} and results["metrics"] == metrics
    for name, entry in results["runs"].items():
        for m in metrics:
            values = entry["per_seed"][m]
            assert len(values) == 2 and all(v is None or 0.0 <= v <= 1.0 for v in values), (name, m)
        assert entry["summary"]["static"]["n"] == 2
    for a in ALGORITHMS:  # the bench before step 1, after step 1 and at the end
        assert results["runs"][a]["curves"]["dynamic"]["steps"] == [0, 1, 2]
        assert results["runs"][a]["start_answer_entropy_bits"]["mean"] >= 0.0
        assert (out / "seed0" / a / "rollouts.jsonl").exists()
    diff = results["comparisons"]["crpo - grpo"]["static"]
    runs = results["runs"]
    assert diff["per_seed"] == pytest.approx([c - g for c, g in zip(runs["crpo"]["per_seed"]["static"],
                                                                      runs["grpo"]["per_seed"]["static"])])
    assert len(diff["ci95"]) == 2 and diff["ci95"][0] <= diff["mean"] <= diff["ci95"][1]
    assert set(results["comparisons"]) == {f"crpo - {n}" for n in ("start", "grpo", "grpo_cf_aug", "tgrpo", "arrowrl")}
    chosen = json.loads((out / "seed0" / "start" / "chosen.json").read_text())
    assert [t[0] for t in chosen["tried"]] == [1, 2] and chosen["step"] in (1, 2)  # every checkpoint was measured
    assert json.loads((out / "results.json").read_text()) == results
    report = (out / "report.md").read_text()
    assert "| run | moving_direction | reversible_dynamics | event_sequence | dynamic | static |" in report
    assert "| crpo - grpo |" in report and "counterfactual answers" in report  # cf-aug's labels are named
    assert (out / "report.png").stat().st_size > 0
    assert json.loads((out / "timings.json").read_text())["stage_seconds"]["seed0/crpo"] > 0

    def stamps():
        return {a: (out / "seed0" / a / "final" / "model.safetensors").stat().st_mtime_ns for a in ALGORITHMS}
    before = stamps()
    results_bytes = (out / "results.json").read_bytes()
    assert run_demo(out=out, seeds=2, settings=TOY) == results  # nothing is redone: same numbers
    assert stamps() == before and (out / "results.json").read_bytes() == results_bytes
    # A subset of the algorithms (what --quick runs) reports only those; without crpo there is nothing to compare.
    subset = dataclasses.replace(TOY, algorithms=("grpo", "crpo"))
    pair_out = tmp_path / "pair"
    pair_out.mkdir()
    for path in ("bench", "seed0"):  # the finished toy demo's world, start and runs: nothing is trained again
        shutil.copytree(out / path, pair_out / path, symlinks=True)
    pair = run_demo(out=pair_out, seeds=1, settings=subset)
    assert set(pair["runs"]) == {"start", "grpo", "crpo"}
    assert set(pair["comparisons"]) == {"crpo - start", "crpo - grpo"}
    with pytest.raises(ValueError, match="crpo"):
        run_demo(out=tmp_path / "none", seeds=1, settings=dataclasses.replace(TOY, algorithms=("grpo",)))
