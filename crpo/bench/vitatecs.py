"""VITATECS scoring: which of a caption and its counterfactual (temporal concept changed) describes the video,
accuracy per aspect (direction, intensity, sequence, compositionality, localization, type).

    crpo score --format vitatecs --data vitatecs_items.jsonl --predictions predictions.jsonl
    crpo score --format vitatecs --data VITATECS/data/ --predictions predictions.jsonl   # the dataset's own files

Reference: lmms-eval 0.7.3, tasks/vitatecs/utils.py (`format_question_and_answer`, `vitatecs_process_results`,
`vitatecs_aggregate_rating`), applied to the output lmms-eval's pipeline hands it (stripped; None as "").
Reimplemented here and tested against that code loaded unedited (tests/test_official_vitatecs.py). What it does:

- Option order: the caption is option A when random.Random(sum of the code points of caption + counterfactual,
  mod 100).random() > 0.5, else B; options are shown with a final period and capitalised (str.capitalize lower-cases
  the rest), and matched lower-cased without a final period.
- A rating, rules in this order: the caption's text in the lower-cased output and the counterfactual's not: right;
  the counterfactual's and not the caption's: wrong; the output is exactly "A" or "B"; it starts with "A." / "B.",
  "A)" / "B)", or "(A)" / "(B)": right when that letter is the caption's. Case matters in the letter rules ("b." is
  no match).
- Anything else goes to a ChatGPT judge in lmms-eval (gpt-3.5-turbo-1106, temperature 1: not reproducible). crpo
  scores it wrong, as the judge's failure path does, and counts it under "unmatched": an upper bound of what a
  judge could add is unmatched / questions. A missing prediction is an empty output: unmatched, wrong.

Per aspect acc = right / questions; `mean_aspect_acc` the mean over aspects (the vitatecs group reports each task),
`acc` the pooled accuracy. Fractions in [0, 1].

Inputs: `--data` is our items JSONL (`crpo data import --format vitatecs`: the options in the official order, the
raw caption and counterfactual in extra) or the dataset's own files, a folder (or one .parquet file) of JSONL /
JSON / parquet rows {src_dataset, video_name, caption, counterfactual, aspect}; items get the ids "<aspect>-<k>"
(k from 0 in file order within the aspect, aspect lower-cased), the ids the importer gives.
"""
from __future__ import annotations

from crpo.bench.mvbench import lmms_output
from crpo.bench.predictions import raw_outputs
from crpo.data.items import LETTERS, Item


def for_matching(sentence: str) -> str:
    """An option as outputs are searched for it (process_option_for_matching)."""
    return (sentence[:-1] if sentence.endswith(".") else sentence).lower()


def caption_pair(item: Item) -> tuple[str, str]:
    """(caption, counterfactual) of an item: the raw texts the importer keeps in extra, else the options (the gold
    one is the caption), which match alike: lower-cased, the final period dropped."""
    if "caption" in item.extra and "counterfactual" in item.extra:
        return str(item.extra["caption"]), str(item.extra["counterfactual"])
    gold = LETTERS.index(item.answer)
    return item.options[gold], item.options[1 - gold]


def rating(output, caption: str, counterfactual: str, letter: str) -> int | None:
    """1 right, 0 wrong, None when no rule matches (lmms-eval then asks its judge); `letter` is the caption's."""
    pred = lmms_output(output)
    low = pred.lower()
    cap, cf = for_matching(caption), for_matching(counterfactual)
    if cap in low and cf not in low:
        return 1
    if cf in low and cap not in low:
        return 0
    if pred in ("A", "B"):
        return int(pred == letter)
    if pred.startswith(("A.", "B.")):
        return int(pred.split(".")[0] == letter)
    if pred.startswith(("A)", "B)")):
        return int(pred.split(")")[0] == letter)
    if pred.startswith(("(A)", "(B)")):
        return int(pred.split(")")[0][1] == letter)
    return None


def vitatecs_metrics(items: list[Item], outputs: dict[str, str | None]) -> dict:
    """Metrics from items and raw outputs {id: text}; an id absent from `outputs` is a missing prediction."""
    per: dict[str, list[int]] = {}  # aspect -> [questions, right, unmatched]
    for it in items:
        caption, counterfactual = caption_pair(it)
        r = rating(outputs.get(it.id), caption, counterfactual, it.answer)
        t = per.setdefault(it.category or str(it.extra.get("aspect", "unknown")).lower(), [0, 0, 0])
        t[0] += 1
        t[1] += r == 1
        t[2] += r is None
    aspects = {name: {"questions": n, "acc": r / n, "unmatched": u} for name, (n, r, u) in sorted(per.items())}
    total = sum(n for n, _, _ in per.values())
    return {
        "questions": total,
        "missing": sum(it.id not in outputs for it in items),
        "unmatched": sum(u for _, _, u in per.values()),
        "acc": sum(r for _, r, _ in per.values()) / total if total else None,
        "mean_aspect_acc": sum(a["acc"] for a in aspects.values()) / len(aspects) if aspects else None,
        "per_aspect": aspects,
    }


def score_vitatecs(data, predictions, quirks: dict[str, bool]) -> dict:
    from crpo.data.importers_tables import dataset_or_items
    items = dataset_or_items(data, "vitatecs")
    return {**vitatecs_metrics(items, raw_outputs(items, predictions)), "quirks": quirks}
