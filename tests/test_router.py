"""The task router: categories, relations and counterfactual answers per transform, option maps, the CLI."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from crpo.data.items import DataError, Item, write_jsonl
from crpo.routing.llm import route_classes
from crpo.routing.rules import categorize, choose_transform, option_map, relation, route

ROOT = Path(__file__).resolve().parents[1]
TRAINING_KEYS = ("class", "class_transform", "train_transform", "train_skip", "train_answer",
                 "train_answer_source")  # what route_classes adds to route()


def mc(question, options, answer="A", **kw):
    return Item("mc", "v.mp4", question, answer, options=options, **kw)


def yn(question, answer="yes", **kw):
    return Item("yn", "v.mp4", question, answer, problem_type="yes_no", **kw)


def ff(question, answer, **kw):
    return Item("ff", "v.mp4", question, answer, problem_type="free_form", **kw)


def num(question, answer="3", **kw):
    return Item("num", "v.mp4", question, answer, problem_type="numerical", **kw)


U = ("unknown", None)

# (item, expected (relation, answer) under hflip, reverse, hflip+reverse)
CASES = [
    # moving direction: lateral swaps under both, vertical only under reverse; composition undoes lateral
    (mc("Which way do the stripes move?", ["left", "right", "up", "down"], "A"),
     ("change", "B"), ("change", "B"), ("same", "A")),
    (mc("Which way do the stripes move?", ["left", "right", "up", "down"], "C"),
     ("same", "C"), ("change", "D"), ("change", "D")),
    # morphology: -ward, "to the left", left-to-right, motion words in the options
    (mc("How does the ball move?", ["moving leftward", "moving rightward"], "A"),
     ("change", "B"), ("change", "B"), ("same", "A")),
    (mc("Which direction does the car travel?", ["left-to-right", "right-to-left"], "B"),
     ("change", "A"), ("change", "A"), ("same", "B")),
    (mc("Where does the ball go?", ["to the left", "to the right", "upwards"], "B"),
     ("change", "A"), ("change", "A"), ("same", "B")),
    (mc("Is the car moving toward or away from the camera?", ["toward the camera", "away from the camera"], "A"),
     ("same", "A"), ("change", "B"), ("change", "B")),
    (mc("Does the person walk forward or backward?", ["forward", "backward"], "A"),
     ("same", "A"), ("change", "B"), ("change", "B")),
    # rotation: mirror and reversal both swap the sense, synonyms match
    (mc("Which way does the disk rotate?", ["clockwise", "counterclockwise"], "A"),
     ("change", "B"), ("change", "B"), ("same", "A")),
    (mc("Which way does the wheel spin?", ["Counter-clockwise", "clockwise"], "B"),
     ("change", "A"), ("change", "A"), ("same", "B")),
    (mc("Which way does the wheel spin?", ["clockwise", "anticlockwise"], "B"),
     ("change", "A"), ("change", "A"), ("same", "B")),
    # reversible dynamics: invariant under a mirror, swapped by reversal
    (mc("Is the square growing or shrinking?", ["growing", "shrinking"], "A"),
     ("same", "A"), ("change", "B"), ("change", "B")),
    (mc("Does the box fill or empty?", ["fills", "empties"], "B"), ("same", "B"), ("change", "A"), ("change", "A")),
    (mc("Does it fade in or fade out?", ["fade in", "fade out"], "A"),
     ("same", "A"), ("change", "B"), ("change", "B")),
    (mc("Is the door opening or closing?", ["opening", "closing"], "B"),
     ("same", "B"), ("change", "A"), ("change", "A")),
    (mc("What does the man do with the cup?", ["picks up the cup", "puts down the cup", "drinks from it"], "A"),
     ("same", "A"), ("change", "B"), ("change", "B")),
    (mc("Does the man enter or leave the room?", ["enters", "exits"], "A"),
     ("same", "A"), ("change", "B"), ("change", "B")),
    (mc("What happens to the car?", ["it speeds up", "it slows down"], "A"),
     ("same", "A"), ("change", "B"), ("change", "B")),
    (mc("What happens to the lamp?", ["it is turned on", "it is turned off"], "B"),
     ("same", "B"), ("change", "A"), ("change", "A")),
    # event order: first/last selector with two options swaps them; sequences reverse
    (mc("Which object appears first?", ["the red square", "the blue circle"], "A"),
     ("same", "A"), ("change", "B"), ("change", "B")),
    (mc("Which object disappears last?", ["the red square", "the blue circle"], "B"),
     ("same", "B"), ("change", "A"), ("change", "A")),
    (mc("In what order do the objects appear?", ["red, green, blue", "blue, green, red", "green, red, blue"], "A"),
     ("same", "A"), ("change", "B"), ("change", "B")),
    (mc("How does the ball move?", ["up then left", "right then down", "down then up"], "A"),
     U, ("change", "B"), U),
    (mc("What happens?", ["the box opens, then the light turns on", "the light turns off, then the box closes"]),
     ("same", "A"), ("change", "B"), ("change", "B")),
    (mc("When does the ball bounce?", ["at the beginning", "in the middle", "at the end"], "C"),
     ("same", "C"), ("change", "A"), ("change", "A")),
    # static attributes and counts: same under both
    (mc("What colour is the object?", ["red", "green", "blue"], "B"), ("same", "B"), ("same", "B"), ("same", "B")),
    (mc("What is the man wearing?", ["a hat", "a scarf"], "A"), ("same", "A"), ("same", "A"), ("same", "A")),
    (num("How many objects are there?", "3"), ("same", "3"), ("same", "3"), ("same", "3")),
    (num("How many times does the ball bounce?", "2"), ("same", "2"), ("same", "2"), ("same", "2")),
    # static spatial: swap under a mirror, stay under reversal
    (mc("Which side is the ball on?", ["left", "right"], "A"), ("change", "B"), ("same", "A"), ("change", "B")),
    (mc("Which way is the dog facing?", ["left", "right"], "B"), ("change", "A"), ("same", "B"), ("change", "A")),
    (mc("Which object is leftmost?", ["the cup", "the plate"], "A"), ("change", "B"), ("same", "A"), ("change", "B")),
    (yn("Is the red object left of the blue one?", "yes"), ("change", "no"), ("same", "yes"), ("change", "no")),
    # a "no" flips only for where things stand (one side or the other), not for a motion: the ball may move up
    # (TempCompass: 64 of 206 "no" answers stay "no" on the reversed video)
    (yn("Is the cup on the right side of the table?", "no"), ("change", "yes"), ("same", "no"), ("change", "yes")),
    # yes/no asserting one dynamic term flips
    (yn("Is the ball moving left?", "no"), U, U, U),
    (yn("Does the ball move from left to right?", "yes"), ("change", "no"), ("change", "no"), ("same", "yes")),
    (yn("Does the door open?", "yes"), ("same", "yes"), ("change", "no"), ("change", "no")),
    (yn("Is the disk rotating clockwise?", "yes"), ("change", "no"), ("change", "no"), ("same", "yes")),
    (yn("Does the red square appear before the blue circle?", "yes"), ("same", "yes"), ("change", "no"),
     ("change", "no")),
    (yn("Is the object red?", "yes"), ("same", "yes"), ("same", "yes"), ("same", "yes")),
    # free form: a single term swaps (first partner listed); synonyms compare equal
    (ff("Which way does the ball move?", "left"), ("change", "right"), ("change", "right"), ("same", "left")),
    (ff("Which way does the disk rotate?", "counter-clockwise"), ("change", "clockwise"), ("change", "clockwise"),
     ("same", "counterclockwise")),
    (ff("What happens to the balloon?", "it inflates"), ("same", "it inflates"), ("change", "it deflates"),
     ("change", "it deflates")),
    (ff("What colour is the car?", "red"), ("same", "red"), ("same", "red"), ("same", "red")),
]

UNKNOWN_CASES = [
    # position or motion? both cues at once
    (mc("Which side does the ball move to?", ["left", "right"]), "reverse"),
    # direction words with nothing saying motion or position
    (mc("Left or right?", ["left", "right"]), "reverse"),
    # the swapped option is not among the options
    (mc("Which way does the ball move?", ["left", "right", "up"], "C"), "reverse"),
    (mc("How does the ball move?", ["up then left", "right then down"], "A"), "hflip"),
    # first/last over more than two options: the reversed order of the rest is unknown
    (mc("Which object appears first?", ["the red square", "the blue circle", "the green star"]), "reverse"),
    # the question asserts a term and the answer is not a direction: which object is "on the right" now?
    (mc("What colour is the ball moving left?", ["red", "blue"]), "hflip"),
    (mc("What colour is the ball moving left?", ["red", "blue"]), "reverse"),
    (mc("What happens after the box opens?", ["the light turns on", "the dog barks"]), "reverse"),
    # two synonyms of the swapped option: ambiguous
    (mc("Which way does the wheel spin?", ["clockwise", "counterclockwise", "anticlockwise"]), "reverse"),
    # yes/no mixing term groups, a moment locator, or offering alternatives
    (yn("Is the ball moving up and to the left?"), "reverse"),
    (yn("Is the ball on the left at the end?"), "reverse"),
    (yn("Is the square growing or shrinking?"), "reverse"),
    (yn("Does the ball go up then down?"), "reverse"),
    # "left" as the verb leave is not a direction, and the item is not known to be static
    (yn("Has the man left the room?"), "hflip"),
    # counts of directed events, free text with several terms
    (num("How many objects move left?", "2"), "hflip"),
    (num("How many objects appear?", "2"), "reverse"),
    (ff("What happens?", "the ball moves left then up"), "reverse"),
    # unknown category and nothing in the text to go on
    (mc("What is the man doing?", ["walking", "sitting"]), "reverse"),
    (mc("What is the man doing?", ["walking", "sitting"]), "hflip"),
    (mc("What is the man doing?", ["walking", "sitting"]), "hflip+reverse"),
]


@pytest.mark.parametrize("item,hflip,reverse,both", CASES, ids=[c[0].question for c in CASES])
def test_relation_table(item, hflip, reverse, both):
    assert relation(item, "hflip") == hflip
    assert relation(item, "reverse") == reverse
    assert relation(item, "hflip+reverse") == both


@pytest.mark.parametrize("item,transform", UNKNOWN_CASES, ids=[f"{c[1]}:{c[0].question}" for c in UNKNOWN_CASES])
def test_unknown_when_ambiguous(item, transform):
    assert relation(item, transform) == ("unknown", None)


@pytest.mark.parametrize("item,expected", [
    (mc("Which way do the stripes move?", ["left", "right", "up", "down"]), "moving_direction"),
    (mc("Which way does the disk rotate?", ["clockwise", "counterclockwise"]), "rotation"),
    (mc("Is the square growing or shrinking?", ["growing", "shrinking"]), "reversible_dynamics"),
    (mc("Which object appears first?", ["the red square", "the blue circle"]), "event_sequence"),
    (mc("What colour is the object?", ["red", "green"]), "static_attribute"),
    (mc("Which side is the ball on?", ["left", "right"]), "static_spatial"),
    (yn("Is the red object left of the blue one?"), "static_spatial"),
    (num("How many objects are there?"), "counting"),
    (ff("Which way does the ball move?", "left"), "moving_direction"),
    (mc("What is the man doing?", ["walking", "sitting"]), "other"),
    # an annotated category wins; an unknown one is ignored
    (mc("What colour is the object?", ["red", "green"], category="event_sequence"), "event_sequence"),
    (mc("What colour is the object?", ["red", "green"], category="Colour QA"), "static_attribute"),
])
def test_categorize(item, expected):
    assert categorize(item) == expected


def test_annotated_category_decides_motion_context_and_static_default():
    item = mc("Left or right?", ["left", "right"])
    assert relation(item, "reverse") == ("unknown", None)
    item.category = "moving_direction"
    assert relation(item, "reverse") == ("change", "B")
    item.category = "static_spatial"
    assert relation(item, "reverse") == ("same", "A")
    walking = mc("What is the man doing?", ["walking", "sitting"], category="static_attribute")
    assert relation(walking, "reverse") == ("same", "A")


def test_option_maps():
    stripes = mc("Which way do the stripes move?", ["left", "right", "up", "down"])
    assert option_map(stripes, "hflip") == {"A": "B", "B": "A", "C": "C", "D": "D"}
    assert option_map(stripes, "reverse") == {"A": "B", "B": "A", "C": "D", "D": "C"}
    assert option_map(stripes, "hflip+reverse") == {"A": "A", "B": "B", "C": "D", "D": "C"}
    # one option without a partner: no map, though the answer's own relation is known
    three = mc("Which way does the ball move?", ["left", "right", "up"])
    assert option_map(three, "reverse") is None and relation(three, "reverse") == ("change", "B")
    # an option without terms keeps its place when the option set is closed under the transform
    still = mc("How does the ball move?", ["moving left", "moving right", "not moving"], "C")
    assert option_map(still, "reverse") == {"A": "B", "B": "A", "C": "C"}
    assert relation(still, "reverse") == ("same", "C")
    # yes/no: only "yes" is known to flip, so there is no whole map
    assert option_map(yn("Is the ball moving left?"), "hflip") is None
    assert relation(yn("Is the ball moving left?"), "hflip+reverse") == ("same", "yes")
    assert option_map(yn("Is the ball moving up and to the left?"), "reverse") is None
    assert option_map(num("How many objects are there?"), "hflip") is None
    assert option_map(ff("Which way?", "left"), "hflip") is None


MAPPABLE = [c[0] for c in CASES if c[0].problem_type in ("multiple_choice", "yes_no")]


@pytest.mark.parametrize("item", MAPPABLE, ids=[i.question for i in MAPPABLE])
def test_option_map_is_an_involution_consistent_with_relation(item):
    keys = ("yes", "no") if item.problem_type == "yes_no" else tuple("ABCDEFGH"[:len(item.options)])
    for t in ("hflip", "reverse", "hflip+reverse"):
        m = option_map(item, t)
        if m is None:
            continue
        assert sorted(m) == sorted(keys) and sorted(m.values()) == sorted(keys), (t, m)  # a permutation
        assert {k: m[m[k]] for k in keys} == {k: k for k in keys}, (t, m)              # applied twice: identity
        rel, answer = relation(item, t)
        original = item.answer.lower() if item.problem_type == "yes_no" else item.answer
        assert answer == m[original] and rel == ("same" if answer == original else "change")


def test_explicit_annotation_wins():
    item = mc("Which way do the stripes move?", ["left", "right"], "A",
              counterfactual={"reverse": {"relation": "same", "answer": "A"}})
    assert relation(item, "reverse") == ("same", "A")
    assert option_map(item, "reverse") == {"A": "A", "B": "B"}
    assert relation(item, "hflip") == ("change", "B")            # rules still decide the other transforms
    assert relation(item, "hflip+reverse") == ("change", "B")    # composed with the annotated reverse
    assert option_map(item, "hflip+reverse") == {"A": "B", "B": "A"}
    assert choose_transform(item) == "hflip"
    # an annotation can make a rule-less item known, and may give the answer as option text
    walking = mc("What is the man doing?", ["walking", "sitting", "running"], "A",
                 counterfactual={"hflip": {"answer": "walking"}, "reverse": {"relation": "change", "answer": "running"}})
    assert relation(walking, "hflip") == ("same", "A")
    assert relation(walking, "reverse") == ("change", "C")
    assert option_map(walking, "reverse") is None                 # B is not known
    assert relation(walking, "hflip+reverse") == ("change", "C")
    # "change" without an answer names the other answer of a binary question
    assert relation(yn("Is it so?", "no", counterfactual={"reverse": {"relation": "change"}}), "reverse") == \
        ("change", "yes")
    assert relation(mc("Which way?", ["left", "right"], counterfactual={"hflip": {"relation": "unknown"}}),
                    "hflip") == ("unknown", None)
    explicit_both = mc("Which way do the stripes move?", ["left", "right"],
                       counterfactual={"hflip+reverse": {"relation": "change", "answer": "B"}})
    assert relation(explicit_both, "hflip+reverse") == ("change", "B")


@pytest.mark.parametrize("annotation,reason", [
    ({"reverse": {"relation": "flips"}}, "relation 'flips'"),
    ({"mirror": {"relation": "same"}}, "unknown transform 'mirror'"),
    ({"reverse": {"relation": "same", "answer": "B"}}, "says 'same'"),
    ({"reverse": {"answer": "diagonal"}}, "neither an option letter"),
    ({"reverse": "B"}, "must be an object"),
])
def test_bad_annotation_is_a_clear_error(annotation, reason):
    item = mc("Which way?", ["left", "right"], counterfactual=annotation)
    with pytest.raises(DataError, match=reason):
        route(item)


@pytest.mark.parametrize("item,expected", [
    (mc("Which way do the stripes move?", ["left", "right"]), "reverse"),
    (mc("Is the square growing or shrinking?", ["growing", "shrinking"]), "reverse"),
    (mc("Which side is the ball on?", ["left", "right"]), "hflip"),                   # only the mirror changes it
    (mc("What colour is the object?", ["red", "green"]), "hflip"),                    # invariance twin
    (num("How many objects are there?"), "hflip"),
    (mc("Which way does the ball move?", ["left", "right", "up"], "C"), "hflip"),     # reverse unknown, hflip same
    (mc("What is the man doing?", ["walking", "sitting"]), None),
    (mc("What colour is the ball moving left?", ["red", "blue"]), None),
])
def test_choose_transform(item, expected):
    assert choose_transform(item) == expected


def _items_file(tmp_path):
    items = [mc("Which way do the stripes move?", ["left", "right", "up", "down"], "C"),
             yn("Is the red object left of the blue one?", "yes"),
             num("How many objects are there?", "4")]
    for i, item in enumerate(items):
        item.id = f"item{i}"
    path = tmp_path / "items.jsonl"
    write_jsonl(path, items)
    return path, items


def test_route_file(tmp_path):
    path, items = _items_file(tmp_path)
    rows = [{k: v for k, v in r.items() if k not in TRAINING_KEYS} for r in route_classes(path)]
    assert [r["id"] for r in rows] == ["item0", "item1", "item2"]
    assert rows[0] == {"id": "item0", "category": "moving_direction",
                       "hflip": {"relation": "same", "answer": "C"}, "reverse": {"relation": "change", "answer": "D"},
                       "hflip+reverse": {"relation": "change", "answer": "D"}, "transform": "reverse"}
    assert rows[1]["hflip"] == {"relation": "change", "answer": "no"} and rows[1]["transform"] == "hflip"
    assert rows[2]["reverse"] == {"relation": "same", "answer": "4"}
    assert rows == [route(i) for i in items]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "b", "video": "v.mp4", "question": "Which way?", "answer": "A",
                               "options": ["left", "right"], "counterfactual": {"reverse": {"relation": "x"}}}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl: item 'b'"):
        list(route_classes(bad))


def test_cli_route_prints_one_json_line_per_item(tmp_path):
    path, items = _items_file(tmp_path)
    python = ROOT / ".venv" / "bin" / "python"
    out = subprocess.run([str(python if python.exists() else sys.executable), "-m", "crpo.cli", "route", str(path)],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert len(lines) == len(items)
    rows = [json.loads(line) for line in lines]
    from crpo.routing.classes import CLASS_TRANSFORM, question_class
    assert [{k: v for k, v in r.items() if k not in TRAINING_KEYS} for r in rows] == [route(i) for i in items]
    assert [r["class"] for r in rows] == [question_class(i) for i in items]
    assert [r["class_transform"] for r in rows] == [CLASS_TRANSFORM.get(r["class"]) for r in rows]
    # issue 19 case 17: the row says which transform training uses (the class's), or why there is none
    assert [(r["train_transform"], r["train_skip"]) for r in rows] == [("reverse", None), ("hflip", None),
                                                                        ("hflip", None)]
    assert [(r["train_answer"], r["train_answer_source"]) for r in rows] == [("D", "lexicon"), ("no", "lexicon"),
                                                                              ("4", "lexicon")]
