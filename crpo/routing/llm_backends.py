"""The LLM router's chat backends (`crpo route --llm`): complete(list of chats) -> list of reply texts, in order.

- `LocalChat`: a transformers chat model from a local directory (a text-only causal LM, or a VL model fed text
  only), batched greedy decoding; never downloads (local_files_only).
- `EndpointChat`: an OpenAI-compatible chat-completions server (`vllm serve`, llama.cpp, ...), standard library
  only: POST {url}/v1/chat/completions, temperature 0, one request per chat, a batch sent in parallel so that the
  server batches them; OPENAI_API_KEY, when set, is sent as a bearer token.

A backend that cannot be used raises LLMError, one line naming the directory or URL and the reason (`Unreachable`
when no server answered at all).
"""
from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DEFAULT_MAX_NEW_TOKENS = 1024  # room for a reasoning model's thinking; a cut-off reply is a counted fallback


class LLMError(RuntimeError):
    """The LLM backend cannot be used (unreachable endpoint, HTTP error, bad model directory): one line."""


class Unreachable(LLMError):
    """No server answered at all (refused, timed out, name not resolved), as opposed to an HTTP error."""


class LocalChat:
    """A transformers chat model from a local directory: text-only causal LM, or a VL model fed text only."""

    def __init__(self, path, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS):
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

        self.name, self.max_new_tokens = str(path), max_new_tokens
        if not Path(path).is_dir():
            raise LLMError(f"--llm {path}: not a model directory (give a local directory or an http(s):// URL)")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            if not getattr(self.tokenizer, "chat_template", None):  # VL checkpoints keep it with the processor
                self.tokenizer.chat_template = getattr(AutoProcessor.from_pretrained(path, local_files_only=True),
                                                       "chat_template", None)
            try:
                model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype="auto")
            except ValueError:  # a VL config (Qwen3-VL, ...) is not a causal-LM config: load it whole
                model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True, dtype="auto")
        except (OSError, ValueError, KeyError) as e:
            raise LLMError(f"--llm {path}: cannot load a chat model ({_one_line(e)})") from None
        if not self.tokenizer.chat_template:
            raise LLMError(f"--llm {path}: the tokenizer has no chat template")
        self.tokenizer.padding_side = "left"  # generation appends on the right of every row
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = model.to(self.device).eval()
        self._torch = torch

    def complete(self, chats: list[list[dict]]) -> list[str]:
        texts = [self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        with self._torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def _one_line(e) -> str:
    text = " ".join(str(e).split())
    return text[:300] if text else type(e).__name__


class EndpointChat:
    """An OpenAI-compatible chat-completions server (vLLM, llama.cpp, ...), standard library only."""

    def __init__(self, url: str, model: str | None = None, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                 timeout: float = 600.0):
        base = url.rstrip("/")
        self.base = base[:-3] if base.endswith("/v1") else base
        self.max_new_tokens, self.timeout = max_new_tokens, timeout
        # Ask for the served models first: it proves the server is there before any progress bar is drawn, and
        # `vllm serve` serves one model, whose name then need not be typed.
        try:
            served = [m["id"] for m in self._request("/v1/models").get("data", [])]
        except Unreachable:
            raise
        except LLMError:
            if model is None:
                raise
            served = []  # a server without /v1/models still works when it is told the model
        if model is None and not served:
            raise LLMError(f"LLM endpoint {self.base}/v1/models lists no model: name one with --llm-model")
        self.model = model or served[0]
        self.name = f"{self.base} ({self.model})"

    def _request(self, path: str, payload: dict | None = None) -> dict:
        import http.client
        import urllib.error
        import urllib.request

        url = self.base + path
        headers = {"Content-Type": "application/json"}
        if os.environ.get("OPENAI_API_KEY"):
            headers["Authorization"] = f"Bearer {os.environ['OPENAI_API_KEY']}"
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, headers=headers, method="GET" if data is None else "POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as e:
            raise LLMError(f"LLM endpoint {url} answered HTTP {e.code} {e.reason}: {_error_detail(e)}") from None
        except urllib.error.URLError as e:
            raise Unreachable(f"LLM endpoint {url} is unreachable: {_one_line(e.reason)}") from None
        except (OSError, http.client.HTTPException) as e:  # timeouts, resets, a server that hangs up
            raise Unreachable(f"LLM endpoint {url} is unreachable: {_one_line(e)}") from None
        try:
            reply = json.loads(body)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise LLMError(f"LLM endpoint {url} did not answer a JSON object: {_one_line(body[:200])}")
        return reply

    def _chat(self, chat: list[dict]) -> str:
        path = "/v1/chat/completions"
        reply = self._request(path, {"model": self.model, "messages": chat, "temperature": 0,
                                     "max_tokens": self.max_new_tokens})
        try:
            content = reply["choices"][0]["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise LLMError(f"LLM endpoint {self.base}{path} answered no choices[0].message: "
                           f"{_one_line(json.dumps(reply)[:200])}") from None
        return content or ""  # null content (a reasoning parser that kept everything): unparseable, a fallback

    def complete(self, chats: list[list[dict]]) -> list[str]:
        with ThreadPoolExecutor(max_workers=max(1, len(chats))) as pool:
            return list(pool.map(self._chat, chats))


def _error_detail(e) -> str:
    """The server's own message from an HTTP error body ({"error": {"message"}} or {"message"}), else its text."""
    try:
        raw = e.read()[:2000].decode("utf-8", "replace")
    except OSError:
        return "no body"
    try:
        body = json.loads(raw)
        err = body.get("error", body) if isinstance(body, dict) else body
        raw = err.get("message", raw) if isinstance(err, dict) else str(err)
    except ValueError:
        pass
    return _one_line(raw) if raw.strip() else "no body"


def make_backend(spec: str, model: str | None = None, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS):
    """`EndpointChat` for an http(s):// URL, `LocalChat` for a directory."""
    if re.match(r"https?://", spec):
        return EndpointChat(spec, model=model, max_new_tokens=max_new_tokens)
    return LocalChat(spec, max_new_tokens=max_new_tokens)
