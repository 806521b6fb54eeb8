"""`crpo data import`: peer benchmark and training formats -> the item schema (crpo/data/items.py).

    crpo data import --format videor1 Video-R1-260k.json --out items.jsonl --video-root /data/videos

Each `from_<format>(row, where)` converts one source row and raises DataError naming `where` (file:row) on bad
input. Rows that cannot become video items (Video-R1 image rows) are skipped and reported on stderr, never silently.
Layouts followed (field names as the projects publish them):
- Video-R1 (JSON list or JSONL): problem, options ["A. text", ...], solution "<answer>B</answer>", path,
  problem_type ("multiple choice" | "numerical" | "regression" | "OCR" | "free-form"), data_type ("video" | "image").
  Each keeps its reward type: multiple_choice, numerical, regression, ocr, free_form (scored as Video-R1 scores
  them, crpo/rl/rewards.py `answer_score`); a number's thousands separators are dropped ("1,000" -> "1000").
- MVBench / DyBench / TVBench (JSON list or JSONL): video, question, candidates [texts], answer (the option text),
  optional start/end seconds; the task name goes to `category` when a row carries `task`.
- TimeBlind data.jsonl: index, video_path, question, answer (yes/no or A/B), type; `index` is kept in `extra` (its
  scorer groups instances by index // 4) and the id ends in the index.
- TempCompass multi-choice.json: {video_id: {dimension: [{"question": "Q\\nA. x\\nB. y", "answer": "A. x"}]}};
  video = "<video_id>.mp4", category = the dimension, extra.video_id kept.
- Vinoground vinoground.csv rows (index, major, minor, pos_vid, neg_vid, pos_cal, neg_cal): two text-score items
  per pair (one per video: which caption fits, A = positive caption) with ids "<n>_pos_text" / "<n>_neg_text",
  and two video-score items on the concatenated video "vinoground_videos_concated/<n>.mp4" (first half: the
  positive video) with ids "<n>_pos_video" / "<n>_neg_video". Assumption: the concatenated files are named by pair
  index, as in the dataset's release; pass --video-root to the folder holding both video folders.
The formats published as parquet / JSON tables (MVP, VITATECS, DyBench, verl / EasyR1) are crpo/data/importers_tables.py.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from crpo.data.import_rows import ANSWER_TAG, LETTERED, option_letter, read_rows, rel_path, strip_letters
from crpo.data.items import LETTERS, DataError, Item, validate_item, write_jsonl

VIDEOR1_TYPES = {"multiple choice": "multiple_choice", "numerical": "numerical", "regression": "regression",
                 "ocr": "ocr", "free-form": "free_form"}


class Skip(Exception):
    """A row that is valid in its format but is not a video question (reported, not imported)."""


def from_videor1(row: dict, where: str, video_root=None) -> Item:
    if row.get("data_type", "video") != "video":
        raise Skip(f"{where}: data_type '{row.get('data_type')}' is not a video")
    kind = VIDEOR1_TYPES.get(str(row.get("problem_type", "")).lower())
    if kind is None:
        raise DataError(f"{where}: unknown Video-R1 problem_type '{row.get('problem_type')}'")
    m = ANSWER_TAG.search(str(row.get("solution", "")))
    answer = (m.group(1) if m else str(row.get("solution", ""))).strip()
    options = strip_letters(row["options"]) if kind == "multiple_choice" else None
    if kind == "multiple_choice":
        answer = option_letter(answer, options, where, field="solution answer")
    if kind in ("numerical", "regression"):
        answer = answer.replace(",", "")  # Video-R1 reads "1,000" as 1000 (normalize_number)
    item = Item(id=str(row.get("problem_id", where)), video=rel_path(row["path"], video_root), question=row["problem"],
                answer=answer, problem_type=kind, options=options,
                extra={k: row[k] for k in ("data_source",) if k in row})
    validate_item(item, where)
    return item


def from_mvbench(row: dict, where: str, video_root=None) -> Item:
    if not isinstance(row["candidates"], list):  # a string would otherwise become its characters
        raise DataError(f"{where}: candidates {row['candidates']!r} is not a list of texts")
    candidates = [str(c) for c in row["candidates"]]
    if row["answer"] not in candidates:
        raise DataError(f"{where}: answer '{row['answer']}' is not among the candidates {candidates}")
    item = Item(id=str(row.get("id", where)), video=rel_path(row["video"], video_root), question=row["question"],
                answer=LETTERS[candidates.index(row["answer"])], problem_type="multiple_choice", options=candidates,
                category=row.get("task") or row.get("category"), start=row.get("start"), end=row.get("end"))
    validate_item(item, where)
    return item


def from_timeblind(row: dict, where: str, video_root=None) -> Item:
    answer, index = str(row["answer"]).strip(), row["index"]
    if not str(index).strip().isdigit():
        raise DataError(f"{where}: index {index!r} is not a whole number (TimeBlind groups instances by index // 4)")
    extra = {"index": int(index), "type": row.get("type")}
    if answer.lower() in ("yes", "no"):
        kind, options, answer = "yes_no", None, answer.lower()
    else:
        lines = [m.groups() for line in str(row["question"]).splitlines() if (m := LETTERED.match(line))]
        kind, answer = "multiple_choice", answer.strip("(). ").upper()[:1]
        options = [text for _, text in lines] or ["A", "B"]
    item = Item(id=f"timeblind-{int(index)}", video=rel_path(row["video_path"], video_root),
                question=row["question"], answer=answer, problem_type=kind, options=options, extra=extra)
    validate_item(item, where)
    return item


def from_tempcompass(video_id: str, dimension: str, k: int, row: dict, where: str) -> Item:
    lines = str(row["question"]).splitlines()
    options = [m.group(2).strip() for line in lines[1:] if (m := LETTERED.match(line))]
    letter = str(row["answer"]).strip()[:1].upper()
    item = Item(id=f"{video_id}-{dimension}-{k}", video=f"{video_id}.mp4", question=lines[0], answer=letter,
                problem_type="multiple_choice", options=options, category=dimension, extra={"video_id": video_id})
    validate_item(item, where)
    return item


def from_vinoground(row: dict, where: str) -> list[Item]:
    n, pos_cap, neg_cap = int(row["index"]), row["pos_cal"], row["neg_cal"]
    meta = dict(category=row.get("major"), extra={"minor": row.get("minor", "")})
    text_q = "Which caption best describes this video?"
    items = [Item(id=f"{n}_{side}_text", video=f"vinoground_videos/{row[f'{side}_vid']}.mp4", question=text_q,
                  answer=answer, problem_type="multiple_choice", options=[pos_cap, neg_cap], **meta)
             for side, answer in (("pos", "A"), ("neg", "B"))]
    items += [Item(id=f"{n}_{side}_video", video=f"vinoground_videos_concated/{n}.mp4",
                   question=f"Which half of the video matches the caption: '{cap}'?", answer=answer,
                   problem_type="multiple_choice", options=["the first half", "the second half"], **meta)
              for side, cap, answer in (("pos", pos_cap, "A"), ("neg", neg_cap, "B"))]
    for item in items:
        validate_item(item, where)
    return items


def _json_object(src: Path) -> dict:
    try:
        data = json.loads(src.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{src}:{e.lineno}: invalid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise DataError(f"{src}: expected a JSON object {{video_id: {{dimension: [questions]}}}}, got a "
                        f"{type(data).__name__}")
    return data


def _source_rows(fmt: str, src: Path) -> list[tuple[str, dict]]:
    """(where, row) of a file in `fmt`; for tempcompass a row is (video_id, dimension, k, question row)."""
    if fmt == "tempcompass":
        return [(f"{src}:{video_id}/{dim}/{k}", (video_id, dim, k, q))
                for video_id, dims in _json_object(src).items() for dim, questions in dims.items()
                for k, q in enumerate(questions)]
    if fmt == "vinoground":
        with open(src, newline="", encoding="utf-8") as f:
            return [(f"{src}:{i}", row) for i, row in enumerate(csv.DictReader(f), 2)]
    return read_rows(src)


def convert(fmt: str, src, video_root=None) -> list[Item]:
    """The items of `src` in `fmt` (any format of `crpo data import`); a bad row is one DataError naming it."""
    src = Path(src)
    from crpo.data.importers_tables import TABLE_FORMATS, convert_tables  # (it reads this module's row helpers)
    if fmt in TABLE_FORMATS:  # files or folders, parquet included
        return convert_tables(fmt, src, video_root)
    if not src.is_file():
        raise DataError(f"{src}: no such file")
    convert_row = {"videor1": lambda row, where: [from_videor1(row, where, video_root)],
                   "mvbench": lambda row, where: [from_mvbench(row, where, video_root)],
                   "timeblind": lambda row, where: [from_timeblind(row, where, video_root)],
                   "tempcompass": lambda row, where: [from_tempcompass(*row, where)],
                   "vinoground": from_vinoground}[fmt]
    items, skipped = [], 0
    for where, row in _source_rows(fmt, src):
        try:
            items += convert_row(row, where)
        except Skip as e:
            skipped += 1
            print(f"skipped {e}", file=sys.stderr)
        except KeyError as e:
            raise DataError(f"{where}: missing field {e}") from None
    if skipped:
        print(f"skipped {skipped} rows that are not video questions", file=sys.stderr)
    return items


def import_file(fmt: str, src, out, video_root=None) -> int:
    items = convert(fmt, src, video_root)
    if not items:  # an empty file, `[]`, or only rows that are not video questions: nothing to write
        raise DataError(f"{src}: no {fmt} video items in it (nothing written to {out})")
    seen = set()
    for item in items:
        if item.id in seen:
            raise DataError(f"{src}: duplicate id '{item.id}'")
        seen.add(item.id)
    write_jsonl(out, items)
    return len(items)


