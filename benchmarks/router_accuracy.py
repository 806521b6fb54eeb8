"""How well the text-only router reads real benchmark questions: class, relation and mapped-answer recall and
precision under a temporal reversal (and a mirror where the labels say).

    .venv/bin/python benchmarks/router_accuracy.py --tempcompass PATH/TempCompass/questions
    .venv/bin/python benchmarks/router_accuracy.py --tempcompass PATH --rev 6b1d406   # the router of a commit
    .venv/bin/python benchmarks/router_accuracy.py --jsonl tests/data/real_questions.jsonl

Sources of truth (never the router's own output):
- TempCompass (github.com/llyx97/TempCompass, questions/*.json, CC BY-NC 4.0, so it is read from a local copy and
  not shipped): for every video it also plays reversed (`<id>_reverse`), it asks the same question on the reversed
  video and gives that answer. Pairs whose question stem differs between the two are left out. The reversed answer's
  text is looked up among the ORIGINAL options: its letter, or "unlisted" (then "None of the above" is right).
  Multiple choice (direction, attribute_change: the 297 questions of issue 23) and yes/no.
- a JSONL of items with a hand label per transform: {"id", "question", "options", "answer", "problem_type",
  "labels": {"reverse": {"relation": "change", "answer": "B"}}} (answer a letter, yes/no, or "unlisted").

Metrics per transform t, over the labelled items:
- class: recall = share of items whose answer changes under t that get a class whose counterfactual is t with
  relation change (reverse: temporal or spatiotemporal; hflip: spatial); precision = share of the items given such
  a class whose answer does change.
- relation (crpo.routing.classes.relation_class: what training uses): recall = share given change or same; precision =
  share of those that are right.
- answer (crpo.routing.classes.counterfactual_target with the transform named: what the reward pays): recall = share
  given an answer (a letter, yes/no or "unlisted"); precision = share of those that are right. A wrong answer trains
  the model to give a wrong answer, so precision is the number to keep high.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHANGE_CLASSES = {"reverse": ("temporal", "spatiotemporal"), "hflip": ("spatial",)}


def _norm(text: str) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _split_mc(question: str) -> tuple[str, list[str]]:
    lines = question.split("\n")
    options = [line.split(".", 1)[1].strip() for line in lines[1:] if len(line) > 1 and line[1] == "."]
    return lines[0].strip(), options


def tempcompass(questions_dir) -> list[dict]:
    """Labelled rows from TempCompass's multi-choice and yes/no files (see the module docstring)."""
    rows = []
    mc = json.loads((Path(questions_dir) / "multi-choice.json").read_text())
    for vid, dims in mc.items():
        if not vid.endswith("_reverse") or vid[:-len("_reverse")] not in mc:
            continue
        base = mc[vid[:-len("_reverse")]]
        for dim, questions in dims.items():
            for k, (orig, rev) in enumerate(zip(base.get(dim, []), questions)):
                stem, options = _split_mc(orig["question"])
                if stem != _split_mc(rev["question"])[0]:
                    continue  # the reversed video was asked another question ("ends" -> "starts")
                letter = orig["answer"].strip()[0]
                rev_text = _norm(rev["answer"].split(".", 1)[1])
                texts = [_norm(o) for o in options]
                label = "ABCDEFGH"[texts.index(rev_text)] if rev_text in texts else "unlisted"
                rows.append({"id": f"tc-mc-{vid}-{dim}-{k}", "question": stem, "options": options,
                             "answer": letter, "problem_type": "multiple_choice", "source": f"tempcompass/{dim}",
                             "labels": {"reverse": {"relation": "same" if label == letter else "change",
                                                    "answer": label}}})
    cm = json.loads((Path(questions_dir) / "caption_matching.json").read_text())
    for vid, dims in cm.items():  # held out: the rules were written looking at the other two files only
        if not vid.endswith("_reverse") or vid[:-len("_reverse")] not in cm:
            continue
        base = cm[vid[:-len("_reverse")]]
        for dim, questions in dims.items():
            for k, (orig, rev) in enumerate(zip(base.get(dim, []), questions)):
                lines = orig["question"].split("\n")
                options = [line.split(":", 1)[1].strip() for line in lines[1:] if ":" in line]
                if lines != rev["question"].split("\n") or len(options) != len(lines) - 1:
                    continue
                texts = [_norm(o) for o in options]
                a, b = (_norm(x["answer"].split(":", 1)[1]) for x in (orig, rev))
                if a not in texts or b not in texts:
                    continue
                letter, label = "ABCDEFGH"[texts.index(a)], "ABCDEFGH"[texts.index(b)]
                rows.append({"id": f"tc-cm-{vid}-{dim}-{k}", "question": lines[0], "options": options,
                             "answer": letter, "problem_type": "multiple_choice", "source": f"tempcompass-cm/{dim}",
                             "labels": {"reverse": {"relation": "same" if label == letter else "change",
                                                    "answer": label}}})
    yn = json.loads((Path(questions_dir) / "yes_no.json").read_text())
    for vid, dims in yn.items():
        if not vid.endswith("_reverse") or vid[:-len("_reverse")] not in yn:
            continue
        base = yn[vid[:-len("_reverse")]]
        for dim, questions in dims.items():
            answers = {q["question"]: q["answer"] for q in base.get(dim, [])}
            for k, rev in enumerate(questions):
                if rev["question"] not in answers:
                    continue
                a, b = answers[rev["question"]].strip().lower(), rev["answer"].strip().lower()
                rows.append({"id": f"tc-yn-{vid}-{dim}-{k}", "question": rev["question"], "answer": a,
                             "problem_type": "yes_no", "source": f"tempcompass/{dim}",
                             "labels": {"reverse": {"relation": "same" if a == b else "change", "answer": b}}})
    return rows


