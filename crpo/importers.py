"""`crpo data import`: peer benchmark and training formats -> the item schema (crpo/data.py).

    crpo data import --format videor1 Video-R1-260k.json --out items.jsonl --video-root /data/videos

Each `from_<format>(row, where)` converts one source row and raises DataError naming `where` (file:row) on bad
input. Rows that cannot become video items (Video-R1 image rows) are skipped and reported on stderr, never silently.
Layouts followed (field names as the projects publish them):
- Video-R1 (JSON list or JSONL): problem, options ["A. text", ...], solution "<answer>B</answer>", path,
  problem_type ("multiple choice" | "numerical" | "regression" | "OCR" | "free-form"), data_type ("video" | "image").
  Each keeps its reward type: multiple_choice, numerical, regression, ocr, free_form (scored as Video-R1 scores
  them, crpo/rewards.py `answer_score`); a number's thousands separators are dropped ("1,000" -> "1000").
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
"""
from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

from crpo.data import LETTERS, DataError, Item, validate_item, write_jsonl

_LETTERED = re.compile(r"^\s*\(?([A-Z])[.):]\s*(.*)$")
_ANSWER_TAG = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.S)
VIDEOR1_TYPES = {"multiple choice": "multiple_choice", "numerical": "numerical", "regression": "regression",
                 "ocr": "ocr", "free-form": "free_form"}


class Skip(Exception):
    """A row that is valid in its format but is not a video question (reported, not imported)."""


def _rel(path: str, video_root) -> str:
    p = Path(path)
    if video_root and p.is_absolute():
        try:
            return str(p.relative_to(Path(video_root).resolve()))
        except ValueError:
            return str(p)
    return str(p).removeprefix("./")


def _strip_letters(options: list[str]) -> list[str]:
    return [m.group(2).strip() if (m := _LETTERED.match(o)) else o.strip() for o in options]


_LETTER_ONLY = re.compile(r"^\(?([A-Za-z])\)?[.:]?$")
_LETTER_THEN_TEXT = re.compile(r"^\(?([A-Za-z])(?:\)|[.:]|\s)\s*(.+)$", re.S)


def _same_text(a: str, b: str) -> bool:
    norm = lambda t: " ".join(t.lower().split()).rstrip(".")  # noqa: E731
    return norm(a) == norm(b)


def videor1_choice(answer: str, options: list[str], where: str) -> str:
    """The option letter a Video-R1 multiple-choice solution names: "B", "(B)", "B.", "B. <option B's text>", or
    the text of one option. Anything else is refused: the first letter of "Cyclists move right to left" is not
    option C."""
    letters = LETTERS[: len(options)]
    if (m := _LETTER_ONLY.match(answer)) and m.group(1).upper() in letters:
        return m.group(1).upper()
    matches = [letters[i] for i, text in enumerate(options) if _same_text(answer, text)]
    if len(matches) == 1:
        return matches[0]
    if (m := _LETTER_THEN_TEXT.match(answer)) and m.group(1).upper() in letters \
            and _same_text(m.group(2), options[letters.index(m.group(1).upper())]):
        return m.group(1).upper()
    raise DataError(f"{where}: solution answer '{answer}' is neither an option letter ({letters}) nor the text of "
                    "exactly one option")


def from_videor1(row: dict, where: str, video_root=None) -> Item:
    if row.get("data_type", "video") != "video":
        raise Skip(f"{where}: data_type '{row.get('data_type')}' is not a video")
    kind = VIDEOR1_TYPES.get(str(row.get("problem_type", "")).lower())
    if kind is None:
        raise DataError(f"{where}: unknown Video-R1 problem_type '{row.get('problem_type')}'")
    m = _ANSWER_TAG.search(str(row.get("solution", "")))
    answer = (m.group(1) if m else str(row.get("solution", ""))).strip()
    options = _strip_letters(row["options"]) if kind == "multiple_choice" else None
    if kind == "multiple_choice":
        answer = videor1_choice(answer, options, where)
    if kind in ("numerical", "regression"):
        answer = answer.replace(",", "")  # Video-R1 reads "1,000" as 1000 (normalize_number)
    item = Item(id=str(row.get("problem_id", where)), video=_rel(row["path"], video_root), question=row["problem"],
                answer=answer, problem_type=kind, options=options,
                extra={k: row[k] for k in ("data_source",) if k in row})
    validate_item(item, where)
    return item


def from_mvbench(row: dict, where: str, video_root=None) -> Item:
    candidates = [str(c) for c in row["candidates"]]
    if row["answer"] not in candidates:
        raise DataError(f"{where}: answer '{row['answer']}' is not among the candidates {candidates}")
    item = Item(id=str(row.get("id", where)), video=_rel(row["video"], video_root), question=row["question"],
                answer=LETTERS[candidates.index(row["answer"])], problem_type="multiple_choice", options=candidates,
                category=row.get("task") or row.get("category"), start=row.get("start"), end=row.get("end"))
    validate_item(item, where)
    return item


