"""The paper's question classes from the lexicon (crpo.routing.classes) on realistic questions, and the cache override.

The table holds TempCompass-shaped questions (its direction, order, attribute_change and speed aspects, their
categories as the importer sets them) and static ones. "unknown" is an expected answer where the lexicon cannot
know: those are the items the LLM router (`crpo route --llm`) is for.
"""
import pytest

from crpo.data.items import Item
from crpo.routing.classes import CLASS_RELATION, CLASS_TRANSFORM, QUESTION_CLASSES, question_class, relation_class


def mc(question, options, answer="A", category=None):
    return Item("mc", "v.mp4", question, answer, options=options, category=category)


def yn(question, answer="yes", category=None):
    return Item("yn", "v.mp4", question, answer, problem_type="yes_no", category=category)


def ff(question, answer, category=None):
    return Item("ff", "v.mp4", question, answer, problem_type="free_form", category=category)


def num(question, answer="3"):
    return Item("num", "v.mp4", question, answer, problem_type="numerical")


CAR = ["moving from left to right", "moving from right to left", "moving towards the camera", "not moving"]
PAN = ["panning left", "panning right", "zooming in", "zooming out"]
BRIGHT = ["it gets brighter", "it gets darker", "it does not change"]

CASES = [
    # TempCompass "direction": lateral motion is spatiotemporal, depth/vertical motion temporal, no motion static
    ("spatiotemporal", mc("In which direction is the car moving?", CAR, "A", "direction")),
    ("temporal", mc("In which direction is the car moving?", CAR, "C", "direction")),
    # "not moving": the router cannot close the option set under reversal ("towards the camera" has no listed
    # partner), but a mirror keeps the answer, so the item is trained as a static invariance twin (hflip, same)
    ("static", mc("In which direction is the car moving?", CAR, "D", "direction")),
    ("static", mc("In which direction is the car moving?", CAR[:2] + CAR[3:], "C", "direction")),
    ("spatiotemporal", mc("What is the direction of the camera movement?", PAN, "A", "direction")),
    ("spatiotemporal", mc("What is the rotation direction of the fan?", ["clockwise", "counterclockwise"], "B",
                          "direction")),
    ("temporal", mc("In which direction does the ball bounce?", ["upward", "downward"], "A", "direction")),
    ("temporal", mc("Does the person walk toward or away from the camera?",
                    ["toward the camera", "away from the camera"], "A", "direction")),
    ("spatiotemporal", yn("Is the car moving from left to right?", "yes", "direction")),
    # a "no" is not known to flip under a reversal (the car may be moving sideways); a mirror keeps it
    ("static", yn("Is the car moving towards the camera?", "no", "direction")),
    ("spatiotemporal", ff("Which way does the ball roll?", "to the left")),
    # TempCompass "order"
    ("temporal", mc("What is the sequence of the actions in the video?",
                    ["first pour the water, then stir the tea", "first stir the tea, then pour the water"], "A",
                    "order")),
    ("temporal", mc("Which sentence better describes the video?",
                    ["A man first pours water and then stirs the tea.",
                     "A man first stirs the tea and then pours water."], "B", "order")),
    ("temporal", mc("What does the woman do after picking up the phone?", ["she sits down", "she opens the door"],
                    "A", "order")),
    ("temporal", yn("Does the man open the door before sitting down?", "yes", "order")),
    ("temporal", mc("Which object appears first?", ["the red square", "the blue circle", "the green star"], "C")),
    # TempCompass "attribute_change": a transition turns around under reversal; "no change" stays
    ("temporal", mc("How does the color of the sky change?", ["from blue to orange", "from orange to blue",
                                                              "it stays the same"], "A", "attribute_change")),
    ("temporal", mc("How does the size of the balloon change?", ["it grows larger", "it shrinks", "it stays the same"],
                    "B", "attribute_change")),
    ("temporal", mc("How is the water level in the glass changing?", ["rising", "falling", "staying the same"], "A",
                    "attribute_change")),
    ("temporal", mc("How does the brightness of the room change?", BRIGHT, "A", "attribute_change")),
    ("static", mc("How does the brightness of the room change?", BRIGHT, "C", "attribute_change")),
    ("temporal", mc("Is the door opening or closing?", ["opening", "closing"], "B")),
    ("temporal", yn("Is the door opening?", "yes")),
    ("static", yn("Is the door opening?", "no")),
    # TempCompass "speed": acceleration flips under reversal; a playback speed ("slow motion", "sped up",
    # "fast forward") does not
    ("temporal", mc("What is the speed of the car?", ["speeding up", "slowing down", "constant speed"], "A", "speed")),
    ("temporal", mc("How does the speed of the car change?", ["it accelerates", "it decelerates",
                                                               "it stays constant"], "B", "speed")),
    # playback speed: a reversal may or may not read as another speed, a mirror certainly keeps it
    ("static", mc("Is the video played at normal speed, slow motion or fast forward?",
                   ["normal speed", "slow motion", "fast forward"], "B", "speed")),
    # spatial: a mirror changes the answer, a reversal does not
    ("spatial", mc("Is the person standing on the left or right side of the frame?", ["left", "right"], "A")),
    ("spatial", mc("Where is the dog sitting relative to the man?", ["to his left", "to his right"], "B")),
    ("spatial", yn("Is the cat on the left of the sofa?", "yes")),
    ("spatial", mc("Which hand does the man use to hold the cup?", ["his left hand", "his right hand"], "A")),
    ("spatial", mc("Which side of the road is the car driving on?", ["the left side", "the right side"], "A")),
    # static
    ("static", mc("What color is the car?", ["red", "blue", "green", "white"], "A")),
    ("static", mc("What is the color of the flower?", ["red", "yellow", "white"], "B", "attribute")),
    ("static", mc("How many people are in the video?", ["one", "two", "three", "four"], "B")),
    ("static", num("How many dogs are there?", "2")),
    ("static", mc("What is the woman wearing?", ["a red dress", "a blue coat"], "A")),
    ("static", ff("What shape is the object?", "a square")),
    ("static", yn("Is the ball red?", "yes")),
    # the lexicon does not know: left to the LLM router, never guessed
    ("unknown", mc("What is the man doing?", ["playing guitar", "swimming", "cooking", "dancing"], "A", "action")),
    ("unknown", mc("What is on the left of the table?", ["a cup", "a lamp"], "A")),
]


