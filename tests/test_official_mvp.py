"""The MVP scorer against lmms-eval 0.7.3's own mvp task code, on generated mixed-style outputs (3 seeds).

Every sub-domain of mvp_mini gets generated minimally different pairs (video ids "<source>_<n>_<k>", k = 0, 1, as
the dataset's), a few groups of one or three clips (lmms-eval warns and counts them as wrong pairs), candidates
stored as the Python repr the parquet holds, and outputs in the styles of tests/mixed_outputs.py plus the answer
format MVP's prompt asks for, some rows missing and some given as an `answer` field only. The same outputs go to
lmms-eval (tests/lmms_reference.py: its task YAMLs and utils.py loaded unedited, its evaluation loop; a missing row is
an empty output there) and to `crpo score --format mvp`, in both input modes: the dataset's own files (HF parquet
shards, one folder per sub-domain) and our items JSONL imported from them. Single and pair accuracy per sub-domain,
and the mvp_mini means, must be equal.
"""
import random

import pytest
from lmms_reference import official_yaml, replayed_outputs, run_official
from mixed_outputs import LETTERS, STYLES, options, prediction_rows

from crpo.bench.mvp import mvp_choice
from crpo.bench.score import score_file
from crpo.data.importers import convert
from crpo.data.items import write_jsonl

SUBDOMAINS = ["human_object_interactions", "robot_object_interactions", "intuitive_physics", "temporal_reasoning"]
PAIRS = 9
SEEDS = (0, 1, 2)
MVP_STYLES = {**STYLES, "mvp_format": "Answer: {L}", "assistant": "assistant: {l}", "camera": "The camera pans.\n{L}"}


def mvp_output(rng, opts, gold) -> str:
    """tests/mixed_outputs.py's mc_output over MVP_STYLES."""
    pick = gold if rng.random() < 0.55 else 1 - gold
    style = MVP_STYLES[rng.choice(list(MVP_STYLES))]
    return style.format(L=LETTERS[pick], l=LETTERS[pick].lower(), t=opts[pick], O=LETTERS[1 - pick])


def generate(rng, subdomain):
    """(docs as the dataset's rows, {video_id: output})."""
    docs, outputs = [], {}
    sizes = [2] * PAIRS + [1, 3]
    for n, size in enumerate(sizes):
        opts = options(rng, 2)
        for k in range(size):
            gold = rng.randrange(2)
            video_id = f"src{n % 3}_{subdomain[:5]}{n}_{k}"
            docs.append({"video_id": video_id, "video_path": f"/src{n % 3}/{video_id}.mp4", "question": f"Q {n}?",
                         "answer": opts[gold], "candidates": repr(opts) if rng.random() < 0.7 else opts,
                         "source": f"src{n % 3}"})
            outputs[video_id] = mvp_output(rng, opts, gold)
    return docs, outputs


def write_parquet(path, docs):
    import pyarrow as pa
    import pyarrow.parquet as pq
    path.parent.mkdir(parents=True)
    rows = [{**d, "candidates": d["candidates"] if isinstance(d["candidates"], str) else repr(d["candidates"])}
            for d in docs]
    pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.fixture(scope="module", params=SEEDS)
def seeded(request, tmp_path_factory):
    """One seed: (folder with files/, items.jsonl and pred.jsonl; lmms-eval's results)."""
    tmp = tmp_path_factory.mktemp(f"mvp_seed{request.param}")
    rng = random.Random(request.param)
    runs, rows = {}, []
    for sub in SUBDOMAINS:
        docs, outputs = generate(rng, sub)
        write_parquet(tmp / "files" / sub / "mini-00000-of-00001.parquet", docs)
        sub_rows, _ = prediction_rows(rng, list(outputs), list(outputs.values()))
        rows += sub_rows
        runs[f"ref_mvp_{sub}"] = (official_yaml(f"mvp/mvp_mini_{sub}.yaml"), docs,
                                  replayed_outputs(sub_rows, [d["video_id"] for d in docs]))
    write_jsonl(tmp / "pred.jsonl", rows)
    write_jsonl(tmp / "items.jsonl", convert("mvp", tmp / "files"))
    return tmp, run_official(tmp / "ref", runs)


@pytest.mark.parametrize("mode", ["official_files", "items"])
def test_mvp_equals_lmms_eval(seeded, mode):
    path, ref = seeded
    m = score_file("mvp", path / ("files" if mode == "official_files" else "items.jsonl"), path / "pred.jsonl")
    for sub in SUBDOMAINS:
        want = ref["results"][f"ref_mvp_{sub}"]
        got = m["per_task"][sub]
        assert 100 * got["single_acc"] == pytest.approx(want["single_accuracy"], abs=1e-9), sub
        assert 100 * got["pair_acc"] == pytest.approx(want["pair_accuracy"], abs=1e-9), sub
        assert got["pairs"] == PAIRS + 2
    means = [ref["results"][f"ref_mvp_{s}"] for s in SUBDOMAINS]
    assert 100 * m["mean_pair_acc"] == pytest.approx(sum(r["pair_accuracy"] for r in means) / 4, abs=1e-9)
    assert 100 * m["mean_single_acc"] == pytest.approx(sum(r["single_accuracy"] for r in means) / 4, abs=1e-9)
    assert m["missing"] > 0 and 0 < m["pair_acc"] < m["single_acc"] < 1


def test_mvp_parser_quirks():
    """lmms-eval's pattern: no word boundary before the letter, and the second of several matches."""
    assert mvp_choice("Answer: B") == 1 and mvp_choice("b") == 1 and mvp_choice(" A ") == 0
    assert mvp_choice("The camera pans.\nB") == 1       # "camera" then "B": two matches, the second is taken
    assert mvp_choice("I see a dog, so B or A") == 1    # "a", "B", "A": the second
    assert mvp_choice("the data shows it") == 0         # "data" ends in a: read as A
    assert mvp_choice("C") is None and mvp_choice("") is None and mvp_choice(None) is None
