"""The LLM router's option maps (crpo/routing/llm_maps.py): parsing "Mirrored: / Reversed:" lines, caching them with
the class, and where training uses them: where the lexicon cannot map an answer, never over a definite rule.
The local endpoint, items and helpers are tests/test_llm_router.py's."""
import json

import pytest
from test_llm_router import ITEMS, REPLIES, mc, route, row, server  # noqa: F401  (server: the endpoint fixture)

from crpo.data.items import DataError, Item, write_jsonl
from crpo.routing.classes import counterfactual_target
from crpo.routing.llm import build_messages, load_route_cache, parse_reply
from crpo.routing.llm_maps import parse_map, parse_maps

ABC = ("A", "B", "C")


@pytest.mark.parametrize("line,expected", [
    ("Reversed: A=B, B=A, C=C", {"A": "B", "B": "A", "C": "C"}),
    ("**Reversed:** A -> B; B -> A; C -> none", {"A": "B", "B": "A", "C": "none"}),
    ("Reversed: A→B, B→A, C→not listed", {"A": "B", "B": "A", "C": "none"}),
    ("Reversed: A: B, B: A, C: N/A", {"A": "B", "B": "A", "C": "none"}),
    ("Reversed: A=B, B=A", None),                  # C missing
    ("Reversed: A=B, B=C, C=A", None),             # not its own inverse
    ("Reversed: A=B, B=none, C=C", None),          # B -> none but A -> B
    ("Reversed: A=B, B=A, C=C, A=C", None),        # A twice, differently
    ("Reversed: A=D, B=B, C=C", None),             # D is no option
    ("Reversed: a=b, b=a, c=c", None),             # lower-case letters are words, not options
])
def test_parse_map(line, expected):
    assert parse_map(line, ABC) == expected


def test_parse_maps_last_line_per_transform_and_yes_no():
    body = "Class: spatiotemporal\nMirrored: A=A, B=B, C=C\nMirrored: A=B, B=A, C=C\nReversed: A=B, B=A, C=none"
    assert parse_maps(body, ABC) == {"hflip": {"A": "B", "B": "A", "C": "C"},
                                     "reverse": {"A": "B", "B": "A", "C": "none"}}
    assert parse_maps("Class: temporal\nReversed: yes=no, no=yes", ("yes", "no")) == {
        "hflip": None, "reverse": {"yes": "no", "no": "yes"}}
    assert parse_maps("Class: static", ABC) == {"hflip": None, "reverse": None}
    assert parse_maps("Class: static", None) is None  # free-form items are not asked
    assert parse_reply("Class: temporal\nMirrored: A=A, B=B\nReversed: A=B, B=A") == "temporal"
    assert parse_reply("temporal\nMirrored: A=A, B=B\nReversed: A=B, B=A") == "temporal"


def test_prompt_asks_for_the_maps_of_items_with_options_only():
    assert "Reversed: A=?, B=?" in build_messages(ITEMS[2])[0]["content"]
    assert "Reversed: yes=?, no=?" in build_messages(ITEMS[5])[0]["content"]
    free = Item("f", "f.mp4", "What does the man do?", "He opens the door.", problem_type="free_form")
    assert "Reversed:" not in build_messages(free)[0]["content"]


def row_with(cls, reverse=None, hflip=None):
    return {"id": "x", "class": cls, "source": "llm", "maps": {"hflip": hflip, "reverse": reverse}}


