"""`crpo data import` of the formats published as tables (parquet, JSON or JSONL; one file or a folder of them).

- MVP (facebook/minimal_video_pairs; one folder per sub-domain of HF parquet shards, or JSON/JSONL): video_id,
  video_path, question, answer (a candidate's text), candidates (a list, or its Python repr as the parquet stores
  it), source. id = video_id, pair_id = video_id without its last "_<n>" (lmms-eval's pairing), category = the
  sub-domain (the shard's folder, or the file's name).
- VITATECS (lscpku/VITATECS: data/*.jsonl, or per-aspect parquet): src_dataset, video_name, caption,
  counterfactual, aspect. A two-option question in lmms-eval's order and wording (crpo/bench/vitatecs.py), id
  "<aspect>-<k>", video "<src_dataset>/<video_name>", the raw texts kept in extra.
- DyBench (three per-category JSON files, event_sequence / moving_direction / reversible_dynamics; the field names
  are not published): any DyBench / MVBench-style spelling in DYBENCH_FIELDS; the category is the file's name.
- verl / EasyR1 (parquet, or JSON/JSONL of the same rows): prompt (text, or chat messages) or problem, with a
  "<video>" placeholder and lettered option lines; videos (paths, or {"video": path}); answer, ground_truth or
  reward_model.ground_truth. Parquet needs pyarrow (an optional dependency: the dev extra installs it).

The row helpers (video paths, lettered options, answer letters, JSON rows) are crpo/data/import_rows.py.
"""
from __future__ import annotations

import ast
import random
import re
from pathlib import Path

from crpo.data.import_rows import ANSWER_TAG, LETTERED, option_letter, read_rows, rel_path, strip_letters
from crpo.data.items import LETTERS, DataError, Item, validate_item

TABLE_FORMATS = ("mvp", "vitatecs", "dybench", "verl")
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
    return read_rows(src)


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


def _candidate_list(value, where: str) -> list[str]:
    """MVP's candidates: a list, or its Python repr (as the parquet stores it)."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            pass
    if not isinstance(value, (list, tuple)):  # the repr of a string would otherwise become its characters
        raise DataError(f"{where}: candidates {value!r} is not a list")
    return [str(c) for c in value]


def from_mvp(row: dict, where: str, task: str) -> Item:
    try:
        candidates = _candidate_list(row["candidates"], where)
        video_id, answer = str(row["video_id"]), str(row["answer"])
        video, question = str(row["video_path"]).lstrip("/"), row["question"]
    except KeyError as e:
        raise DataError(f"{where}: missing field {e} (MVP rows have video_id, video_path, question, answer, "
                        "candidates)") from None
    if answer not in candidates:
        raise DataError(f"{where}: answer '{answer}' is not among the candidates {candidates}")
    item = Item(id=video_id, video=video, question=question, answer=LETTERS[candidates.index(answer)],
                options=candidates, category=task, pair_id="_".join(video_id.split("_")[:-1]),
                extra={"video_id": video_id, "source": row.get("source")})
    validate_item(item, where)
    return item


# VITATECS as lmms-eval shows it (its vitatecs/utils.py); the scorer, crpo/bench/vitatecs.py, reads the same order.

def for_question(sentence: str) -> str:
    """An option as the prompt shows it (lmms-eval's process_option_for_question)."""
    return (sentence if sentence.endswith(".") else sentence + ".").capitalize()


def caption_is_a(caption: str, counterfactual: str) -> bool:
    """Whether the caption is option A (lmms-eval seeds Python's random with the texts' code-point sum mod 100)."""
    return random.Random(sum(ord(c) for c in caption + counterfactual) % 100).random() > 0.5


def from_vitatecs(row: dict, where: str, counts: dict[str, int]) -> Item:
    """One VITATECS row; `counts` (rows seen per aspect) numbers the ids and is updated."""
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
    options = strip_letters([str(o) for o in found["options"]])
    extra = {k: _field(row, names) for k, names in _DYBENCH_OPTIONAL.items()}
    pair = extra["pair"]
    item = Item(id=str(extra["id"] if extra["id"] is not None else f"{category}-{index}"),
                video=rel_path(str(found["video"]), video_root), question=str(found["question"]),
                answer=option_letter(found["answer"], options, where), options=options,
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
    options = [m.group(2).strip() for line in lines if (m := LETTERED.match(line))]
    question = " ".join(line for line in lines if not LETTERED.match(line))
    m = ANSWER_TAG.search(str(truth))
    answer = (m.group(1) if m else str(truth)).strip()
    if options:
        kind, answer = "multiple_choice", option_letter(answer, options, where)
    elif answer.lower() in ("yes", "no"):
        kind, answer = "yes_no", answer.lower()
    else:
        try:
            float(answer.replace(",", ""))
            kind, answer = "numerical", answer.replace(",", "")
        except ValueError:
            kind = "free_form"
    item = Item(id=str(_field(row, ("id", "uid", "problem_id")) or f"verl-{index}"), video=rel_path(str(video), video_root),
                question=question, answer=answer, problem_type=kind, options=options or None,
                extra={k: row[k] for k in ("data_source", "ability") if k in row})
    validate_item(item, where)
    return item


def convert_tables(fmt: str, src: Path, video_root=None) -> list[Item]:
    """Items of one of TABLE_FORMATS; `src` is a file or a folder of files."""
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


def dataset_or_items(data, fmt: str) -> list[Item]:
    """What a scorer of `fmt` (mvp, vitatecs) reads: the dataset's own files (a folder, or one .parquet file),
    converted, else our items JSONL, whose items must then be two-option multiple choice (both benchmarks' parsers
    read A or B only)."""
    from crpo.data.items import load_items

    path = Path(data)
    if not path.is_dir() and path.suffix != ".parquet":
        items = load_items(path)
        odd = next((it for it in items if it.problem_type != "multiple_choice" or len(it.options or ()) != 2), None)
        if odd is not None:
            raise DataError(f"{path}: item '{odd.id}' is {odd.problem_type} with {len(odd.options or ())} options, "
                            f"not a {fmt} question (two options, A or B): import the data with `crpo data import "
                            f"--format {fmt}`")
        return items
    items = convert_tables(fmt, path)
    if not items:
        raise DataError(f"{path}: no {fmt} rows (expected the dataset's parquet / JSON / JSONL files)")
    return items