def jsonl(path) -> list[dict]:
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: invalid JSON ({e.msg})") from None
            for key in ("id", "question", "answer", "problem_type", "labels"):
                if key not in rows[-1]:
                    raise ValueError(f"{path}:{n}: missing '{key}'")
    return rows


def predict(row: dict, transform: str) -> dict:
    """The router's class, relation and answer for one labelled row (works on older commits too)."""
    try:
        from crpo.data.items import Item
        from crpo.routing import classes as task_class
        from crpo.routing.rules import relation
    except ImportError:  # a commit before the layered layout (crpo/data.py, crpo/task_class.py, crpo/router.py)
        from crpo import task_class
        from crpo.data import Item
        from crpo.router import relation

    item = Item(row["id"], "v.mp4", row["question"], row["answer"], problem_type=row["problem_type"],
                options=row.get("options"), category=row.get("category"))
    cls = task_class.question_class(item)
    rel = task_class.relation_class(item, transform)
    if hasattr(task_class, "counterfactual_target"):
        target = task_class.counterfactual_target(item, transform, null_option=True)
        answer = "unlisted" if target.unlisted else target.answer
    else:  # before the reward needed answers: the rules' answer where they know one
        answer = relation(item, transform)[1]
    return {"class": cls, "relation": None if rel == "unknown" else rel, "answer": answer}


def _ratio(hit: int, n: int) -> str:
    return f"{100 * hit / n:.1f}% ({hit}/{n})" if n else "-"