def test_llm_map_answers_where_the_lexicon_cannot_and_never_over_a_rule():
    kneel = mc("kneel", "What is the woman doing?", ["kneeling down", "getting up", "dancing"], "A")
    assert counterfactual_target(kneel, cached="temporal").answer is None  # the lexicon cannot map it
    target = counterfactual_target(kneel, cached=row_with("temporal", {"A": "B", "B": "A", "C": "C"}))
    assert (target.transform, target.answer, target.answer_source, target.source) == ("reverse", "B", "llm", "llm")
    assert target.option_map == {"A": "B", "B": "A", "C": "C"}
    gone = counterfactual_target(kneel, cached=row_with("temporal", {"A": "none", "B": "B", "C": "C"}))
    assert (gone.answer, gone.unlisted, gone.option_map, gone.answer_source) == (None, True, None, "llm")
    # a map that keeps the answer contradicts the class's "change": not used
    keeps = counterfactual_target(kneel, cached=row_with("temporal", {"A": "A", "B": "B", "C": "C"}))
    assert (keeps.skip, keeps.answer, keeps.answer_source) == (None, None, None)
    # the rules map left <-> right: an LLM map that says otherwise removes the branch
    ball = mc("ball", "Which direction does the ball move?", ["left", "right", "up"], "A")
    agree = counterfactual_target(ball, cached=row_with("spatiotemporal", {"A": "B", "B": "A", "C": "none"}))
    assert (agree.answer, agree.answer_source, agree.skip) == ("B", "lexicon", None)
    clash = counterfactual_target(ball, cached=row_with("spatiotemporal", {"A": "C", "B": "B", "C": "A"}))
    assert clash.skip == "llm_conflict"


def test_endpoint_maps_are_cached_and_old_rows_stay_valid(server, tmp_path, capsys):
    question = "What is the woman doing?"
    REPLIES[question] = "She kneels; backwards she gets up.\nClass: temporal\nMirrored: A=A, B=B, C=C\n" \
                        "Reversed: A=B, B=A, C=C"
    items = tmp_path / "items.jsonl"
    write_jsonl(items, [mc("kneel", question, ["kneeling down", "getting up", "dancing"], "A")])
    cache = tmp_path / "route.jsonl"
    cache.write_text(row("old") + "\n")  # a row from before maps existed
    try:
        rc, out, err = route(capsys, items, "--llm", server.url, "--cache", cache)
    finally:
        del REPLIES[question]
    assert rc == 0, err
    rows = load_route_cache(cache)
    assert "maps" not in rows["old"]
    assert rows["kneel"]["maps"] == {"hflip": {"A": "A", "B": "B", "C": "C"}, "reverse": {"A": "B", "B": "A", "C": "C"}}
    target = counterfactual_target(load_items_one(items), cached=rows["kneel"])
    assert (target.transform, target.answer, target.answer_source) == ("reverse", "B", "llm")
    rc, out, _ = route(capsys, items, "--cache", cache)
    printed = json.loads(out)
    assert (printed["train_transform"], printed["train_answer"], printed["train_answer_source"]) == (
        "reverse", "B", "llm")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**json.loads(row("a")), "maps": {"reverse": ["A", "B"]}}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:1: item 'a': maps\['reverse'\] must be null or an object"):
        load_route_cache(bad)


def load_items_one(path):
    from crpo.data.items import load_items
    (item,) = load_items(path)
    return item


def test_training_plans_read_the_cache_rows_load_route_cache_returns(tmp_path):
    """The trainer passes load_route_cache(...)[item.id] to the algorithm's plan: its counterfactual branch's truth
    is the LLM map's answer where the rules cannot map, and a conflicting row gives 2G original rollouts, noted."""
    import numpy as np

    from crpo.data.video import Clip
    from crpo.rl.methods import METHODS
    from crpo.training.config import TrainConfig

    kneel = mc("kneel", "What is the woman doing?", ["kneeling down", "getting up", "dancing"], "A")
    ball = mc("ball", "Which direction does the ball move?", ["left", "right"], "A")
    cache = tmp_path / "route.jsonl"
    cache.write_text(json.dumps({**row_with("temporal", {"A": "B", "B": "A", "C": "C"}), "id": "kneel"}) + "\n"
                     + json.dumps({**row_with("static"), "id": "ball"}) + "\n")
    rows = load_route_cache(cache)
    clip = Clip(np.zeros((2, 4, 4, 3), np.uint8), 2.0, np.arange(2), (4, 4), 1.0)
    cfg = TrainConfig(num_generations=2)
    plan = METHODS["crpo"].plan(0, kneel, clip, cfg, rows.get("kneel"))
    assert [b.name for b in plan.branches] == ["orig", "cf"] and plan.branches[1].truth == "B"
    assert plan.target.answer_source == "llm"
    conflict = METHODS["crpo"].plan(0, ball, clip, cfg, rows.get("ball"))
    assert [b.name for b in conflict.branches] == ["orig", "orig"] and conflict.notes
