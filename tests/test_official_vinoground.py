"""Vinoground scorer against lmms-eval 0.7.3's own Vinoground task, on generated mixed-style outputs (3 seeds), in
both input modes, and the official get_score_all.py's empty-answer behaviour on a hand-computed case.

lmms-eval's task hard-codes the 500 pairs of Vinoground, reads the first character of the output its pipeline
stripped, crashes on an empty output and counts a missing one wrong. So:
- with `lmms_eval_strip=on` and `empty_text_drops_pair=off`, crpo equals lmms-eval on outputs of every non-empty
  style with some rows missing;
- with the defaults (the official script), crpo equals lmms-eval when no row is missing and no output starts with
  whitespace.
"""
import csv
import json
import random

import pytest
from lmms_reference import official_yaml, run_official
from mixed_outputs import EMPTY_STYLES, STYLES, mc_output, phrase

from crpo.bench.score import score_file
from crpo.data.items import Item, write_jsonl

PAIRS = 500  # lmms-eval's aggregation assumes exactly Vinoground's 500 pairs
MAJORS = ["action", "object", "viewpoint"]
MINORS = ["", "", "interaction", "cyclical", "spatial;contextual", "interaction;cyclical"]
NON_EMPTY = [s for s in STYLES if s not in EMPTY_STYLES]
CLEAN = [s for s in NON_EMPTY if not STYLES[s].startswith((" ", "\n"))]
SEEDS = (0, 1, 2)


def generate(rng, styles, p_missing):
    """(pairs [(n, major, minor)], gold {(n, side, kind): letter}, outputs {(n, side, kind): text}; missing absent)."""
    pairs = [(n, rng.choice(MAJORS), rng.choice(MINORS)) for n in range(PAIRS)]
    gold, outputs = {}, {}
    for n, _, _ in pairs:
        keys = [(n, side, kind) for kind in ("text", "video") for side in ("pos", "neg")]
        for key in keys:
            gold[key] = rng.choice("AB")
            outputs[key] = mc_output(rng, [phrase(rng), phrase(rng)], "AB".index(gold[key]), styles)
        for key in keys[1:]:  # the pair keeps its first question, so lmms-eval sees every pair
            if rng.random() < p_missing:
                del outputs[key]
    return pairs, gold, outputs


def idx(key):
    return f"{key[0]}_{key[1]}"


def lmms_eval_scores(tmp, pairs, gold, outputs):
    """lmms-eval's (text, video, group) in percent; its GT files go where its utils.py reads them (HF_HOME)."""
    hf_home = tmp / "hf_home"
    for kind, folder in (("text", "vinoground_videos"), ("video", "vinoground_videos_concated")):
        (hf_home / "vinoground" / folder).mkdir(parents=True)
        rows = [{"idx": idx(k), "GT": g, "question": f"Which {kind}?", "video_name": f"{k[0]}.mp4"}
                for k, g in gold.items() if k[2] == kind]
        (hf_home / "vinoground" / folder / f"vinoground_{kind}score.json").write_text(json.dumps(rows))
    majors = {n: (major, minor) for n, major, minor in pairs}
    docs, outs = [], []
    for key, out in outputs.items():
        docs.append({"index": f"{idx(key)}_{key[2]}", "major": majors[key[0]][0], "minor": majors[key[0]][1]})
        outs.append(out)
    ref = run_official(tmp, {"ref_vinoground": (official_yaml("vinoground/vinoground.yaml"), docs, outs)},
                       hf_home=hf_home)
    return ref["results"]["ref_vinoground"]["vinoground_score"]


def write_inputs(tmp, pairs, gold, outputs):
    """The official layout (data and output folders) and ours (items and predictions JSONL)."""
    data, out = tmp / "Vinoground", tmp / "outputs"
    data.mkdir(), out.mkdir()
    for kind in ("text", "video"):
        rows = [{"idx": idx(k), "GT": g} for k, g in gold.items() if k[2] == kind]
        (data / f"vinoground_{kind}score.json").write_text(json.dumps(rows))
        (out / f"{kind}score-response.jsonl").write_text(
            "".join(json.dumps({"idx": idx(k), "response": o}) + "\n" for k, o in outputs.items() if k[2] == kind))
    with open(data / "vinoground.csv", "w", newline="") as f:
        csv.writer(f).writerows([["index", "major", "minor"], *[[n, a, b] for n, a, b in pairs]])
    majors = {n: (major, minor) for n, major, minor in pairs}
    items = [Item(f"vg-{idx(k)}_{k[2]}", f"{k[0]}.mp4", "Which one?", g, options=["x", "y"],
                  category=majors[k[0]][0], extra={"minor": majors[k[0]][1]}) for k, g in gold.items()]
    write_jsonl(tmp / "items.jsonl", items)
    write_jsonl(tmp / "pred.jsonl", [{"id": f"vg-{idx(k)}_{k[2]}", "output": o} for k, o in outputs.items()])
    return (data, out), (tmp / "items.jsonl", tmp / "pred.jsonl")


