"""The router's words: pairs of terms that a transform swaps, and the cue patterns that decide context.

Plain data, kept apart from the rules in crpo/router.py so that extending the vocabulary never touches logic.
"""
from __future__ import annotations

import re

# ---------------------------------------------------------------------------------------------------------------
# Lexicon: plain data. Each group is a dict of pairs (one partner of each pair per key, both directions implied);
# words and phrases are in normalised form (lower case, punctuation and hyphens turned into spaces), so
# "counter-clockwise" is "counter clockwise" and "left-to-right" swaps word by word to "right to left". A word
# may have several partners ("clockwise" -> "counterclockwise" or "anticlockwise"): an option matches any of
# them; free-form answers take the first one listed.

ROTATION = {"clockwise": "counterclockwise", "anticlockwise": "clockwise", "counter clockwise": "clockwise",
            "anti clockwise": "clockwise"}

# Mirror: only lateral words change (and with them the sense of rotation). Positions swap too: "left of" -> "right of".
HFLIP_LEXICON = {
    "lateral": {"left": "right", "leftward": "rightward", "leftwards": "rightwards"},
    "selector": {"leftmost": "rightmost"},
    "rotation": ROTATION,
}

# Reversal, direction words: swapped only when the text describes motion ("moves left"), kept when it describes
# position ("left of the box", "which side is it on"); unknown when the text does not say which.
MOTION_LEXICON = {
    "lateral": {"left": "right", "leftward": "rightward", "leftwards": "rightwards"},
    "vertical": {"up": "down", "upward": "downward", "upwards": "downwards", "upstairs": "downstairs"},
    "depth": {"toward": "away from", "towards": "away from", "away": "toward", "closer": "farther",
              "further": "closer", "nearer": "farther"},
    "heading": {"forward": "backward", "forwards": "backwards"},
}

# Reversal, change words: an event played backwards is its opposite event.
CHANGE_LEXICON = {
    "open": {"open": "close", "opens": "closes", "opening": "closing", "opened": "closed"},
    "appear": {"appear": "disappear", "appears": "disappears", "appearing": "disappearing",
               "appeared": "disappeared", "appearance": "disappearance"},
    "enter": {"enter": "leave", "exit": "enter", "enters": "leaves", "exits": "enters", "entering": "leaving",
              "exiting": "entering", "entered": "exited", "has left": "has entered", "have left": "have entered",
              "had left": "had entered"},
    "arrive": {"arrive": "depart", "arrives": "departs", "arriving": "departing", "arrived": "departed"},
    "rise": {"rise": "fall", "rises": "falls", "rising": "falling", "rose": "fell", "risen": "fallen"},
    "ascend": {"ascend": "descend", "ascends": "descends", "ascending": "descending", "ascended": "descended",
               "ascent": "descent"},
    "fill": {"fill": "empty", "fills": "empties", "filling": "emptying", "filled": "emptied", "fill up": "empty",
             "fills up": "empties", "filling up": "emptying", "filled up": "emptied"},
    "grow": {"grow": "shrink", "grows": "shrinks", "growing": "shrinking", "grew": "shrank", "grown": "shrunk",
             "getting bigger": "getting smaller", "getting larger": "getting smaller", "gets bigger": "gets smaller",
             "gets larger": "gets smaller"},
    "increase": {"increase": "decrease", "increases": "decreases", "increasing": "decreasing",
                 "increased": "decreased"},
    "expand": {"expand": "contract", "expands": "contracts", "expanding": "contracting", "expanded": "contracted",
               "expansion": "contraction"},
    "inflate": {"inflate": "deflate", "inflates": "deflates", "inflating": "deflating", "inflated": "deflated"},
    "brighten": {"brighten": "darken", "brightens": "darkens", "brightening": "darkening",
                 "brightened": "darkened", "getting brighter": "getting darker", "gets brighter": "gets darker"},
    "zoom": {"zoom in": "zoom out", "zooms in": "zooms out", "zooming in": "zooming out", "zoomed in": "zoomed out"},
    "fade": {"fade in": "fade out", "fades in": "fades out", "fading in": "fading out", "faded in": "faded out"},
    "speed": {"speed up": "slow down", "speeds up": "slows down", "speeding up": "slowing down",
              "sped up": "slowed down", "accelerate": "decelerate", "accelerates": "decelerates",
              "accelerating": "decelerating", "accelerated": "decelerated", "acceleration": "deceleration"},
    "approach": {"approach": "recede", "approaches": "recedes", "approaching": "receding", "approached": "receded"},
    "pick": {"pick up": "put down", "picks up": "puts down", "picking up": "putting down", "picked up": "put down"},
    "switch": {"turn on": "turn off", "turns on": "turns off", "turning on": "turning off",
               "turned on": "turned off", "switch on": "switch off", "switches on": "switches off",
               "switching on": "switching off", "switched on": "switched off"},
    "assemble": {"assemble": "disassemble", "assembles": "disassembles", "assembling": "disassembling",
                 "assembled": "disassembled", "assembly": "disassembly"},
    "attach": {"attach": "detach", "attaches": "detaches", "attaching": "detaching", "attached": "detached"},
    "fold": {"fold": "unfold", "folds": "unfolds", "folding": "unfolding", "folded": "unfolded"},
    "dress": {"put on": "take off", "puts on": "takes off", "putting on": "taking off", "took off": "put on"},
    "insert": {"put in": "take out", "puts in": "takes out", "putting in": "taking out", "took out": "put in"},
    "sit": {"sit down": "stand up", "sits down": "stands up", "sitting down": "standing up", "sat down": "stood up"},
}

