"""`crpo eval`: batched greedy inference on a benchmark, resumable, then its metrics.

    crpo eval --model runs/demo/grpo/final --bench runs/world/bench.jsonl --video-root runs/world --out runs/eval

Predictions are appended to OUT/predictions.jsonl as each batch finishes (id, raw output, extracted answer) and
flushed to disk, so a killed run loses at most the batch in flight; re-running the same command skips the ids
already there and never writes one twice. OUT/metrics.json is written at the end by the benchmark's scorer.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from crpo.data import LETTERS, Item, load_items

# Each benchmark's own instruction after the question, as its official evaluation prompts the model.
# dybench uses the project's answer template (what crpo-trained models are rewarded for).
PROMPT_SUFFIX = {
    "mvbench": "Answer with the option's letter from the given choices directly.",
    "tempcompass": "Please directly give the best option:",
    "timeblind": None,    # its questions carry their own instruction
    "vinoground": None,
}


def prompt_for(item: Item, fmt: str, answer_format: str = "answer") -> str:
    from crpo.prompts import question_text
    if fmt == "dybench" or fmt not in PROMPT_SUFFIX:
        return question_text(item, answer_format)
    lines = [item.question.strip()]
    if item.problem_type == "multiple_choice":
        lines += [f"{LETTERS[i]}. {t}" for i, t in enumerate(item.options)]
    if PROMPT_SUFFIX[fmt]:
        lines.append(PROMPT_SUFFIX[fmt])
    return "\n".join(lines)


def read_done(path: Path) -> dict[str, dict]:
    """Predictions already written; a torn last line (killed mid-write) is dropped and the file repaired."""
    if not path.exists():
        return {}
    done, good = {}, []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row["id"] not in done:
            done[row["id"]] = row
            good.append(line)
    text = "".join(l + "\n" for l in good)
    if text != path.read_text(encoding="utf-8"):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return done


def evaluate(model, bench, fmt, video_root, out, batch_size=8, num_frames=8, max_new_tokens=64, limit=None,
             answer_format="answer") -> dict:
    from tqdm.auto import tqdm

    from crpo.bench.score import score_file
    from crpo.counterfactual import counterfactual
    from crpo.models import VideoLM
    from crpo.rewards import extract_answer
    from crpo.video import load_clip

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = load_items(bench)[:limit]
    pred_path = out / "predictions.jsonl"
    done = read_done(pred_path)
    todo = [it for it in items if it.id not in done]
    if todo:
        adapter = VideoLM.load(model)
        with open(pred_path, "a", encoding="utf-8") as f, tqdm(total=len(items), initial=len(items) - len(todo),
                                                              desc=f"eval {fmt}", unit="item") as bar:
            for start in range(0, len(todo), batch_size):
                batch = todo[start:start + batch_size]
                clips = []
                for it in batch:
                    clip = load_clip(Path(video_root) / it.video, num_frames=num_frames, start=it.start, end=it.end)
                    clips.append(counterfactual(clip, it.transform) if it.transform else clip)
                inputs = adapter.encode([adapter.prompt(prompt_for(it, fmt, answer_format)) for it in batch], clips,
                                        ids=[it.id for it in batch])
                _, _, texts = adapter.generate(inputs, max_new_tokens=max_new_tokens, do_sample=False)
                for it, text in zip(batch, texts):
                    answer = extract_answer(text, it.problem_type, it.options)
                    f.write(json.dumps({"id": it.id, "output": text, "answer": answer}, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
                bar.update(len(batch))
    metrics = score_file(fmt, bench, pred_path)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(json.dumps(metrics), file=sys.stderr)
    return metrics
