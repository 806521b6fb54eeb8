"""Vinoground scoring: text score, video score and group score, overall and per category.

    crpo score --format vinoground --data Vinoground/ --predictions outputs/my-model/

Definitions (github.com/Vinoground/Vinoground, get_score_all.py; the lmms-eval task vinoground/utils.py computes
the same): a pair n has a positive and a negative (video, caption). The text score asks, for each of the two videos,
which caption fits; the video score asks, for each of the two captions, which video fits. A pair counts for the
text score when both text questions are right, for the video score when both video questions are right, and for the
group score when all four are. Scores are fractions of all pairs in the data (the official scripts print percentages);
a missing prediction counts wrong. Categories: the major category and the ';'-separated minor ones of vinoground.csv.

Inputs, official: `--data` is the dataset directory (vinoground_textscore.json, vinoground_videoscore.json: rows
{idx: "N_pos"|"N_neg", GT, ...}; vinoground.csv optional) and `--predictions` the model's output directory
(textscore-response.jsonl, videoscore-response.jsonl: rows {idx, response}); a response is right when its first
character equals GT, ignoring case (the official rule). Ours: items JSONL whose ids end in "N_pos_text",
"N_neg_video", ... (lmms-eval's doc index), category = major, extra.minor = the minor ones, with our predictions
JSONL (answer extracted as in `crpo.bench.score`).
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from crpo.data import DataError, load_items, read_jsonl
from crpo.bench.score import canonical, predicted_answer, read_predictions

KINDS = ("text", "video")
_OUR_ID = re.compile(r"(\d+)_(pos|neg)_(text|video)$")
_OFFICIAL_IDX = re.compile(r"^(\d+)_(pos|neg)$")


def vinoground_metrics(correct: dict[tuple[int, str, str], bool], categories: dict[int, list[str]]) -> dict:
    """Scores from {(pair, "pos"|"neg", "text"|"video"): right} over the pairs in `categories` {pair: [names]}."""
    totals: dict[str, list[int]] = {}

    def add(name, text, video):
        t = totals.setdefault(name, [0, 0, 0, 0])
        t[0] += 1
        t[1] += text
        t[2] += video
        t[3] += text and video

    for n, cats in categories.items():
        text = correct.get((n, "pos", "text"), False) and correct.get((n, "neg", "text"), False)
        video = correct.get((n, "pos", "video"), False) and correct.get((n, "neg", "video"), False)
        for name in ["all", *cats]:
            add(name, text, video)

    def scores(t):
        return {"pairs": t[0], "text_score": t[1] / t[0], "video_score": t[2] / t[0], "group_score": t[3] / t[0]}

    overall = scores(totals.pop("all")) if categories else {"pairs": 0, "text_score": None, "video_score": None,
                                                           "group_score": None}
    return {**overall, "per_category": {name: scores(t) for name, t in sorted(totals.items())}}


def _official(data: Path, predictions: Path) -> tuple[dict, dict]:
    correct, categories = {}, {}
    for kind in KINDS:
        gt_file = data / f"vinoground_{kind}score.json"
        pred_file = predictions / f"{kind}score-response.jsonl"
        for path in (gt_file, pred_file):
            if not path.is_file():
                raise DataError(f"{path}: missing (expected the official Vinoground layout)")
        responses = {str(row.get("idx")): row.get("response") for _, row in read_jsonl(pred_file)}
        for row in json.loads(gt_file.read_text(encoding="utf-8")):
            m = _OFFICIAL_IDX.match(str(row.get("idx")))
            if not m:
                raise DataError(f"{gt_file}: idx '{row.get('idx')}' is not of the form N_pos or N_neg")
            n = int(m.group(1))
            categories.setdefault(n, [])
            response = responses.get(row["idx"])
            # models that return a list of strings: the official script reads response[0]
            text = response[0] if isinstance(response, list) and response else response
            correct[(n, m.group(2), kind)] = bool(text) and str(text)[:1].lower() == str(row["GT"]).lower()
    table = data / "vinoground.csv"
    if table.is_file():
        with open(table, encoding="utf-8") as f:
            for row in list(csv.reader(f))[1:]:
                if int(row[0]) in categories:
                    categories[int(row[0])] = [row[1], *[c for c in row[2].split(";") if c]]
    return correct, categories


def _ours(data, predictions) -> tuple[dict, dict]:
    items = load_items(data)
    preds = read_predictions(predictions)
    correct, categories = {}, {}
    for it in items:
        m = _OUR_ID.search(it.id)
        if not m:
            raise DataError(f"{data}: item id '{it.id}' does not end in N_pos|neg_text|video")
        n = int(m.group(1))
        minors = [c for c in str(it.extra.get("minor") or "").split(";") if c]
        categories.setdefault(n, ([it.category] if it.category else []) + minors)
        answer = canonical(it.problem_type, predicted_answer(it, preds.get(it.id)))
        correct[(n, m.group(2), m.group(3))] = answer is not None and answer == canonical(it.problem_type, it.answer)
    return correct, categories


def score_vinoground(data, predictions) -> dict:
    data, predictions = Path(data), Path(predictions)
    if data.is_dir() != predictions.is_dir():
        raise DataError(f"{data}, {predictions}: give the official dataset and output directories, or our items "
                        "and predictions JSONL files, not one of each")
    correct, categories = _official(data, predictions) if data.is_dir() else _ours(data, predictions)
    return vinoground_metrics(correct, categories)
