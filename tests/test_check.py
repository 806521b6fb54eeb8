import json
import shutil
import subprocess
import sys

from shared_data import VIDEOS


def row(i, **kw):
    base = {"id": f"i{i}", "video": "bikes.mp4", "question": "Which way?", "options": ["left", "right"],
            "answer": "A", "problem_type": "multiple_choice"}
    base.update(kw)
    return json.dumps(base)


def test_check_reports_every_bad_row_and_keeps_the_good(tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    shutil.copy(VIDEOS / "bikes.mp4", root / "bikes.mp4")
    (root / "garbage.mp4").write_bytes(b"not a video at all" * 100)
    lines = [row(1), "{not json", row(3, answer="C"), row(4, problem_type="essay"), row(5, video="../bikes.mp4"),
             row(6, video="missing.mp4"), row(7, video="garbage.mp4"), row(1), row(9),
             row(10, counterfactual={"hflip": {"relation": "maybe"}})]
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(lines) + "\n")
    out = tmp_path / "clean.jsonl"
    cmd = [sys.executable, "-m", "crpo.cli", "data", "check", str(items), "--video-root", str(root), "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0
    errors = [l for l in r.stderr.splitlines() if l.startswith(str(items) + ":") and "good rows" not in l]
    assert [e.split(":")[1] for e in errors] == ["2", "3", "4", "5", "6", "7", "8", "10"]
    for needle in ("invalid JSON", "answer 'C'", "unknown problem_type 'essay'", "escapes the video root",
                   "not found", "cannot be opened", "duplicate id 'i1'", "item 'i10': counterfactual['hflip'] "
                   "relation 'maybe' is not one of"):
        assert any(needle in e for e in errors), needle
    assert [json.loads(l)["id"] for l in out.read_text().splitlines()] == ["i1", "i9"]
    assert "2 good rows, 8 bad" in r.stderr
    strict = subprocess.run(cmd + ["--strict"], capture_output=True, text=True)
    assert strict.returncode == 1
