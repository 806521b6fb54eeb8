"""Vinoground scoring: text score, video score and group score, overall and per category.

    crpo score --format vinoground --data Vinoground/ --predictions outputs/my-model/
    crpo score --format vinoground --data vinoground_items.jsonl --predictions predictions.jsonl

Reference: github.com/Vinoground/Vinoground, get_score_all.py; lmms-eval 0.7.3's vinoground/utils.py computes the
same scores with two differences (below), and the tests compare with that code loaded unedited
(tests/test_official_vinoground.py). A pair n has a positive and a negative (video, caption). The text score asks,
for each of the two videos, which caption fits; the video score asks, for each of the two captions, which video
fits. A pair counts for the text score when both text questions are right, for the video score when both video
questions are right, and for the group score when all four are. Scores are fractions of all pairs in the data (the
official script prints percentages).

An answer is right when `response[0][:len(GT)].lower() == GT.lower()`, the official expression: the first character
of a text response (of its first element when the model returned a list), compared without case, never stripped
(" A" is wrong). The official script evaluates a pair in the order pos text, neg text (only if pos is right), pos
video, neg video (likewise) inside a bare try/except, so an answer the expression cannot read (empty, None or
missing) aborts the rest of the pair:
- quirk `empty_text_drops_pair` (default on): an unreadable text answer that is reached makes the pair's video
  questions count wrong too; off: only that answer counts wrong (lmms-eval's behaviour for a missing answer;
  lmms-eval crashes on an empty one).
- quirk `lmms_eval_strip` (default off): lmms-eval's pipeline strips outputs first (" A" is right there); on
  reproduces lmms-eval's number.

Inputs, official: `--data` is the dataset directory (vinoground_textscore.json, vinoground_videoscore.json: rows
{idx: "N_pos"|"N_neg", GT, ...}; vinoground.csv optional: categories) and `--predictions` the model's output
directory (textscore-response.jsonl, videoscore-response.jsonl: rows {idx, response}). Ours: items JSONL whose ids
end in "N_pos_text", "N_neg_video", ... (lmms-eval's doc index), gold = the option letter, category = major,
extra.minor = the ';'-separated minor ones, with our predictions JSONL, whose raw output is read.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from crpo.bench.predictions import raw_outputs
from crpo.data.items import DataError, load_items, read_jsonl

KINDS = ("text", "video")
_OUR_ID = re.compile(r"(\d+)_(pos|neg)_(text|video)$")
_OFFICIAL_IDX = re.compile(r"^(\d+)_(pos|neg)$")
_MISSING = object()


class Unreadable(Exception):
    """The official expression raised on this answer (empty, None, missing): its try/except takes over."""


def is_right(response, gt: str, strip: bool = False) -> bool:
    """The official `response[0][:len(gt)].lower() == gt.lower()`; raises Unreadable where that expression raises."""
    if strip and isinstance(response, str):
        response = response.strip()
    try:
        return response[0][: len(gt)].lower() == gt.lower()
    except Exception:
        raise Unreadable from None


def vinoground_metrics(responses: dict, gts: dict, categories: dict[int, list[str]],
                       empty_text_drops_pair: bool = True, strip: bool = False) -> dict:
    """Scores from responses and gold letters {(pair, "pos"|"neg", "text"|"video"): value} over the pairs in
    `categories` {pair: [names]}; a key absent from `responses` is a missing answer."""
    totals: dict[str, list[int]] = {}

    def read(n, side, kind):
        response = responses.get((n, side, kind), _MISSING)
        try:
            if response is _MISSING or (n, side, kind) not in gts:
                raise Unreadable
            return is_right(response, gts[(n, side, kind)], strip)
        except Unreadable:
            if kind == "text" and empty_text_drops_pair:
                raise
            return False

    for n, cats in sorted(categories.items()):
        names = ["all", *cats]
        for name in names:
            totals.setdefault(name, [0, 0, 0, 0])[0] += 1
        try:
            text = read(n, "pos", "text") and read(n, "neg", "text")
            video = read(n, "pos", "video") and read(n, "neg", "video")
        except Unreadable:
            continue
        for name in names:
            t = totals[name]
            t[1] += text
            t[2] += video
            t[3] += text and video

    def scores(t):
        return {"pairs": t[0], "text_score": t[1] / t[0], "video_score": t[2] / t[0], "group_score": t[3] / t[0]}

    overall = scores(totals.pop("all")) if categories else {"pairs": 0, "text_score": None, "video_score": None,
                                                           "group_score": None}
    return {**overall, "per_category": {name: scores(t) for name, t in sorted(totals.items())}}


def _official(data: Path, predictions: Path) -> tuple[dict, dict, dict]:
    responses, gts, categories = {}, {}, {}
    for kind in KINDS:
        gt_file = data / f"vinoground_{kind}score.json"
        pred_file = predictions / f"{kind}score-response.jsonl"
        for path in (gt_file, pred_file):
            if not path.is_file():
                raise DataError(f"{path}: missing (expected the official Vinoground layout)")
        given = {str(row.get("idx")): row.get("response") for _, row in read_jsonl(pred_file)}
        for row in json.loads(gt_file.read_text(encoding="utf-8")):
            m = _OFFICIAL_IDX.match(str(row.get("idx")))
            if not m or "GT" not in row:
                raise DataError(f"{gt_file}: row idx '{row.get('idx')}' needs an idx of the form N_pos or N_neg "
                                "and a GT")
            key = (int(m.group(1)), m.group(2), kind)
            categories.setdefault(key[0], [])
            gts[key] = str(row["GT"])
            if row["idx"] in given:
                responses[key] = given[row["idx"]]
    table = data / "vinoground.csv"
    if table.is_file():
        with open(table, encoding="utf-8") as f:
            for row in list(csv.reader(f))[1:]:
                if int(row[0]) in categories:
                    categories[int(row[0])] = [row[1], *[c for c in row[2].split(";") if c]]
    return responses, gts, categories


def _ours(data, predictions) -> tuple[dict, dict, dict]:
    items = load_items(data)
    outputs = raw_outputs(items, predictions)
    responses, gts, categories = {}, {}, {}
    for it in items:
        m = _OUR_ID.search(it.id)
        if not m:
            raise DataError(f"{data}: item id '{it.id}' does not end in N_pos|neg_text|video")
        key = (int(m.group(1)), m.group(2), m.group(3))
        minors = [c for c in str(it.extra.get("minor") or "").split(";") if c]
        categories.setdefault(key[0], ([it.category] if it.category else []) + minors)
        gts[key] = it.answer
        if it.id in outputs:
            responses[key] = outputs[it.id]
    return responses, gts, categories


def score_vinoground(data, predictions, quirks: dict[str, bool]) -> dict:
    data, predictions = Path(data), Path(predictions)
    if data.is_dir() != predictions.is_dir():
        raise DataError(f"{data}, {predictions}: give the official dataset and output directories, or our items "
                        "and predictions JSONL files, not one of each")
    responses, gts, categories = _official(data, predictions) if data.is_dir() else _ours(data, predictions)
    out = vinoground_metrics(responses, gts, categories, empty_text_drops_pair=quirks["empty_text_drops_pair"],
                             strip=quirks["lmms_eval_strip"])
    missing = sum(k not in responses for k in gts)
    return {**out, "missing": missing, "quirks": quirks}
