"""The LLM router: a text-only chat model puts every question in one of the paper's four classes, offline.

    crpo route items.jsonl --llm /models/Qwen3-8B --cache runs/route.jsonl            # local transformers model
    crpo route items.jsonl --llm http://localhost:8000 --cache runs/route.jsonl       # `vllm serve` of a text model
    from crpo.routing.llm import load_route_cache
    load_route_cache("runs/route.jsonl")     # {item_id: row}: the LLM decisions (class, option maps) training
                                             # passes to crpo.routing.classes.counterfactual_target(item, cached=row)

Why: the paper routes with a text-only reasoning model before training; the lexicon (crpo/routing/rules.py) knows only
the words it lists and answers "unknown" for the rest ("What is the man doing?"), which leaves such an item
without a counterfactual branch. Training never calls the LLM: it reads the cache this module writes.

How:
- the prompt (`build_messages`) defines the classes by what a mirror and a reversal do to the correct answer and
  shows the question, its options and its correct answer (a "which way does it move" question is temporal when
  the answer is "up" and spatiotemporal when it is "left"); the reply ends with a line "Class: temporal".
- multiple-choice and yes/no items are also asked, per transform, which answer each answer becomes ("Mirrored:
  A=B, B=A, C=none" and "Reversed: ..." after the class line; crpo/routing/llm_maps.py parses them and keeps a map only
  when it is whole and its own inverse); the cache row gains "maps", and rows without it stay valid.
- `parse_reply` drops <think> blocks and takes the last "Class: X" (also "Category:", "Type:", "Answer:", JSON
  '"class": "x"'), else a last line that is only a class name; anything else is None, never a guess.
- an unparseable reply falls back to the lexicon's class (crpo.routing.classes.question_class), and the row says so
  (source "lexicon_fallback"); `load_route_cache` returns only the LLM's decisions, so a fallback row follows the
  lexicon of the day rather than the one of the day the cache was written.
- backends: `LocalChat` (a transformers chat model from a directory, batched greedy decoding, never downloads)
  and `EndpointChat` (POST {url}/v1/chat/completions with urllib, temperature 0, one request per item, a batch in
  parallel so that the server batches them; OPENAI_API_KEY, when set, is sent as a bearer token), in
  crpo/routing/llm_backends.py. An endpoint that cannot be reached or answers an HTTP error raises LLMError: one line
  naming the URL and the reason.
- the cache is append-only JSONL, one row per item, flushed per batch; re-running skips the ids already there
  (a torn last line from a killed run is dropped), so a second run over the same file asks nothing.
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

from crpo.data.items import LETTERS, DataError, Item, load_items
from crpo.routing import llm_maps
from crpo.routing.classes import CLASS_RELATION, CLASS_TRANSFORM, QUESTION_CLASSES, question_class
from crpo.routing.llm_backends import DEFAULT_MAX_NEW_TOKENS, LLMError, make_backend

SOURCES = ("llm", "lexicon_fallback")
CACHE_CLASSES = QUESTION_CLASSES + ("unknown",)  # "unknown": a fallback the lexicon could not place either


# ---------------------------------------------------------------------------------------------------------------
# Prompt and parser

CLASS_DEFINITIONS = {
    "spatial": "mirroring the video left-right changes the correct answer, playing it backwards does not "
               "(left/right position, which hand, which side).",
    "temporal": "playing the video backwards changes the correct answer, mirroring it does not (what happens "
                "first or last, opening vs closing, appearing vs disappearing, moving up or down, toward or away "
                "from the camera, speeding up vs slowing down, a change from one state to another).",
    "spatiotemporal": "both mirroring and playing backwards change the correct answer (moving from left to "
                      "right, turning clockwise or counterclockwise).",
    "static": "neither changes the correct answer (colour, shape, count, what an object or action is, what "
              "someone wears, a constant speed such as slow motion, anything that stays the same over the clip).",
}

INSTRUCTIONS = ("You route questions about videos for a training pipeline. You see the text of one question, never "
                "the video. Decide how its correct answer depends on left versus right and on the direction of "
                "time, and put it in exactly one class:\n"
                + "\n".join(f"- {name}: {text}" for name, text in CLASS_DEFINITIONS.items()))
ANSWER_FORMAT = ("Think briefly if you need to, then end your reply with exactly one line of the form\n"
                 "Class: <spatial|temporal|spatiotemporal|static>")


def _answer_line(item: Item) -> str:
    if item.problem_type == "multiple_choice" and item.answer in LETTERS[:len(item.options or ())]:
        return f"{item.answer}. {item.options[LETTERS.index(item.answer)]}"
    return item.answer


def build_messages(item: Item) -> list[dict]:
    """The chat for one item: a single user turn (some chat templates reject a system role)."""
    lines = [INSTRUCTIONS, "", f"Question: {item.question.strip()}"]
    if item.problem_type == "multiple_choice":
        lines += ["Options:", *(f"{LETTERS[i]}. {text}" for i, text in enumerate(item.options))]
    lines += [f"Correct answer: {_answer_line(item)}", "", ANSWER_FORMAT, *llm_maps.instructions(item)]
    return [{"role": "user", "content": "\n".join(lines)}]


_CLASS_WORD = r"(spatio[\s_-]*temporal|spatial[\s_-]+temporal|spatial|temporal|static)"
_LABELLED = re.compile(r"\b(?:class|category|type|answer)\b\W{0,6}" + _CLASS_WORD + r"\b", re.I)
_BARE = re.compile(r"^\W*" + _CLASS_WORD + r"\W*$", re.I)
_THINK = re.compile(r"<think>.*?</think>", re.I | re.S)


def _canonical_class(word: str) -> str:
    word = word.lower()
    return "spatiotemporal" if "temporal" in word and word.startswith("spati") and word != "temporal" else word


def reply_body(text) -> str:
    """The reply without its thinking: "" for a reply cut off while thinking, or not a string at all."""
    if not isinstance(text, str):
        return ""
    body = _THINK.sub("\n", text)
    low = body.lower()
    if "</think>" in low:  # the chat template opened the block itself: the reply starts inside it
        body = body[low.rindex("</think>") + len("</think>"):]
    elif "<think>" in low:  # a block never closed: the model was cut off mid-thought
        body = body[:low.index("<think>")]
    return body


def parse_reply(text) -> str | None:
    """The class a reply ends on, or None when it names none (see the module docstring for the forms read)."""
    body = reply_body(text)
    labelled = _LABELLED.findall(body)
    if labelled:
        return _canonical_class(labelled[-1])
    # the map lines may follow the class line: a bare class is the last line that is not one of them
    lines = [line for line in body.splitlines() if line.strip() and not any(
        p.match(line) for p in llm_maps._LINE.values())]
    bare = _BARE.match(lines[-1]) if lines else None
    return _canonical_class(bare[1]) if bare else None


# ---------------------------------------------------------------------------------------------------------------
# Routing and the cache

def cache_row(item: Item, cls: str, source: str, reply: str | None) -> dict:
    row = {"id": item.id, "class": cls, "transform": CLASS_TRANSFORM.get(cls), "relation": CLASS_RELATION.get(cls),
           "source": source, "reply": reply}
    maps = llm_maps.parse_maps(reply_body(reply), llm_maps.option_keys(item))
    return row if maps is None else {**row, "maps": maps}


def route_with_llm(items: list[Item], backend) -> list[dict]:
    """One cache row per item: the LLM's class, or the lexicon's (source "lexicon_fallback") when the reply
    names none. Asks `backend` once, for all of `items`: the caller decides the batch."""
    replies = backend.complete([build_messages(it) for it in items]) if items else []
    rows = []
    for item, reply in zip(items, replies):
        cls = parse_reply(reply)
        rows.append(cache_row(item, cls, "llm", reply) if cls else
                    cache_row(item, question_class(item), "lexicon_fallback", reply))
    return rows


def _check_row(row, where: str) -> None:
    if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not row["id"]:
        raise DataError(f"{where}: not a route cache row (expected a JSON object with a string 'id')")
    if row.get("class") not in CACHE_CLASSES:
        raise DataError(f"{where}: item '{row['id']}' has class {row.get('class')!r} "
                        f"(expected one of {', '.join(CACHE_CLASSES)})")
    if row.get("source") not in SOURCES:
        raise DataError(f"{where}: item '{row['id']}' has source {row.get('source')!r} "
                        f"(expected one of {', '.join(SOURCES)})")
    problem = llm_maps.check_maps(row.get("maps"), f"{where}: item '{row['id']}'")
    if problem:
        raise DataError(problem)


def read_route_cache(path, repair: bool = False) -> dict[str, dict]:
    """{id: row} of a cache file, every row checked (DataError 'file:line: reason'). With `repair`, a torn last
    line (a run killed mid-write: no newline at the end and no valid JSON) is cut off the file instead."""
    path = Path(path)
    if not path.exists():
        return {}
    raw = path.read_bytes()
    # Split on "\n" only: splitlines() also splits on U+2028 and friends, which replies hold and json.dumps
    # (ensure_ascii=False) writes raw.
    lines = raw.decode("utf-8", errors="replace").split("\n")
    rows, first_line = {}, {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if repair and lineno == len(lines):
                with open(path, "r+b") as f:
                    f.truncate(raw.rfind(b"\n") + 1)
                break
            torn = " (a torn last line: re-run `crpo route --llm` to repair it)" if lineno == len(lines) else ""
            raise DataError(f"{path}:{lineno}: invalid JSON ({e.msg}){torn}") from None
        _check_row(row, f"{path}:{lineno}")
        if row["id"] in rows:
            raise DataError(f"{path}:{lineno}: item '{row['id']}' is routed twice (first at line "
                            f"{first_line[row['id']]})")
        rows[row["id"]], first_line[row["id"]] = row, lineno
    return rows


def load_route_cache(path) -> dict[str, dict]:
    """{item_id: row} of the LLM's own decisions in a cache that `crpo route --llm` wrote (the class, and the option
    maps where the reply gave them); fallback rows are left out, so that those items get the lexicon's class of
    today. What the trainer passes to crpo.routing.classes.counterfactual_target as `cached`."""
    return {i: row for i, row in read_route_cache(path).items() if row["source"] == "llm"}


def class_counts(classes) -> dict[str, int]:
    counts = Counter(classes)
    return {cls: counts.get(cls, 0) for cls in CACHE_CLASSES}


def route_to_cache(items_path, llm: str, cache_path, model: str | None = None, batch_size: int = 8,
                   max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, backend=None) -> dict:
    """Route every item of `items_path` not yet in `cache_path` with the LLM `llm` (directory or URL), appending
    a row per item as each batch finishes; returns the summary `crpo route --llm` prints. `backend` overrides
    `llm` (an object with complete(chats) -> replies); none is built when there is nothing to ask."""
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise DataError(f"--batch-size must be at least 1, got {batch_size}")
    items, cache_path = load_items(items_path), Path(cache_path)
    done = read_route_cache(cache_path, repair=True)
    todo, seen = [], set(done)
    for item in items:
        if item.id not in seen:  # a duplicated id is asked once
            todo.append(item)
            seen.add(item.id)
    cached = len({it.id for it in items} & set(done))
    if todo:
        backend = backend or make_backend(llm, model=model, max_new_tokens=max_new_tokens)
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        if cache_path.exists() and cache_path.stat().st_size and not cache_path.read_bytes().endswith(b"\n"):
            with open(cache_path, "ab") as f:  # a complete last row without its newline: keep rows one a line
                f.write(b"\n")
        unique = len({it.id for it in items})
        with open(cache_path, "a", encoding="utf-8") as f, tqdm(total=unique, initial=unique - len(todo),
                                                                desc="route --llm", unit="item",
                                                                file=sys.stderr) as bar:
            try:
                for start in range(0, len(todo), batch_size):
                    for row in route_with_llm(todo[start:start + batch_size], backend):
                        f.write(json.dumps(row, ensure_ascii=False) + "\n")
                        done[row["id"]] = row
                    f.flush()
                    os.fsync(f.fileno())
                    bar.update(min(batch_size, len(todo) - start))
            except LLMError:
                bar.leave = False  # the error line alone, not a half-drawn bar above it
                raise
    rows = [done[i] for i in dict.fromkeys(it.id for it in items)]
    return {"items": len(rows), "cached": cached, "asked": len(todo),
            "fallbacks": sum(r["source"] == "lexicon_fallback" for r in rows),
            **class_counts(r["class"] for r in rows), "cache": str(cache_path)}


def route_classes(items_path, cache_path=None):
    """Rows of `crpo route FILE`: the lexicon router's row plus "class" and "class_transform" (an LLM decision
    from `cache_path` wins when given), and what training does with the item (counterfactual=auto):
    "train_transform" (the class's transform, or None: no counterfactual branch), "train_skip" (why not),
    "train_answer" (the counterfactual answer the reward pays, "none of the above" where the transformed answer is
    not listed, None where the text does not tell) and "train_answer_source" ("lexicon" | "llm")."""
    from crpo.routing.classes import counterfactual_target
    from crpo.routing.rules import route

    cached = load_route_cache(cache_path) if cache_path else {}
    for item in load_items(items_path):
        try:
            row = route(item)
            cls = question_class(item, cached=cached.get(item.id))
            target = counterfactual_target(item, cached=cached.get(item.id))
        except DataError as e:
            raise DataError(f"{items_path}: {e}") from None
        yield {**row, "class": cls, "class_transform": CLASS_TRANSFORM.get(cls),
               "train_transform": target.transform, "train_skip": target.skip,
               "train_answer": "none of the above" if target.unlisted else target.answer,
               "train_answer_source": target.answer_source}
