"""The router's words: pairs of terms that a transform swaps, and the cue patterns that decide context.

Plain data, kept apart from the rules in crpo/routing/rules.py so that extending the vocabulary never touches logic.
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
# Directed phrases ("left to right", "towards the left") are one term each, so that an option's direction is one
# pole of one axis ("from left to right" is rightward, not "left" and "right" at once).
LATERAL = {"left": "right", "leftward": "rightward", "leftwards": "rightwards", "right to left": "left to right",
           "to the left": "to the right", "towards the left": "towards the right",
           "toward the left": "toward the right", "turning left": "turning right", "turns left": "turns right",
           "to the left side": "to the right side", "towards the left side": "towards the right side",
           "toward the left side": "toward the right side"}

HFLIP_LEXICON = {
    "lateral": LATERAL,
    "selector": {"leftmost": "rightmost"},
    "rotation": ROTATION,
}

# Reversal, direction words: swapped only when the text describes motion ("moves left"), kept when it describes
# position ("left of the box", "which side is it on"); unknown when the text does not say which.
MOTION_LEXICON = {
    "lateral": LATERAL,
    "vertical": {"up": "down", "upward": "downward", "upwards": "downwards", "upstairs": "downstairs",
                 "bottom to top": "top to bottom", "to the top": "to the bottom",
                 "towards the top": "towards the bottom",
                 "toward the top": "toward the bottom", "uphill": "downhill", "to the upper side": "to the lower side",
                 "to the top side": "to the bottom side"},
    "depth": {"toward": "away from", "towards": "away from", "away": "toward", "closer": "farther",
              "further": "closer", "nearer": "farther"},
    "heading": {"forward": "backward", "forwards": "backwards", "to the front of": "to the back of",
                "to the front": "to the back", "to the rear of": "to the front of"},
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
    "zoom": {"zoom in": "zoom out", "zooms in": "zooms out", "zooming in": "zooming out", "zoomed in": "zoomed out",
             "zoom into": "zoom out from", "zooms into": "zooms out from", "zooming into": "zooming out from"},
    "fade": {"fade in": "fade out", "fades in": "fades out", "fading in": "fading out", "faded in": "faded out"},
    # "sped up" and "accelerated" also name a playback rate ("the video is sped up"), which a reversal keeps
    "speed": {"speed up": "slow down", "speeds up": "slows down", "speeding up": "slowing down",
              "accelerate": "decelerate", "accelerates": "decelerates", "accelerating": "decelerating",
              "acceleration": "deceleration"},
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
    # Reversible actions (issue 23): a reversed clip of putting something somewhere shows it being taken away.
    "place": {"picking it up from": "putting it on top of", "picks it up from": "puts it on top of",
              "picking it up": "putting it down", "picks it up": "puts it down", "pick it up": "put it down",
              "taking it off": "putting it on", "takes it off": "puts it on",
              "putting it on top of": "taking it off", "removing it from the top of": "putting it on top of"},
    "drop": {"lift": "drop", "lifts": "drops", "lifting": "dropping", "lifted": "dropped", "raise": "lower",
             "raises": "lowers", "raising": "lowering", "raised": "lowered"},
    "push": {"push": "pull", "pushes": "pulls", "pushing": "pulling", "pushed": "pulled"},
    "pour": {"pour in": "pour out", "pours in": "pours out", "pouring in": "pouring out", "poured in": "poured out",
             "pour into": "pour out of", "pours into": "pours out of", "pouring into": "pouring out of"},
    "add": {"add": "remove", "adds": "removes", "adding": "removing", "added": "removed", "insert": "remove",
            "inserts": "removes", "inserting": "removing", "inserted": "removed", "apply": "remove",
            "applies": "removes", "applying": "removing", "applied": "removed", "install": "remove",
            "installs": "removes", "installing": "removing", "installed": "removed", "pulling out": "putting away",
            "pulls out": "puts away", "pull out": "put away"},
    "mix": {"mix": "separate", "mixes": "separates", "mixing": "separating", "mixed": "separated"},
    "write": {"write": "erase", "writes": "erases", "writing": "erasing", "wrote": "erased", "written": "erased",
              "draw": "erase", "draws": "erases", "drawing": "erasing", "drew": "erased", "drawn": "erased"},
    "melt": {"melt": "solidify", "melts": "solidifies", "melting": "solidifying", "melted": "solidified",
             "freeze": "melt", "freezes": "melts", "freezing": "melting", "frozen": "melted", "thawing": "freezing",
             "evaporate": "condense", "evaporates": "condenses", "evaporating": "condensing",
             "evaporated": "condensed"},
    "wilt": {"reviving": "wilting", "revives": "wilts", "revive": "wilt", "revived": "wilted",
             "withering": "reviving", "withers": "revives", "withered": "revived"},
    # "walking into a room" reversed is walking out of it; only after motion verbs ("turning into" is a transition)
    "stage": {"on stage": "off stage", "onto the stage": "off the stage", "onto stage": "off stage"},
    "into": {f"{verb} into": f"{verb} out of" for verb in (
        "walk", "walks", "walking", "run", "runs", "running", "jump", "jumps", "jumping", "go", "goes", "going",
        "get", "gets", "getting", "climb", "climbs", "climbing", "swim", "swims", "swimming", "drive", "drives",
        "driving", "crawl", "crawls", "crawling", "fly", "flies", "flying", "come", "comes", "coming")},
    "plug": {"plug in": "unplug", "plugs in": "unplugs", "plugging in": "unplugging", "plugged in": "unplugged",
             "plugging it into": "unplugging it from", "plug it into": "unplug it from"},
    "build": {"assembling together": "falling apart", "coming together": "falling apart",
              "rebuilding": "falling apart", "building up": "breaking down", "builds up": "breaks down",
              "constructing": "demolishing", "constructed": "demolished", "deconstructing": "constructing",
              "being constructed": "being deconstructed", "being dismantled": "being constructed",
              "being built": "being demolished", "build": "destroy", "builds": "destroys",
              "building": "destroying", "built": "destroyed"},
    "crumple": {"crumple": "unfold", "crumples": "unfolds", "crumpling": "unfolding", "crumpled": "unfolded"},
    "tie": {"tie": "untie", "ties": "unties", "tying": "untying", "tied": "untied", "wrap": "unwrap",
            "wraps": "unwraps", "wrapping": "unwrapping", "wrapped": "unwrapped", "lock": "unlock",
            "locks": "unlocks", "locking": "unlocking", "locked": "unlocked"},
    "light": {"lights up": "turns off", "light up": "turn off", "lighting up": "turning off",
              "lit up": "turned off", "lights": "extinguishes", "lighting": "extinguishing", "lit": "extinguished",
              "blows out": "lights", "blowing out": "lighting"},
    "dim": {"brightening": "dimming", "brightens": "dims", "getting brighter": "getting dimmer",
            "becoming brighter": "becoming dimmer", "growing brighter": "growing dimmer",
            "turning brighter": "turning darker", "becoming darker": "becoming brighter",
            "growing darker": "growing brighter", "lightening up": "darkening", "lighting up": "darkening"},
    "size": {"growing in size": "decreasing in size", "increasing in size": "decreasing in size",
             "reducing in size": "growing in size", "getting bigger": "becoming smaller",
             "growing bigger": "getting smaller", "becoming bigger": "becoming smaller",
             "becoming larger": "becoming smaller", "growing taller": "getting shorter",
             "getting taller": "getting shorter", "becoming taller": "becoming shorter", "swelling": "shrinking",
             "increasing number": "decreasing number"},
}

# Axes of motion in space: the only ones on which "None of the above" is claimed (router.unlisted). Changes of state
# have too many synonyms across groups ("growing" and "appearing", "falling apart" and "disappearing") for the
# lexicon to know that no option says the transformed answer in other words.
SPATIAL_AXES = ("lateral", "vertical", "depth", "rotation")

# Antonym groups that describe one axis: a reversal moves along it the other way, whatever words an option uses
# ("rising" and "going down", "growing in size" and "shrinking", "zooming in" and "moving backward" are the two
# poles of one axis). Options are matched by pole where their texts differ (crpo/routing/phrases.py); a group not
# listed here is its own axis. The first pair of each group names its poles: key pole 0, partner pole 1.
AXES = {
    "vertical": ("vertical", "rise", "ascend", "drop", "pick", "place"),
    "depth": ("depth", "heading", "approach", "zoom"),
    "enter": ("enter", "into", "stage"),
    "size": ("grow", "increase", "expand", "inflate", "size"),
    "brightness": ("brighten", "dim", "fade", "light", "switch"),
    "build": ("assemble", "build"),
    "fold": ("fold", "crumple"),
    "insert": ("insert", "add"),
}

# Reversal, order words. A "selector" picks one of the events (two options swap); "relative" orders two named
# events; a "locator" points at a moment, whose content under reversal the text cannot tell.
ORDER_LEXICON = {
    "selector": {"first": "last", "earlier": "later", "earliest": "latest"},
    "relative": {"before": "after", "precede": "follow", "precedes": "follows", "preceding": "following",
                 "preceded": "followed"},
    "locator": {"start": "end", "beginning": "end", "begin": "end", "starts": "ends", "begins": "ends",
                "started": "ended", "began": "ended", "starting": "ending", "initial": "final",
                "initially": "finally", "originally": "eventually", "at first": "in the end"},
}

# Phrases whose words are not terms (matched first, so "right" in "right away" is not a direction).
PLAIN_PHRASES = ("right away", "right now", "all right", "that s right", "right after", "right before",
                 "the following", "of the following", "fast forward", "fast forwarding", "fast forwarded")
# Verbs that are also nouns: after a determiner ("the leaves", "the lift", "a drop") they are plain words.
NOUN_HOMOGRAPHS = ("leaves", "lift", "fall", "falls", "drop", "drops", "rise", "lights", "light", "close", "open",
                   "add", "lock", "tie", "ties", "push", "pull", "approach", "building", "drawing", "writing",
                   "mix", "lighting")
# ... and these are nouns anywhere in a question, which names things ("the traffic lights", "the sphere building")
QUESTION_NOUNS = ("leaves", "lights", "light", "lighting", "building", "drawing", "writing", "lift")
# Reversal by prefix: two options that differ only in "un"/"dis" before one word ("folding" / "unfolding",
# "connecting" / "disconnecting") are each other's reversal; these prefixed words are not such opposites.
REVERSAL_PREFIXES = ("un", "dis")
NOT_PREFIX_OPPOSITES = ("discover", "discovers", "discovering", "discovered", "display", "displays", "displaying",
                        "displayed", "disclose", "discloses", "disclosing", "discount", "dislike", "dislikes",
                        "disagree", "disagrees", "discuss", "discusses", "discussing", "dismiss", "distract",
                        "dispose", "distance", "disease", "dispatch", "discharge", "disgrace", "dissolve",
                        "dissolves", "dissolving", "unite", "unites", "uniting", "united", "unit", "under", "until",
                        "unless", "universe", "unique", "unhappy", "unable", "unusual", "unknown", "unseen")
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
    r"ris(e|es|ing)|rose|sink\w*|sank|float\w*|crawl\w*|swerv\w*|steer\w*|trajector\w*|tilt\w*|zoom\w*|"
    r"ascend\w*|descend\w*|approach\w*|enter\w*|exit\w*|ski(s|ed|ing)?|rid(e|es|ing)|rode|div(e|es|ing)|"
    r"dove|lean(s|ed|ing)?|march\w*|hik(e|es|ing)|skat\w*|surf\w*|sneak\w*|retreat\w*)\b")
WEAK_MOTION_CUE = re.compile(r"\b(direction\w*|way)\b")  # "which way is it facing" is about position
# "left of" and "left side" are positions, except after "to the" / "towards the" ("moving to the left side").
_NOT_TOWARDS = r"(?<!to the )(?<!towards the )(?<!toward the )"
STATIC_CUE = re.compile(
    _NOT_TOWARDS + r"\b(left|right|above|below|top|bottom|front|back)\s+of\b|"
    r"\b(on|at|in)\s+the\s+(left|right|top|bottom)\b|"
    + _NOT_TOWARDS + r"\b(left|right|top|bottom)\s+(hand\s+)?side\b|\bwhich\s+side\b|\bpositio\w*|\blocat(ed|ion)\b|"
    r"\bwhere\s+(is|are)\b|\bfac(e|es|ing)\b|\bpoint(s|ed|ing)\b|\blook(s|ed|ing)\b|\bplaced\b|\bleftmost\b|"
    r"\brightmost\b")
COUNT = re.compile(r"\b(how many|count|number of)\b")
ATTRIBUTE = re.compile(r"\b(colou?rs?|shapes?|wear\w*|cloth\w*|dressed|weather|material\w*|made of|textures?|"
                        r"patterns?|speed|pace|tempo|slow motion)\b")  # a playback speed is kept by both transforms
ATTRIBUTE_VALUE = re.compile(r"\b(red|green|blue|yellow|orange|purple|pink|black|white|gr[ae]y|brown|cyan|"
                              r"magenta|square|circle|triangle|star|cube|sphere|round|striped)\b")
# An option or answer that says nothing moves or changes: a transform leaves it as it is.
NO_CHANGE = re.compile(r"\b(not? (?:mov|chang|rotat|turn)\w*|doesn t (?:move|change)|does not (?:move|change)|"
                       r"stationary|still|static|motionless|no (?:motion|movement|change)|none|neither|"
                       r"stays? the same|staying the same|remain\w*|unchanged|same|constant|steady|stable)\b")
# A question about the state at one end of a change ("the final colour", "what is it turning into"): a reversal
# swaps the two ends, so its answer changes, to the other end, which the text does not tell.
END_STATE = re.compile(r"\b(initial|initially|final|finally|originally|at the (?:beginning|start|end)|in the end|"
                       r"(?:turn|chang|transform|morph|convert|becom|grow|evolv)\w* into|end(?:s|ed)? up)\b")
# "Is it turning blue?": a change into a state, whose reversal leaves that state instead.
BECOMES_VALUE = re.compile(r"\b(?:turn\w*|becom\w*|gets?|getting|going|goes) (?:into )?"
                           r"(?:red|green|blue|yellow|orange|"
                           r"purple|pink|black|white|gr[ae]y|brown|dark|light|bright|transparent|empty|full)\b")
# Verbs of doing or changing that no lexicon pair covers: a reversal may change such a question's answer, so it is
# never "same" by the category default.
ACTION_CUE = re.compile(r"\b(put\w*|plac\w*|tak(?:e|es|ing)|took|becom\w*|chang\w*|transform\w*|turn\w*|"
                        r"mov\w*|climb\w*|jump\w*|throw\w*|pour\w*|cut\w*|break\w*|mix\w*|fill\w*)\b")
ASKS_STATE = re.compile(r"\b(colou?rs?|shapes?|forms?|states?|appearance|looks?|size|what (?:is|are) .* "
                        r"(?:turning|changing|transforming|becoming)|turn\w* into|chang\w* into|transform\w* into|"
                        r"becom\w*)\b")
ASKS_ORDER = re.compile(r"\b(order|sequence|chronolog\w*)\b")
ROTATION_WORDS = re.compile(r"\b(rotat\w*|spin\w*|spun|clockwise|anticlockwise|counterclockwise)\b")
# Sequence separators in raw text; commas separate steps only when the question asks for an order.
SEQ_MARK = re.compile(r"\bthen\b|\bfollowed by\b|\bafter that\b|->|→|=>")
SEQ_SPLIT = re.compile(r"\s*(?:,|;|\band then\b|\bthen\b|\bfollowed by\b|\bafter that\b|->|→|=>)\s*")
STEP_ADVERB = re.compile(r"^(?:and|first|firstly|next|finally|lastly|last)\s+")