def from_timeblind(row: dict, where: str, video_root=None) -> Item:
    answer = str(row["answer"]).strip()
    extra = {"index": int(row["index"]), "type": row.get("type")}
    if answer.lower() in ("yes", "no"):
        kind, options, answer = "yes_no", None, answer.lower()
    else:
        lines = [m.groups() for line in str(row["question"]).splitlines() if (m := _LETTERED.match(line))]
        kind, answer = "multiple_choice", answer.strip("(). ").upper()[:1]
        options = [text for _, text in lines] or ["A", "B"]
    item = Item(id=f"timeblind-{int(row['index'])}", video=_rel(row["video_path"], video_root),
                question=row["question"], answer=answer, problem_type=kind, options=options, extra=extra)
    validate_item(item, where)
    return item


def from_tempcompass(video_id: str, dimension: str, k: int, row: dict, where: str) -> Item:
    lines = str(row["question"]).splitlines()
    options = [m.group(2).strip() for line in lines[1:] if (m := _LETTERED.match(line))]
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


def _rows(src: Path) -> list[tuple[str, dict]]:
    """(where, row) of a JSON list or JSONL file."""
    text = src.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
        rows = data if isinstance(data, list) else [data]
        return [(f"{src}:row {i + 1}", r) for i, r in enumerate(rows)]
    except json.JSONDecodeError:
        out = []
        for i, line in enumerate(text.split("\n"), 1):
            if line.strip():
                try:
                    out.append((f"{src}:{i}", json.loads(line)))
                except json.JSONDecodeError as e:
                    raise DataError(f"{src}:{i}: invalid JSON ({e.msg})") from None
        return out


def convert(fmt: str, src, video_root=None) -> list[Item]:
    src = Path(src)
    if fmt in PAIRED_FORMATS:  # files or folders, parquet included (below)
        return convert_paired(fmt, src, video_root)
    if not src.is_file():
        raise DataError(f"{src}: no such file")
    items, skipped = [], 0
    if fmt == "tempcompass":
        for video_id, dims in json.loads(src.read_text(encoding="utf-8")).items():
            for dim, questions in dims.items():
                items += [from_tempcompass(video_id, dim, k, q, f"{src}:{video_id}/{dim}/{k}")
                          for k, q in enumerate(questions)]
        return items
    if fmt == "vinoground":
        with open(src, newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f), 2):
                items += from_vinoground(row, f"{src}:{i}")
        return items
    convert_row = {"videor1": from_videor1, "mvbench": from_mvbench, "timeblind": from_timeblind}[fmt]
    for where, row in _rows(src):
        try:
            items.append(convert_row(row, where, video_root))
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


# ---- MVP, VITATECS, DyBench as published, verl / EasyR1 parquet rows ------------------------------------------
# MVP (facebook/minimal_video_pairs; one folder per sub-domain of HF parquet shards, or JSON/JSONL): video_id,
#   video_path, question, answer (a candidate's text), candidates (a list, or its Python repr as the parquet
#   stores it), source. id = video_id, pair_id = video_id without its last "_<n>" (lmms-eval's pairing),
#   category = the sub-domain (the shard's folder, or the file's name).
# VITATECS (lscpku/VITATECS: data/*.jsonl, or per-aspect parquet): src_dataset, video_name, caption,
#   counterfactual, aspect. A two-option question in lmms-eval's order and wording (crpo/bench/vitatecs.py), id
#   "<aspect>-<k>", video "<src_dataset>/<video_name>", the raw texts kept in extra.
# DyBench (three per-category JSON files, event_sequence / moving_direction / reversible_dynamics; the field names
#   are not published): any DyBench / MVBench-style spelling in DYBENCH_FIELDS; the category is the file's name.
# verl / EasyR1 (parquet, or JSON/JSONL of the same rows): prompt (text, or chat messages) or problem, with a
#   "<video>" placeholder and lettered option lines; videos (paths, or {"video": path}); answer, ground_truth or
#   reward_model.ground_truth. Parquet needs pyarrow (an optional dependency: the dev extra installs it).
PAIRED_FORMATS = ("mvp", "vitatecs", "dybench", "verl")
DYBENCH_FIELDS = {"video": ("video", "video_path", "path", "video_name", "video_file"),
                  "question": ("question", "problem", "query"),
                  "options": ("candidates", "options", "choices"),
                  "answer": ("answer", "gt", "ground_truth", "gt_answer", "solution")}
_DYBENCH_OPTIONAL = {"id": ("id", "qid", "question_id"), "pair": ("pair_id", "pair", "pair_idx", "group_id"),
                     "category": ("task", "category", "task_type")}
