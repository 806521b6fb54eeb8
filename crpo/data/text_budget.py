"""Over-long question texts, caught before any model call, with the item named.

A 38,824-token question passed every check, then OOM-killed `crpo eval` at 21.7 GB with 0 predictions written,
and ended `crpo train` in a traceback after the model had loaded. The text of every prompt is counted before the
first forward: with the model's own tokenizer (`crpo train`, `crpo sft`, `crpo eval`: exact), or, in `crpo data
check` without `--model`, with a tokenizer-free estimate.

    check_text_budget(items, texts, tokenizer, limit=8192, source="bench.jsonl", key="--max-text-tokens")

Vision tokens are not counted here (they depend on frames and pixels, which have their own settings);
`max_prompt_length` limits text and video together once the clip is encoded.
"""
from __future__ import annotations

import math
import re

from crpo.data.items import DataError, Item

DEFAULT_MAX_TEXT_TOKENS = 8192
# Qwen's byte-level BPE averages about 4 bytes of English per token; a text with few spaces (a pasted transcript,
# a URL) has few "pieces" but many tokens, so the estimate takes whichever is larger.
BYTES_PER_TOKEN = 4
# A rough, tokenizer-free lower bound on a text's token count: byte-level BPE tokenizers (Qwen's) never merge
# across these pieces (words, numbers, single symbols), so a text has at least this many tokens. `crpo data check`
# uses it where no tokenizer is at hand; training and evaluation count with the model's own tokenizer.
_PIECES = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def min_tokens(text: str) -> int:
    return len(_PIECES.findall(text))


def item_text(item: Item) -> str:
    """The question and option texts of an item: what its prompt adds to the fixed template and the video."""
    return "\n".join([item.question, *(item.options or [])])


def estimated_tokens(text: str) -> int:
    """A tokenizer-free token estimate: the pieces no BPE merge crosses, or bytes / 4, whichever is larger."""
    return max(min_tokens(text), math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN))


def text_problem(item: Item, limit: int, count=estimated_tokens) -> str | None:
    """Why the item's question and options are too long for `limit` tokens, or None (0 = no limit)."""
    if not limit:
        return None
    n = count(item_text(item))
    if n > limit:
        return f"question and options of item '{item.id}' are about {n} tokens, over the limit of {limit}"
    return None


def check_text_budget(items: list[Item], texts: list[str], tokenizer, limit: int, source, key: str) -> None:
    """DataError naming the first item whose prompt text (`texts[i]`, the chat-templated text without the video)
    is longer than `limit` tokens of `tokenizer`, with how many items are over; nothing when `limit` is 0."""
    if not limit:
        return
    count, over = tokenizer_count(tokenizer), []
    for item, text in zip(items, texts):
        if len(text.encode("utf-8")) <= limit:  # a token holds at least one byte: no need to tokenize
            continue
        n = count(text)
        if n > limit:
            over.append((item, n))
    if over:
        item, n = over[0]
        more = f" ({len(over)} items are over)" if len(over) > 1 else ""
        raise DataError(f"{source}: item '{item.id}': its prompt text is {n} tokens without the video, over "
                        f"{key}={limit}{more}; shorten the question or raise {key} (0 = no limit)")


def tokenizer_count(tokenizer):
    """Tokens of a text by `tokenizer`: no special tokens, and no "longer than the model's maximum" warning."""
    return lambda text: len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])
