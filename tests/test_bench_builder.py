"""The paired-benchmark builder: twins, answers, counts, dropped items, and materialised twin videos."""
import numpy as np
import pytest
from shared_data import BIKES

from crpo.bench.builder import build_bench, decode_all
from crpo.cli import main as cli_main
from crpo.data.items import Item, load_items, write_jsonl
from crpo.data.video_write import write_video


def source_items() -> list[Item]:
    return [
        Item("dir", "bikes.mp4", "Which direction does the car move?", "A", options=["left", "right"]),
        Item("door", "bikes.mp4", "Is the door opening?", "yes", problem_type="yes_no"),
        Item("colour", "bikes.mp4", "What colour is the car?", "B", options=["red", "blue"]),
        Item("count", "bikes.mp4", "How many cars are there?", "3", problem_type="numerical"),
        Item("vague", "bikes.mp4", "What is the man doing?", "A", options=["cooking", "dancing"]),
        Item("twin", "bikes.mp4", "Is the door opening?", "no", problem_type="yes_no", transform="reverse"),
    ]


def test_twins_counts_and_dropped(tmp_path, capsys):
    write_jsonl(tmp_path / "items.jsonl", source_items())
    summary = build_bench(tmp_path / "items.jsonl", tmp_path, tmp_path / "bench")
    err = capsys.readouterr().err
    bench = {it.id: it for it in load_items(tmp_path / "bench" / "bench.jsonl")}
    assert set(bench) == {"dir", "dir__reverse", "door", "door__reverse", "colour", "colour__hflip",
                          "count", "count__hflip"}
    assert (bench["dir__reverse"].answer, bench["door__reverse"].answer) == ("B", "no")       # dynamic: changes
    assert (bench["colour__hflip"].answer, bench["count__hflip"].answer) == ("B", "3")        # static: stays
    for orig in ("dir", "door", "colour", "count"):
        twin = next(t for t in bench.values() if t.extra.get("twin_of") == orig)
        assert twin.pair_id == bench[orig].pair_id == orig
        assert twin.video == bench[orig].video == "bikes.mp4"  # not materialised: transformed at load time
        assert twin.category == bench[orig].category
        assert bench[orig].transform is None and twin.transform in ("reverse", "hflip")
    assert bench["dir__reverse"].extra["relation"] == "change" and bench["count__hflip"].extra["relation"] == "same"
    assert summary["pairs"] == 4
    assert summary["per_category"]["moving_direction"] == {"pairs": 1, "change": 1, "same": 0}
    assert summary["per_category"]["static_attribute"] == {"pairs": 1, "change": 0, "same": 1}
    reasons = dict(summary["dropped"])
    assert set(reasons) == {"vague", "twin"}
    assert "relation unknown" in reasons["vague"] and "already part of a pair" in reasons["twin"]
    assert "dropped vague:" in err and "dropped twin:" in err and "moving_direction: 1 pairs" in err


def test_materialized_twin_decodes_to_the_transform(tmp_path):
    av = pytest.importorskip("av")
    # A short real clip: the first 16 frames of bikes.mp4, cropped to 64x96 where it moves, to keep the test fast.
    frames = []
    with av.open(BIKES) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24")[200:264, 400:496])
            if len(frames) == 16:
                break
    root = tmp_path / "videos"
    root.mkdir()
    write_video(root / "clip.mp4", np.stack(frames), fps=25, crf=12)
    source, fps = decode_all(root / "clip.mp4")
    assert source.shape == (16, 64, 96, 3) and fps == pytest.approx(25)

    items = [Item("dir", "clip.mp4", "Which direction does the car move?", "A", options=["left", "right"]),
             Item("colour", "clip.mp4", "What colour is the car?", "B", options=["red", "blue"])]
    write_jsonl(tmp_path / "items.jsonl", items)
    assert cli_main(["bench", "build", "--items", str(tmp_path / "items.jsonl"), "--video-root", str(root),
                     "--out", str(tmp_path / "bench"), "--materialize"]) == 0
    bench = {it.id: it for it in load_items(tmp_path / "bench" / "bench.jsonl")}
    expected = {"dir__reverse": source[::-1], "colour__hflip": source[:, :, ::-1]}
    for twin_id, want in expected.items():
        twin = bench[twin_id]
        assert twin.transform is None and twin.extra["materialized"] == twin_id.split("__")[1]
        got, twin_fps = decode_all(root / twin.video)  # relative to the same video root as the originals
        assert got.shape == want.shape and twin_fps == pytest.approx(25)
        err = np.abs(got.astype(int) - want.astype(int)).mean()
        assert err < 4.0, f"{twin_id}: mean abs error {err:.2f} grey levels"
        # and clearly not the untransformed source: the check can fail
        assert np.abs(got.astype(int) - source.astype(int)).mean() > 2 * err