def percents(m):
    return [100 * m["text_score"], 100 * m["video_score"], 100 * m["group_score"]]


@pytest.fixture(scope="module", params=SEEDS)
def seeded(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"vg_seed{request.param}")
    rng = random.Random(request.param)
    out = {}
    for name, styles, p_missing in (("mixed", NON_EMPTY, 0.05), ("clean", CLEAN, 0.0)):
        pairs, gold, outputs = generate(rng, styles, p_missing)
        (tmp / name).mkdir()
        out[name] = (write_inputs(tmp / name, pairs, gold, outputs),
                     lmms_eval_scores(tmp / name / "ref", pairs, gold, outputs))
    return out


@pytest.mark.parametrize("mode", [0, 1], ids=["official_layout", "items"])
def test_lmms_eval_behaviour_equals_lmms_eval(seeded, mode):
    inputs, ref = seeded["mixed"]
    m = score_file("vinoground", *inputs[mode], quirks=["lmms_eval_strip=on", "empty_text_drops_pair=off"])
    assert m["pairs"] == PAIRS and m["missing"] > 0
    assert percents(m) == pytest.approx(list(ref), abs=1e-9)


@pytest.mark.parametrize("mode", [0, 1], ids=["official_layout", "items"])
def test_official_defaults_equal_lmms_eval_without_missing_or_leading_whitespace(seeded, mode):
    inputs, ref = seeded["clean"]
    m = score_file("vinoground", *inputs[mode])
    assert m["quirks"] == {"empty_text_drops_pair": True, "lmms_eval_strip": False} and m["missing"] == 0
    assert percents(m) == pytest.approx(list(ref), abs=1e-9)
    assert set(m["per_category"]) >= set(MAJORS) | {"interaction", "cyclical", "spatial", "contextual"}


def test_official_script_reads_leading_whitespace_as_wrong(seeded):
    inputs, _ = seeded["mixed"]
    strict = score_file("vinoground", *inputs[1], quirks=["empty_text_drops_pair=off"])
    stripped = score_file("vinoground", *inputs[1], quirks=["empty_text_drops_pair=off", "lmms_eval_strip=on"])
    assert strict["text_score"] < stripped["text_score"]  # " B." and "\nB" count only once stripped


def test_lmms_eval_crashes_on_an_empty_output(tmp_path):
    rng = random.Random(5)
    pairs, gold, outputs = generate(rng, ["bare"], 0.0)
    outputs[(7, "pos", "text")] = ""
    with pytest.raises(IndexError):
        lmms_eval_scores(tmp_path, pairs, gold, outputs)


def test_empty_text_answer_drops_the_rest_of_the_pair_as_get_score_all_does(tmp_path):
    """Hand-computed from get_score_all.py's evaluation order: pos text, neg text (only when pos is right), pos
    video, neg video (likewise), inside a bare try/except that skips the rest of the pair."""
    gts = {"text": ["A", "B"] * 5, "video": ["A", "B"] * 5}  # pairs 0-4, pos then neg
    text = {0: ("", "B"),      # pos text empty: the pair's video answers are never read
            1: ("B", ""),      # pos text wrong: neg (empty) is never read, videos are
            2: ("A", None),    # neg text None after a right pos: the videos are never read
            3: ("A", "B"),     # all right
            4: ("a", "b.")}    # text right (case ignored), then an empty video answer: text keeps its credit
    video = {n: ("A", "B") for n in range(4)} | {4: ("", "B")}
    data, out = tmp_path / "Vinoground", tmp_path / "outputs"
    data.mkdir(), out.mkdir()
    for kind, answers in (("text", text), ("video", video)):
        gt_rows = [{"idx": f"{n}_{side}", "GT": gts[kind][2 * n + s]} for n in range(5)
                   for s, side in enumerate(("pos", "neg"))]
        (data / f"vinoground_{kind}score.json").write_text(json.dumps(gt_rows))
        (out / f"{kind}score-response.jsonl").write_text("".join(
            json.dumps({"idx": f"{n}_{side}", "response": answers[n][s]}) + "\n"
            for n in range(5) for s, side in enumerate(("pos", "neg"))))
    m = score_file("vinoground", data, out)
    assert (m["text_score"], m["video_score"], m["group_score"]) == (0.4, 0.4, 0.2)  # video right: pairs 1, 3
    m = score_file("vinoground", data, out, quirks=["empty_text_drops_pair=off"])
    assert (m["text_score"], m["video_score"], m["group_score"]) == (0.4, 0.8, 0.2)
