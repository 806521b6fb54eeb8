"""`crpo demo` end to end at toy scale: every stage runs for real (synth, tiny model, the start stage, five RL runs
with evaluation during RL, eval), results.json holds mean/std per run and the curves, and a second call resumes
instead of redoing finished work."""
import json

from transformers import AutoModelForImageTextToText

from crpo.data import load_items
from crpo.demo import ALGORITHMS, WORLD, DemoSettings, run_demo, start_set
from crpo.demo_base import MOTION_CODE_WORDS, SHIPPED_BASE, BaseRecipe, pretrain_base, pretraining_sets
from crpo.synth import generate

TOY = DemoSettings(train_items=8, bench_pairs=2, start_items=8, start_max_steps=2, start_check_steps=1,
                   start_dev_pairs=2, rl_steps=2, eval_steps=1, num_generations=2, prompts_per_step=2, bench_seed=7)


def test_start_set_mixes_motion_by_letter_and_colour_from_unbiased_clips(tmp_path):
    generate(tmp_path, train=40, bench_pairs=0, bias=0.0, seed=4, **WORLD)
    items = load_items(start_set(tmp_path, 20, seed=0))
    kinds = [it.extra["kind"] for it in items]
    assert len(items) == 20 and kinds.count("slide") == 10 and kinds.count("hue") == 10
    assert all(it.problem_type == "multiple_choice" for it in items)  # motion asked by letter, as RL asks it
    assert not any(it.extra.get("cue") for it in items)


def test_pretraining_sets_ask_motion_as_code_words(tmp_path):
    generate(tmp_path, train=12, bench_pairs=0, bias=0.0, seed=3, **WORLD)
    motion, colour = pretraining_sets(tmp_path)
    items = load_items(motion)  # valid items: the trainer's own loader accepts them
    assert items and all(it.problem_type == "free_form" and not it.options for it in items)
    assert all(it.answer == MOTION_CODE_WORDS[it.extra["truth"]["direction"]] for it in items)
    assert not any(word in it.question.split("?")[0].split() for it in items for word in ("left", "right"))
    colours = load_items(colour)
    assert colours and all(it.extra["kind"] == "hue" and it.problem_type == "multiple_choice" for it in colours)
    assert len(items) + len(colours) == 12


def test_pretrain_base_runs_both_stages_and_skips_finished_ones(tmp_path):
    recipe = BaseRecipe(items=8, motion_steps=2, colour_steps=1)
    final = pretrain_base(tmp_path, seed=0, world_kwargs=WORLD, recipe=recipe)
    assert final == tmp_path / "base" / "final"
    assert AutoModelForImageTextToText.from_pretrained(final).config.model_type == "qwen3_vl"
    assert len((tmp_path / "base_motion" / "metrics.jsonl").read_text().splitlines()) == 2
    assert len((tmp_path / "base" / "metrics.jsonl").read_text().splitlines()) == 1
    stamp = (final / "model.safetensors").stat().st_mtime_ns
    assert pretrain_base(tmp_path, seed=0, world_kwargs=WORLD, recipe=recipe) == final
    assert (final / "model.safetensors").stat().st_mtime_ns == stamp


def test_shipped_base_loads():
    model = AutoModelForImageTextToText.from_pretrained(SHIPPED_BASE)
    assert model.config.model_type == "qwen3_vl" and sum(p.numel() for p in model.parameters()) < 2_000_000


def test_demo_runs_every_stage_and_resumes(tmp_path):
    out = tmp_path / "demo"
    results = run_demo(out=out, seeds=1, settings=TOY)
    assert set(results) == {"start", *ALGORITHMS}
    for name, entry in results.items():
        assert 0.0 <= entry["p_acc"]["mean"] <= 1.0 and entry["p_acc"]["std"] == 0.0  # one seed: no spread
        assert "moving_direction" in entry["p_acc_per_category"]
        assert entry["static_acc"] is not None and entry["seeds"] == 1
    assert all(results[a]["wall_seconds"]["mean"] > 0 for a in ALGORITHMS)
    for a in ALGORITHMS:  # the bench before step 1, after step 1 and at the end
        assert results[a]["p_acc_dynamic_curve"]["steps"] == [0, 1, 2]
        assert results[a]["start_answer_entropy_bits"]["mean"] >= 0.0
        assert (out / "seed0" / a / "rollouts.jsonl").exists()
    chosen = json.loads((out / "seed0" / "start" / "chosen.json").read_text())
    assert [t[0] for t in chosen["tried"]] == [1, 2] and chosen["step"] in (1, 2)  # every checkpoint was measured
    assert json.loads((out / "results.json").read_text()) == results
    report = (out / "report.md").read_text()
    assert "| metric | start | grpo | crpo | grpo_cf_aug | tgrpo | arrowrl |" in report
    assert "counterfactual answers" in report  # cf-aug's labels are named
    assert (out / "report.png").stat().st_size > 0

    def stamps():
        return {a: (out / "seed0" / a / "final" / "model.safetensors").stat().st_mtime_ns for a in ALGORITHMS}
    before = stamps()
    assert run_demo(out=out, seeds=1, settings=TOY) == results  # nothing is redone: same numbers, same walls
    assert stamps() == before