@pytest.mark.parametrize("expected,item", CASES, ids=[f"{i}-{c[1].question[:40]}" for i, c in enumerate(CASES)])
def test_question_class_on_realistic_questions(expected, item):
    assert question_class(item) == expected


def test_zoom_is_temporal():
    assert question_class(mc("What is the direction of the camera movement?", PAN, "C", "direction")) == "temporal"


@pytest.mark.parametrize("expected,item", [c for c in CASES if c[0] != "unknown"])
def test_class_agrees_with_its_relations(expected, item):
    """The transform a class trains with does to the answer what the class says (change, or keep for static)."""
    assert relation_class(item, CLASS_TRANSFORM[expected]) == CLASS_RELATION[expected]


def test_tables_cover_every_class():
    assert set(CLASS_TRANSFORM) == set(CLASS_RELATION) == set(QUESTION_CLASSES)
    assert {CLASS_RELATION[c] for c in QUESTION_CLASSES} == {"change", "same"}
    assert CLASS_TRANSFORM["spatiotemporal"] == "reverse"  # hflip+reverse would undo a lateral motion twice


def test_cached_class_wins_and_garbage_is_ignored():
    item = mc("What is the man doing?", ["playing guitar", "swimming"], "A", "action")
    assert question_class(item) == "unknown"
    assert question_class(item, cached="static") == "static"
    moving = mc("In which direction is the car moving?", CAR, "A", "direction")
    assert question_class(moving, cached="temporal") == "temporal"  # the LLM's decision beats the lexicon's
    for junk in (None, "unknown", "Temporal", "", "reverse"):
        assert question_class(moving, cached=junk) == "spatiotemporal"


def test_llm_class_that_contradicts_a_definite_rule_gets_no_branch():
    """Issue 23: a cached "static" on a left/right motion would pay repeating "left" on the mirrored clip."""
    from crpo.routing.classes import counterfactual_target
    ball = mc("Which direction does the ball move?", ["left", "right"], "A")
    assert counterfactual_target(ball, cached="static").skip == "llm_conflict"
    assert counterfactual_target(ball, cached={"class": "static", "source": "llm"}).skip == "llm_conflict"
    agrees = counterfactual_target(ball, cached="temporal")  # trains a reversal, which the rules say changes it
    assert (agrees.skip, agrees.transform, agrees.answer, agrees.source) == (None, "reverse", "B", "llm")
    # where the rules know nothing, the LLM's class is used
    doing = mc("What is the man doing?", ["cooking", "swimming"], "A")
    target = counterfactual_target(doing, cached="static")
    assert (target.skip, target.transform, target.relation, target.source) == (None, "hflip", "same", "llm")
