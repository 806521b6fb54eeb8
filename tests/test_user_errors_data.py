"""`crpo data check`, `crpo data import` and `crpo bench build` on the mistakes users make, on real mp4s.

Truncated files (index at the front, cut short), symlinked video roots, twins beside the bench, over-long
questions, empty files, Video-R1 solutions written as option text, duplicate ids: each is one line naming the file
and row (exit 2 for a command that cannot go on), and what is good is kept.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import av
import pytest
from shared_data import VIDEOS

from crpo.cli import main as crpo_main
from crpo.data.items import DataError, load_items
from crpo.data.video import load_clip

CLIPS = sorted(p.name for p in VIDEOS.glob("*.mp4"))


def faststart(src: Path, dst: Path) -> None:
    """Remux `src` with its index (moov) at the front, as web-ready mp4s are: a cut copy still opens."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)


def cut(src: Path, dst: Path, fraction: float) -> None:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])


def item(i, video, **kw):
    row = {"id": f"i{i}", "video": video, "question": "Which way do they move?", "options": ["left", "right"],
           "answer": "A", "problem_type": "multiple_choice"}
    return json.dumps({**row, **kw})


def check(items: Path, root: Path, *extra):
    cmd = [sys.executable, "-m", "crpo.cli", "data", "check", str(items), "--video-root", str(root), *map(str, extra)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def bad_rows(stderr: str, items: Path) -> dict[int, str]:
    return {int(l.split(":")[1]): l for l in stderr.splitlines() if l.startswith(f"{items}:") and "good rows" not in l}


@pytest.mark.parametrize("clip", CLIPS)
def test_truncated_mp4_with_its_index_in_front_is_caught_by_check_and_loader(tmp_path, clip):
    root = tmp_path / "videos"
    root.mkdir()
    faststart(VIDEOS / clip, root / "whole.mp4")
    for fraction in (0.2, 0.7):
        cut(root / "whole.mp4", root / f"cut{int(fraction * 100)}.mp4", fraction)
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join([item(1, "whole.mp4"), item(2, "cut20.mp4"), item(3, "cut70.mp4")]) + "\n")
    r = check(items, root, "--strict")
    assert r.returncode == 1
    bad = bad_rows(r.stderr, items)
    assert sorted(bad) == [2, 3] and all("truncated" in line for line in bad.values()), r.stderr
    assert "1 good rows, 2 bad" in r.stderr

    clip_frames = load_clip(root / "whole.mp4", num_frames=8)
    assert len(set(clip_frames.frame_indices.tolist())) == 8  # the whole file samples 8 distinct frames
    for name in ("cut20.mp4", "cut70.mp4"):
        with pytest.raises(DataError, match=f"{name}: truncated"):
            load_clip(root / name, num_frames=8)


