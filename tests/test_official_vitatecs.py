"""The VITATECS scorer against lmms-eval 0.7.3's own vitatecs task code, on generated mixed-style outputs (3 seeds).

Every aspect gets generated caption / counterfactual pairs (with and without a final period, some sharing words so
that one is inside the other), and outputs in the styles of tests/mixed_outputs.py written over the two options as
lmms-eval's prompt shows them (its option order), plus outputs quoting a caption, both captions or none; some rows
missing, some given as an `answer` field only. The same outputs go to lmms-eval (tests/lmms_reference.py: its task
code loaded unedited, its evaluation loop; its ChatGPT judge for unmatched outputs answers "no rating" (0), the
judge's failure path; a missing row is an empty output) and to `crpo score --format vitatecs`, in both input
modes: the dataset's own files (data/<aspect>.jsonl, as its GitHub release) and our items JSONL imported from them.
Per-aspect accuracies must be equal, and the unmatched count must be the number of outputs lmms-eval sent to its
judge.
"""
import json
import random

import pytest
from lmms_reference import official_yaml, replayed_outputs, run_official
from mixed_outputs import mc_output, phrase, prediction_rows

from crpo.bench.score import score_file
from crpo.data.importers import convert
from crpo.data.importers_tables import caption_is_a, for_question
from crpo.data.items import load_items, write_jsonl

ASPECTS = ["Direction", "Intensity", "Sequence", "Compositionality", "Localization", "Type"]
PER_ASPECT = 14
SEEDS = (0, 1, 2)


def caption_pair(rng):
    caption = phrase(rng).capitalize() + ("." if rng.random() < 0.7 else "")
    counterfactual = phrase(rng)
    if rng.random() < 0.2:  # one inside the other: "a dog" and "a dog jumping"
        counterfactual = caption.rstrip(".") + " " + phrase(rng)
    while counterfactual.lower().rstrip(".") == caption.lower().rstrip("."):
        counterfactual = phrase(rng)
    return caption, counterfactual + ("." if rng.random() < 0.5 else "")


def output(rng, caption, counterfactual):
    first = caption_is_a(caption, counterfactual)
    shown = [for_question(caption), for_question(counterfactual)]
    shown = shown if first else shown[::-1]
    r = rng.random()
    if r < 0.1:
        return f"The video shows {caption.lower()}"
    if r < 0.15:
        return f"Either {caption} or {counterfactual}"
    return mc_output(rng, shown, 0 if first else 1)


@pytest.fixture(scope="module", params=SEEDS)
def seeded(request, tmp_path_factory):
    """One seed: (folder with data/, items.jsonl and pred.jsonl; lmms-eval's results)."""
    tmp = tmp_path_factory.mktemp(f"vitatecs_seed{request.param}")
    rng = random.Random(request.param)
    (tmp / "data").mkdir()
    runs, rows = {}, []
    for aspect in ASPECTS:
        docs, outputs = [], {}
        for k in range(PER_ASPECT):
            caption, counterfactual = caption_pair(rng)
            docs.append({"src_dataset": rng.choice(["MSRVTT", "VATEX"]), "video_name": f"video{k}.mp4",
                         "caption": caption, "counterfactual": counterfactual, "aspect": aspect})
            outputs[f"{aspect.lower()}-{k}"] = output(rng, caption, counterfactual)
        (tmp / "data" / f"{aspect.lower()}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
        aspect_rows, _ = prediction_rows(rng, list(outputs), list(outputs.values()))
        rows += aspect_rows
        runs[f"ref_vitatecs_{aspect.lower()}"] = (official_yaml(f"vitatecs/vitatecs_{aspect.lower()}.yaml"), docs,
                                                  replayed_outputs(aspect_rows, list(outputs)))
    write_jsonl(tmp / "pred.jsonl", rows)
    write_jsonl(tmp / "items.jsonl", convert("vitatecs", tmp / "data"))
    return tmp, run_official(tmp / "ref", runs)


@pytest.mark.parametrize("mode", ["official_files", "items"])
def test_vitatecs_equals_lmms_eval(seeded, mode):
    path, ref = seeded
    m = score_file("vitatecs", path / ("data" if mode == "official_files" else "items.jsonl"), path / "pred.jsonl")
    judged = 0
    for aspect in ASPECTS:
        name = f"ref_vitatecs_{aspect.lower()}"
        assert 100 * m["per_aspect"][aspect.lower()]["acc"] == pytest.approx(ref["results"][name]["accuracy"],
                                                                            abs=1e-9), aspect
        judged += sum(not s["accuracy"]["match_success"] for s in ref["samples"][name])
    assert m["unmatched"] == judged > 0  # the generated set does reach lmms-eval's judge
    assert m["missing"] > 0 and m["questions"] == len(ASPECTS) * PER_ASPECT


def test_items_without_the_raw_captions_score_alike(seeded, tmp_path):
    """Items whose extra lost the raw texts are matched through their options (gold option = the caption)."""
    path, _ = seeded
    items = load_items(path / "items.jsonl")
    for it in items:
        it.extra.pop("caption")
        it.extra.pop("counterfactual")
    write_jsonl(tmp_path / "bare.jsonl", items)
    bare = score_file("vitatecs", tmp_path / "bare.jsonl", path / "pred.jsonl")
    assert bare == score_file("vitatecs", path / "items.jsonl", path / "pred.jsonl")
