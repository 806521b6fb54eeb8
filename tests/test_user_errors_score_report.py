"""`crpo score` and `crpo report` on the mistakes users make: empty files, unparsable outputs counted apart from
missing ones, `score --out` feeding `report`, two runs both named `eval`, benches of different sizes."""
import json

import pytest

from crpo.cli import main as crpo_main
from crpo.data.items import Item, write_jsonl


def bench_items(n_pairs: int) -> list[Item]:
    items = []
    for k in range(n_pairs):
        opts = ["left", "right"]
        items += [Item(f"d{k}", "v.mp4", "Which way?", "A", options=opts, category="moving_direction", pair_id=f"d{k}"),
                  Item(f"d{k}__reverse", "v.mp4", "Which way?", "B", options=opts, category="moving_direction",
                       pair_id=f"d{k}", transform="reverse")]
    return items


def score(capsys, *args) -> tuple[int, str, str]:
    rc = crpo_main(["score", "--format", "dybench", *map(str, args)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_empty_files_and_missing_predictions_are_one_line_errors(tmp_path, capsys):
    write_jsonl(tmp_path / "bench.jsonl", bench_items(2))
    (tmp_path / "empty.jsonl").write_text("")
    rc, out, err = score(capsys, "--data", tmp_path / "bench.jsonl", "--predictions", tmp_path / "empty.jsonl")
    assert rc == 2 and out == "" and err == f"error: {tmp_path / 'empty.jsonl'}: no predictions (the file is empty)\n"
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "d0", "output": "<answer>A</answer>"}])
    rc, out, err = score(capsys, "--data", tmp_path / "empty.jsonl", "--predictions", tmp_path / "pred.jsonl")
    assert rc == 2 and err == f"error: {tmp_path / 'empty.jsonl'}: no items (the file is empty)\n"  # the data file
    rc, out, err = score(capsys, "--data", tmp_path / "bench.jsonl", "--predictions", tmp_path / "nope.jsonl")
    assert rc == 2 and err.count("\n") == 1 and "nope.jsonl: cannot read" in err


@pytest.mark.parametrize("fmt", ["mvp", "vitatecs", "mvbench", "tvbench", "tempcompass", "timeblind", "vinoground"])
def test_every_peer_format_refuses_an_empty_predictions_file(tmp_path, capsys, fmt):
    """Each peer scorer would count every item missing and print acc 0.0 with exit 0; the data file is blamed
    first when it is empty too."""
    write_jsonl(tmp_path / "bench.jsonl", bench_items(2))
    (tmp_path / "empty.jsonl").write_text("\n")
    rc = crpo_main(["score", "--format", fmt, "--data", str(tmp_path / "bench.jsonl"), "--predictions",
                    str(tmp_path / "empty.jsonl")])
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    assert captured.err == f"error: {tmp_path / 'empty.jsonl'}: no predictions (the file is empty)\n"
    rc = crpo_main(["score", "--format", fmt, "--data", str(tmp_path / "empty.jsonl"), "--predictions",
                    str(tmp_path / "empty.jsonl")])
    assert rc == 2 and capsys.readouterr().err == f"error: {tmp_path / 'empty.jsonl'}: no items (the file is empty)\n"


def test_unparsable_outputs_are_not_missing(tmp_path, capsys):
    items = bench_items(3)
    write_jsonl(tmp_path / "bench.jsonl", items)
    outputs = {"d0": "<answer>A</answer>", "d0__reverse": "<answer>B</answer>", "d1": "I cannot tell",
               "d1__reverse": "", "d2": "<answer>A</answer>"}  # d2__reverse has no row
    write_jsonl(tmp_path / "pred.jsonl", [{"id": k, "output": v} for k, v in outputs.items()])
    rc, out, _ = score(capsys, "--data", tmp_path / "bench.jsonl", "--predictions", tmp_path / "pred.jsonl",
                       "--out", tmp_path / "run")
    m = json.loads(out)
    assert rc == 0 and (m["missing"], m["unparsed"]) == (1, 2)
    assert m["acc"] == pytest.approx(3 / 6) and m["p_acc"] == pytest.approx(1 / 3)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == m  # what `crpo report` reads


def test_report_of_two_runs_named_eval_with_different_bench_sizes(tmp_path, capsys):
    runs = []
    for name, n_pairs, answer in (("base", 2, "A"), ("crpo", 3, "B")):
        items = bench_items(n_pairs)
        write_jsonl(tmp_path / f"{name}.jsonl", items)
        write_jsonl(tmp_path / f"{name}_pred.jsonl", [{"id": it.id, "answer": it.answer if it.id.endswith("reverse")
                                                      or answer == "A" else "B"} for it in items])
        run = tmp_path / "runs" / name / "eval"  # the common runs/X/eval layout
        rc, _, err = score(capsys, "--data", tmp_path / f"{name}.jsonl", "--predictions",
                           tmp_path / f"{name}_pred.jsonl", "--out", run)
        assert rc == 0, err
        runs.append(run)
    assert crpo_main(["report", *map(str, runs), "--out", str(tmp_path / "report")]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| metric | base/eval | crpo/eval |" in md
    assert "| Items | 4 | 6 |" in md and "| Pairs | 2 | 3 |" in md
    assert "different sizes" in md
    assert "| P-Acc | 100.0 | 0.0 |" in md  # a zero is a zero ...
    assert "| P-Acc static pairs | – | – |" in md  # ... and a missing value a dash
    assert (tmp_path / "report" / "report.png").read_bytes()[:4] == b"\x89PNG"

    rc = crpo_main(["report", str(runs[0]), str(runs[0]), "--out", str(tmp_path / "r2")])
    assert rc == 2 and "given twice" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    rc = crpo_main(["report", *map(str, runs), "--out", str(tmp_path / "file")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "is a file" in err