# Reversal, order words. A "selector" picks one of the events (two options swap); "relative" orders two named
# events; a "locator" points at a moment, whose content under reversal the text cannot tell.
ORDER_LEXICON = {
    "selector": {"first": "last", "earlier": "later", "earliest": "latest"},
    "relative": {"before": "after", "precede": "follow", "precedes": "follows", "preceding": "following",
                 "preceded": "followed"},
    "locator": {"start": "end", "beginning": "end", "begin": "end", "starts": "ends", "begins": "ends",
                "started": "ended", "began": "ended", "starting": "ending"},
}

# Phrases whose words are not terms (matched first, so "right" in "right away" is not a direction).
PLAIN_PHRASES = ("right away", "right now", "all right", "that s right", "right after", "right before")
# "left" is the verb leave when a perfect auxiliary precedes it and a determiner follows ("has the man left the
# room"); such a "left" is read as a plain word (its tense cannot be swapped safely).
LEAVE_AUXILIARIES = ("has", "have", "had", "having")
DETERMINERS = ("the", "a", "an", "his", "her", "its", "their", "this", "that")

# ---------------------------------------------------------------------------------------------------------------
# Cues that decide whether direction words describe motion or position, and the categories.

MOTION_CUE = re.compile(
    r"\b(mov(e|es|ed|ing|ement)|motion|go|goes|going|went|travel\w*|slid(e|es|ing)?|drift\w*|head(s|ed|ing)|"
    r"turn(s|ed|ing)?|roll(s|ed|ing)?|fl(y|ies|ying|ew)|run(s|ning)?|ran|walk\w*|swim\w*|pan(s|ned|ning)|"
    r"shift\w*|scroll\w*|rotat\w*|spin\w*|spun|swing\w*|driv\w*|drove|flow\w*|jump\w*|bounc\w*|"
    r"throw\w*|threw|thrown|toss\w*|kick\w*|push\w*|pull\w*|climb\w*|lift\w*|drop\w*|fall\w*|fell|"
    r"ris(e|es|ing)|rose|sink\w*|sank|float\w*|crawl\w*|swerv\w*|steer\w*)\b")
WEAK_MOTION_CUE = re.compile(r"\b(direction\w*|way)\b")  # "which way is it facing" is about position
STATIC_CUE = re.compile(
    r"\b(left|right|above|below|top|bottom|front|back)\s+of\b|\b(on|at|in)\s+the\s+(left|right|top|bottom)\b|"
    r"\b(left|right|top|bottom)\s+(hand\s+)?side\b|\bwhich\s+side\b|\bpositio\w*|\blocat(ed|ion)\b|"
    r"\bwhere\s+(is|are)\b|\bfac(e|es|ing)\b|\bpoint(s|ed|ing)\b|\blook(s|ed|ing)\b|\bplaced\b|\bleftmost\b|"
    r"\brightmost\b")
COUNT = re.compile(r"\b(how many|count|number of)\b")
ATTRIBUTE = re.compile(r"\b(colou?rs?|shapes?|wear\w*|cloth\w*|dressed|weather|material\w*|made of|textures?|"
                        r"patterns?)\b")
ATTRIBUTE_VALUE = re.compile(r"\b(red|green|blue|yellow|orange|purple|pink|black|white|gr[ae]y|brown|cyan|"
                              r"magenta|square|circle|triangle|star|cube|sphere|round|striped)\b")
ASKS_ORDER = re.compile(r"\b(order|sequence|chronolog\w*)\b")
ROTATION_WORDS = re.compile(r"\b(rotat\w*|spin\w*|spun|clockwise|anticlockwise|counterclockwise)\b")
# Sequence separators in raw text; commas separate steps only when the question asks for an order.
SEQ_MARK = re.compile(r"\bthen\b|\bfollowed by\b|\bafter that\b|->|→|=>")
SEQ_SPLIT = re.compile(r"\s*(?:,|;|\band then\b|\bthen\b|\bfollowed by\b|\bafter that\b|->|→|=>)\s*")
STEP_ADVERB = re.compile(r"^(?:and|first|firstly|next|finally|lastly|last)\s+")