def test_truncated_matroska_without_a_full_index_is_caught_when_decoding(tmp_path):
    """mkv indexes keyframes only: the cut shows when the stream ends long before the frames its header declares."""
    src = VIDEOS / "bikes.mp4"
    whole = tmp_path / "bikes.mkv"
    with av.open(str(src)) as inp, av.open(str(whole), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    cut(whole, tmp_path / "cut.mkv", 0.2)
    reference = load_clip(src, num_frames=8)
    clip = load_clip(whole, num_frames=8)  # the whole mkv: the same 8 frames as the mp4 (it counted 1 frame)
    assert clip.frame_indices.tolist() == reference.frame_indices.tolist()
    with pytest.raises(DataError, match="cut.mkv: truncated or damaged"):
        load_clip(tmp_path / "cut.mkv", num_frames=8)


def test_symlinked_video_root_and_materialized_twins_pass_check(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    for clip in CLIPS:
        shutil.copy(VIDEOS / clip, store / clip)
    root = tmp_path / "videos"  # a video root of symlinks, as clusters lay datasets out
    root.mkdir()
    for clip in CLIPS:
        (root / clip).symlink_to(store / clip)
    (tmp_path / "linked_root").symlink_to(store, target_is_directory=True)
    items = tmp_path / "items.jsonl"
    rows = [json.dumps({"id": f"{i}_{n}", "video": clip, "question": q, "options": opts, "answer": "A",
                        "problem_type": "multiple_choice"})
            for i, clip in enumerate(CLIPS)
            for n, (q, opts) in enumerate([("Which direction does it move?", ["left", "right"]),
                                           ("What colour is the car?", ["red", "blue"])])]
    items.write_text("\n".join(rows) + "\n")
    for video_root in (root, tmp_path / "linked_root"):
        r = check(items, video_root, "--strict")
        assert r.returncode == 0 and f"{len(rows)} good rows, 0 bad" in r.stderr, r.stderr

    # twins written beside the bench (`../bench/videos/...` from the video root): good for check, as for eval.
    # Two questions on one clip whose twins use the same transform share one twin video (one second of the clip).
    segment = {"video": "bikes.mp4", "start": 0.0, "end": 1.0, "answer": "A", "problem_type": "multiple_choice"}
    twin_items = tmp_path / "twin_items.jsonl"
    twin_items.write_text("".join(json.dumps({**segment, "id": i, "question": q, "options": o}) + "\n" for i, q, o in (
        ("d1", "Which direction do the cyclists move?", ["left", "right"]),
        ("d2", "In which direction does the first cyclist ride?", ["to the left", "to the right"]),
        ("c1", "What colour is the car?", ["red", "blue"]))))
    assert crpo_main(["bench", "build", "--items", str(twin_items), "--video-root", str(root), "--out",
                      str(tmp_path / "bench"), "--materialize"]) == 0
    bench = tmp_path / "bench" / "bench.jsonl"
    twins = [it for it in load_items(bench) if it.extra.get("materialized")]
    assert len(twins) == 3 and all(it.video.startswith("..") for it in twins)
    transforms = {it.extra["materialized"] for it in twins}
    assert len(transforms) < len(twins)  # two twins share a transform (the router's choice) ...
    assert len({it.video for it in twins}) == len(transforms)  # ... and so their video
    assert len(list((tmp_path / "bench" / "videos").glob("*.mp4"))) == len(transforms)
    r = check(bench, root, "--strict")
    assert r.returncode == 0 and "6 good rows, 0 bad" in r.stderr, r.stderr

    # a path that leaves the root and reaches nothing is still named as such
    items.write_text(item(1, "../nowhere.mp4") + "\n")
    r = check(items, root)
    assert "escapes the video root" in r.stderr


def test_long_question_is_a_bad_row_in_check(tmp_path, tiny_model):
    root = tmp_path / "videos"
    root.mkdir()
    shutil.copy(VIDEOS / "bikes.mp4", root / "bikes.mp4")
    long_words = "Which of these many cyclists " * 9000
    no_spaces = "x" * 60000  # few words, many tokens
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join([item(1, "bikes.mp4"), item(2, "bikes.mp4", question=long_words),
                                item(3, "bikes.mp4", question=no_spaces)]) + "\n")
    r = check(items, root, "--out", tmp_path / "clean.jsonl")
    bad = bad_rows(r.stderr, items)
    assert sorted(bad) == [2, 3] and all("tokens" in l and "'i" in l for l in bad.values()), r.stderr
    assert [json.loads(l)["id"] for l in (tmp_path / "clean.jsonl").read_text().splitlines()] == ["i1"]
    # with the model's own tokenizer, and a limit that only the long one passes when raised
    r = check(items, root, "--model", tiny_model)
    assert sorted(bad_rows(r.stderr, items)) == [2, 3], r.stderr
    r = check(items, root, "--max-text-tokens", 0)
    assert not bad_rows(r.stderr, items), r.stderr


def test_empty_files_are_errors_not_zero_item_successes(tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    for strict in ([], ["--strict"]):
        r = check(empty, root, *strict)
        assert r.returncode == 2 and r.stderr.strip() == f"error: {empty}: no items (the file is empty)", r.stderr
    for name, text in (("empty.json", ""), ("list.json", "[]"), ("blank.jsonl", "\n\n")):
        src = tmp_path / name
        src.write_text(text)
        r = subprocess.run([sys.executable, "-m", "crpo.cli", "data", "import", "--format", "videor1", str(src),
                            "--out", str(tmp_path / "out.jsonl")], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and str(src) in r.stderr, (name, r.stderr)
        assert not (tmp_path / "out.jsonl").exists()


def test_videor1_solution_as_option_text_is_matched_or_refused(tmp_path):
    base = {"problem": "Which way do the cyclists move?", "problem_type": "multiple choice", "data_type": "video",
            "options": ["A. Cyclists move left to right", "B. Cyclists move right to left", "C. They stand still"],
            "path": "./bikes.mp4"}
    solutions = {"letter": "<answer>B</answer>", "paren": "<answer>(B)</answer>",
                 "text": "<answer>Cyclists move right to left</answer>",
                 "letter_text": "<answer>B. Cyclists move right to left</answer>",
                 "text_case": "<answer>cyclists move RIGHT to left.</answer>"}
    src = tmp_path / "videor1.json"
    src.write_text(json.dumps([{**base, "problem_id": k, "solution": v} for k, v in solutions.items()]))
    out = tmp_path / "items.jsonl"
    assert crpo_main(["data", "import", "--format", "videor1", str(src), "--out", str(out)]) == 0
    assert {it.id: it.answer for it in load_items(out)} == dict.fromkeys(solutions, "B")

    for bad in ("<answer>Cyclists on bikes</answer>", "<answer>D</answer>"):
        src.write_text(json.dumps([{**base, "problem_id": "ok", "solution": "<answer>A</answer>"},
                                   {**base, "problem_id": "bad", "solution": bad}]))
        r = subprocess.run([sys.executable, "-m", "crpo.cli", "data", "import", "--format", "videor1", str(src),
                            "--out", str(tmp_path / "refused.jsonl")], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and f"{src}:row 2" in r.stderr and "option" in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1 and not (tmp_path / "refused.jsonl").exists()


def test_bench_build_refuses_duplicate_ids_and_names_both_lines(tmp_path, capsys):
    root = tmp_path / "videos"
    root.mkdir()
    shutil.copy(VIDEOS / "bikes.mp4", root / "bikes.mp4")
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join([item(1, "bikes.mp4"), item(2, "bikes.mp4"), item(1, "bikes.mp4", answer="B")]) + "\n")
    rc = crpo_main(["bench", "build", "--items", str(items), "--video-root", str(root), "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 2 and f"{items}:3: duplicate id 'i1' (first on line 1)" in err, err
    assert not (tmp_path / "b" / "bench.jsonl").exists()
    # an --out that is a file, a video root that does not exist: one line each
    (tmp_path / "file").write_text("x")
    items.write_text(item(1, "bikes.mp4") + "\n")
    for args, needle in ((["--video-root", str(root), "--out", str(tmp_path / "file")], "is a file"),
                         (["--video-root", str(tmp_path / "nope"), "--out", str(tmp_path / "b")], "no such directory")):
        assert crpo_main(["bench", "build", "--items", str(items), *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, err


def test_an_output_path_under_a_file_is_one_line(tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    shutil.copy(VIDEOS / "bikes.mp4", root / "bikes.mp4")
    items = tmp_path / "items.jsonl"
    items.write_text(item(1, "bikes.mp4") + "\n")
    src = tmp_path / "videor1.json"
    src.write_text(json.dumps([{"problem_id": "a", "problem": "Which way?", "problem_type": "multiple choice",
                                "options": ["A. left", "B. right"], "solution": "<answer>A</answer>",
                                "path": "bikes.mp4"}]))
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    for args in (["data", "check", items, "--video-root", root, "--out", blocker / "clean.jsonl"],
                 ["data", "import", "--format", "videor1", src, "--out", blocker / "sub" / "items.jsonl"]):
        r = subprocess.run([sys.executable, "-m", "crpo.cli", *map(str, args)], capture_output=True, text=True,
                           timeout=60)
        errors = [l for l in r.stderr.splitlines() if l.startswith("error")]
        assert r.returncode == 2 and len(errors) == 1 and f"{blocker} is a file" in errors[0], r.stderr
        assert "Traceback" not in r.stderr


def test_bench_build_materialize_drops_a_cut_video_instead_of_writing_a_short_twin(tmp_path, capsys):
    root = tmp_path / "videos"
    root.mkdir()
    faststart(VIDEOS / "bikes.mp4", root / "whole.mp4")
    cut(root / "whole.mp4", root / "cut.mp4", 0.5)
    rows = [{"id": name, "video": f"{name}.mp4", "question": "What colour is the car?", "options": ["red", "blue"],
             "answer": "A", "start": 0.0, "end": 1.0} for name in ("whole", "cut")]
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert crpo_main(["bench", "build", "--items", str(items), "--video-root", str(root), "--out",
                      str(tmp_path / "bench"), "--materialize"]) == 0
    err = capsys.readouterr().err
    assert "dropped cut: video 'cut.mp4' is truncated" in err, err
    assert {it.pair_id for it in load_items(tmp_path / "bench" / "bench.jsonl")} == {"whole"}