_SHARD = re.compile(r"^(mini|full|test|train|validation)-\d+-of-\d+$")
_TABLE_SUFFIXES = (".parquet", ".jsonl", ".json")


def read_parquet(src: Path) -> list[dict]:
    """The rows of a parquet file as dicts (pyarrow, imported here: an optional dependency)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{src}: reading parquet needs pyarrow, which is not installed (pip install pyarrow, or "
                        "the dev extra: pip install -e '.[dev]')") from None
    try:
        return pq.read_table(src).to_pylist()
    except Exception as e:  # pyarrow's ArrowInvalid and friends: not a parquet file, truncated, ...
        raise DataError(f"{src}: not a readable parquet file ({str(e).splitlines()[0]})") from None


def table_rows(src: Path) -> list[tuple[str, dict]]:
    """(where, row) of a parquet, JSON list or JSONL file."""
    if src.suffix == ".parquet":
        return [(f"{src}:row {i + 1}", row) for i, row in enumerate(read_parquet(src))]
    return _rows(src)


def _table_name(src: Path) -> str:
    """The sub-domain / aspect a file holds: its folder for an HF shard (temporal_reasoning/mini-00000-of-00001),
    else its name."""
    return src.parent.name if _SHARD.match(src.stem) else src.stem


def official_rows(path) -> list[tuple[str, dict, str]]:
    """(where, row, table name) of one file or of every parquet / JSON / JSONL file below a folder (sorted)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    files = sorted(p for p in path.rglob("*") if p.suffix in _TABLE_SUFFIXES) if path.is_dir() else [path]
    return [(where, row, _table_name(f)) for f in files for where, row in table_rows(f)]


def _field(row: dict, names: tuple[str, ...]):
    return next((row[n] for n in names if row.get(n) not in (None, "")), None)


def _option_letter(answer, options: list[str], where: str) -> str:
    """The letter of `answer` given as an option's text, a letter ("B", "(B)", "B."), or "B. <its text>"."""
    text = str(answer).strip()
    if text in options:
        return LETTERS[options.index(text)]
    m = _LETTERED.match(text) or re.match(r"^\(?([A-Z])\)?\.?$", text)
    if m and LETTERS.index(m.group(1)) < len(options):
        return m.group(1)
    raise DataError(f"{where}: answer '{text}' is neither an option letter ({LETTERS[:len(options)]}) nor the text "
                    f"of one of the options {options}")


def from_mvp(row: dict, where: str, task: str) -> Item:
    import ast
    try:
        candidates = row["candidates"]
        if isinstance(candidates, str):
            candidates = ast.literal_eval(candidates)
        candidates = [str(c) for c in candidates]
        video_id = str(row["video_id"])
        answer = str(row["answer"])
        video, question = str(row["video_path"]).lstrip("/"), row["question"]
    except KeyError as e:
        raise DataError(f"{where}: missing field {e} (MVP rows have video_id, video_path, question, answer, "
                        "candidates)") from None
    except (ValueError, SyntaxError):
        raise DataError(f"{where}: candidates {row['candidates']!r} is not a list") from None
    if answer not in candidates:
        raise DataError(f"{where}: answer '{answer}' is not among the candidates {candidates}")
    item = Item(id=video_id, video=video, question=question, answer=LETTERS[candidates.index(answer)],
                options=candidates, category=task, pair_id="_".join(video_id.split("_")[:-1]),
                extra={"video_id": video_id, "source": row.get("source")})
    validate_item(item, where)
    return item


def from_vitatecs(row: dict, where: str, counts: dict[str, int]) -> Item:
    """One VITATECS row; `counts` (rows seen per aspect) numbers the ids and is updated."""
    from crpo.bench.vitatecs import caption_is_a, for_question
    try:
        caption, counterfactual = str(row["caption"]), str(row["counterfactual"])
        aspect, video = str(row["aspect"]).lower(), f"{row['src_dataset']}/{row['video_name']}"
    except KeyError as e:
        raise DataError(f"{where}: missing field {e} (VITATECS rows have src_dataset, video_name, caption, "
                        "counterfactual, aspect)") from None
    k = counts.get(aspect, 0)
    counts[aspect] = k + 1
    first = caption_is_a(caption, counterfactual)
    options = [for_question(caption), for_question(counterfactual)]
    item = Item(id=f"{aspect}-{k}", video=video, question="Which of the following best describes the content of "
                "the video?", answer="A" if first else "B", options=options if first else options[::-1],
                category=aspect, extra={"caption": caption, "counterfactual": counterfactual,
                                        "src_dataset": row["src_dataset"], "video_name": row["video_name"]})
    validate_item(item, where)
    return item