def scores(rows: list[dict], transform: str) -> dict:
    rows = [r for r in rows if transform in r.get("labels", {})]
    preds = [predict(r, transform) for r in rows]
    labels = [r["labels"][transform] for r in rows]
    change = [lab["relation"] == "change" for lab in labels]
    given_cls = [p["class"] in CHANGE_CLASSES[transform] for p in preds]
    given_rel = [p["relation"] is not None for p in preds]
    given_ans = [p["answer"] is not None for p in preds]
    with_answer = [lab.get("answer") is not None for lab in labels]
    return {
        "items": len(rows),
        "class recall": _ratio(sum(g and c for g, c in zip(given_cls, change)), sum(change)),
        "class precision": _ratio(sum(g and c for g, c in zip(given_cls, change)), sum(given_cls)),
        "relation recall": _ratio(sum(given_rel), len(rows)),
        "relation precision": _ratio(sum(g and p["relation"] == lab["relation"]
                                         for g, p, lab in zip(given_rel, preds, labels)), sum(given_rel)),
        "answer recall": _ratio(sum(g and w for g, w in zip(given_ans, with_answer)), sum(with_answer)),
        "answer precision": _ratio(sum(g and p["answer"] == lab.get("answer")
                                       for g, p, lab in zip(given_ans, preds, labels)), sum(given_ans)),
    }


def errors(rows: list[dict], transform: str) -> list[str]:
    out = []
    for r in rows:
        lab = r.get("labels", {}).get(transform)
        if lab is None:
            continue
        p = predict(r, transform)
        if p["answer"] is not None and p["answer"] != lab.get("answer") or \
                p["relation"] is not None and p["relation"] != lab["relation"]:
            out.append(f"{r['id']}: {r['question']} {r.get('options', '')} answer {r['answer']}: "
                       f"label {lab}, router {p}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tempcompass", metavar="DIR",
                   help="TempCompass questions/ folder (multi-choice.json, caption_matching.json, yes_no.json)")
    p.add_argument("--jsonl", metavar="FILE", action="append", default=[], help="hand-labelled items (repeatable)")
    p.add_argument("--rev", metavar="COMMIT", help="measure the crpo package of this commit instead of the tree")
    p.add_argument("--errors", action="store_true", help="also print every wrong relation or answer")
    p.add_argument("--json", action="store_true", help="one JSON object per set and transform instead of a table")
    a = p.parse_args(argv)
    if a.rev:  # run this script against that commit's package, unpacked into a temporary folder
        with tempfile.TemporaryDirectory() as tmp:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", a.rev, "crpo"], check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            args = [x for x in (argv if argv is not None else sys.argv[1:])]
            i = args.index("--rev")
            del args[i:i + 2]
            env = {**os.environ, "PYTHONPATH": tmp, "CRPO_ROUTER_REV": a.rev}
            return subprocess.run([sys.executable, __file__, *args], env=env).returncode
    sets = {}
    try:
        if a.tempcompass:
            rows = tempcompass(a.tempcompass)
            sets["TempCompass multi-choice"] = [r for r in rows if r["id"].startswith("tc-mc-")]
            sets["TempCompass caption matching (held out)"] = [r for r in rows if r["id"].startswith("tc-cm-")]
            sets["TempCompass yes/no"] = [r for r in rows if r["problem_type"] == "yes_no"]
        for path in a.jsonl:
            sets[Path(path).name] = jsonl(path)
    except (OSError, ValueError) as e:  # a missing file, a row that is not what the docstring says: one line
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not sets:
        p.error("give --tempcompass DIR and/or --jsonl FILE")
    import crpo
    print(f"router: {os.environ.get('CRPO_ROUTER_REV', 'working tree')} ({Path(crpo.__file__).parent})\n")
    columns = ["class recall", "class precision", "relation recall", "relation precision", "answer recall",
               "answer precision"]
    if not a.json:
        print("| set | transform | items | " + " | ".join(columns) + " |")
        print("|---|---|---:|" + "---|" * len(columns))
    for name, rows in sets.items():
        for transform in ("reverse", "hflip"):
            if any(transform in r.get("labels", {}) for r in rows):
                table = scores(rows, transform)
                if a.json:
                    print(json.dumps({"set": name, "transform": transform, **table}))
                else:
                    print(f"| {name} | {transform} | {table['items']} | " + " | ".join(table[c] for c in columns)
                          + " |")
                if a.errors:
                    print("\n".join(errors(rows, transform)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