def from_dybench(row: dict, where: str, category: str, index: int, video_root=None) -> Item:
    found = {role: _field(row, names) for role, names in DYBENCH_FIELDS.items()}
    if any(value is None for value in found.values()):
        expected = "; ".join(f"{role}: {' | '.join(names)}" for role, names in DYBENCH_FIELDS.items())
        raise DataError(f"{where}: not a DyBench/MVBench-style row: found fields {sorted(row)}, expected ({expected})")
    if not isinstance(found["options"], list):
        raise DataError(f"{where}: the options ({found['options']!r}) are not a list of texts")
    options = _strip_letters([str(o) for o in found["options"]])
    extra = {k: _field(row, names) for k, names in _DYBENCH_OPTIONAL.items()}
    pair = extra["pair"]
    item = Item(id=str(extra["id"] if extra["id"] is not None else f"{category}-{index}"),
                video=_rel(str(found["video"]), video_root), question=str(found["question"]),
                answer=_option_letter(found["answer"], options, where), options=options,
                category=str(extra["category"] or category), start=row.get("start"), end=row.get("end"),
                pair_id=None if pair is None else f"{category}-{pair}")
    validate_item(item, where)
    return item


def _verl_text(prompt) -> str:
    """The user text of a verl prompt: a string, or chat messages whose content is text or typed parts."""
    if isinstance(prompt, str):
        return prompt
    users = [m for m in prompt if isinstance(m, dict) and m.get("role", "user") == "user"]
    content = users[-1]["content"] if users else ""
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def from_verl(row: dict, where: str, index: int, video_root=None) -> Item:
    prompt = row.get("prompt", row.get("problem"))
    videos = row.get("videos")
    truth = row.get("answer", row.get("ground_truth"))
    if truth is None and isinstance(row.get("reward_model"), dict):
        truth = row["reward_model"].get("ground_truth")
    if prompt is None or not videos or truth is None:
        raise DataError(f"{where}: not a verl/EasyR1 video row: found fields {sorted(row)}, expected prompt (or "
                        "problem) with <video>, videos, and answer | ground_truth | reward_model.ground_truth")
    videos = [videos] if isinstance(videos, str) else list(videos)
    if len(videos) != 1:
        raise DataError(f"{where}: {len(videos)} videos in one row (crpo items have one video each)")
    video = videos[0]["video"] if isinstance(videos[0], dict) else videos[0]
    lines = [line.strip() for line in _verl_text(prompt).replace("<video>", "").splitlines() if line.strip()]
    options = [m.group(2).strip() for line in lines if (m := _LETTERED.match(line))]
    question = " ".join(line for line in lines if not _LETTERED.match(line))
    m = _ANSWER_TAG.search(str(truth))
    answer = (m.group(1) if m else str(truth)).strip()
    if options:
        kind, answer = "multiple_choice", _option_letter(answer, options, where)
    elif answer.lower() in ("yes", "no"):
        kind, answer = "yes_no", answer.lower()
    else:
        try:
            float(answer.replace(",", ""))
            kind, answer = "numerical", answer.replace(",", "")
        except ValueError:
            kind = "free_form"
    item = Item(id=str(_field(row, ("id", "uid", "problem_id")) or f"verl-{index}"), video=_rel(str(video), video_root),
                question=question, answer=answer, problem_type=kind, options=options or None,
                extra={k: row[k] for k in ("data_source", "ability") if k in row})
    validate_item(item, where)
    return item


def dataset_or_items(data, fmt: str) -> list[Item]:
    """What a scorer of `fmt` (mvp, vitatecs) reads: the dataset's own files (a folder, or one .parquet file),
    converted, else our items JSONL."""
    from crpo.data import load_items

    path = Path(data)
    if not path.is_dir() and path.suffix != ".parquet":
        return load_items(path)
    items = convert_paired(fmt, path)
    if not items:
        raise DataError(f"{path}: no {fmt} rows (expected the dataset's parquet / JSON / JSONL files)")
    return items


def convert_paired(fmt: str, src: Path, video_root=None) -> list[Item]:
    """Items of one of PAIRED_FORMATS; `src` is a file or, for mvp, vitatecs and dybench, a folder of files."""
    rows = official_rows(src)
    if fmt == "mvp":
        return [from_mvp(row, where, task) for where, row, task in rows]
    if fmt == "vitatecs":
        counts: dict[str, int] = {}
        return [from_vitatecs(row, where, counts) for where, row, _ in rows]
    if fmt == "dybench":
        seen: dict[str, int] = {}
        items = []
        for where, row, category in rows:
            seen[category] = seen.get(category, 0) + 1
            items.append(from_dybench(row, where, category, seen[category] - 1, video_root))
        return items
    return [from_verl(row, where, i, video_root) for i, (where, row, _) in enumerate(rows)]
