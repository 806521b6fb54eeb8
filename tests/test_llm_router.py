"""The LLM router's code path (crpo/routing/llm.py, `crpo route`), not its accuracy.

- the reply parser on many reply styles, and the fallback rule on recorded replies (a stub backend: parser only);
- a tiny random chat model built offline here: its replies are unparseable, so every item falls back, counted;
- a real HTTP server in a thread speaking OpenAI chat-completions JSON: the endpoint backend end to end, with
  parseable and unparseable replies, resume (a second run asks nothing), HTTP errors;
- an unreachable endpoint: exit code 2 and one line on stderr, no traceback;
- the cache reader: one-line errors naming file:line, a torn last line repaired on resume.
"""
import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crpo import cli
from crpo.data.items import DataError, Item, write_jsonl
from crpo.routing import llm_backends
from crpo.routing.classes import question_class
from crpo.routing.llm import build_messages, load_route_cache, parse_reply, read_route_cache, route_with_llm

BIN = Path(sys.executable).parent


def mc(id_, question, options, answer="A", category=None):
    return Item(id_, f"{id_}.mp4", question, answer, options=options, category=category)


ITEMS = [
    mc("doing", "What is the man doing?", ["playing guitar", "swimming", "cooking"], "A", "action"),
    mc("sky", "How does the color of the sky change?", ["from blue to orange", "from orange to blue"], "A",
       "attribute_change"),
    mc("car", "In which direction is the car moving?", ["moving from left to right", "moving from right to left"],
       "B", "direction"),
    mc("count", "How many people are in the video?", ["one", "two", "three"], "B"),
    mc("slow", "Is the video played at normal speed or in slow motion?", ["normal speed", "slow motion"], "B",
       "speed"),
    Item("door", "door.mp4", "Is the door opening?", "yes", problem_type="yes_no"),
]


# --- parser ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reply,expected", [
    ("Class: temporal", "temporal"),
    ("class: TEMPORAL.", "temporal"),
    ("The answer flips when the clip is reversed.\nClass: Temporal", "temporal"),
    ("**Class:** spatial", "spatial"),
    ("Class: **Spatiotemporal**", "spatiotemporal"),
    ("Class: spatio-temporal", "spatiotemporal"),
    ("Class: Spatio Temporal", "spatiotemporal"),
    ("Class: spatial-temporal", "spatiotemporal"),
    ("Class: <static>", "static"),
    ("Class = 'static'", "static"),
    ('{"class": "spatial"}', "spatial"),
    ("Category: static", "static"),
    ("Answer: temporal", "temporal"),
    ("Temporal", "temporal"),
    ("  static.  ", "static"),
    ("I think about it.\n\n**Spatial**\n", "spatial"),
    ("<think>Mirroring swaps left and right, so Class: spatial? No: reversal also swaps it.</think>\n"
     "Class: spatiotemporal", "spatiotemporal"),
    ("Reversal swaps it and mirroring does not.</think>\n\nClass: temporal", "temporal"),  # template opened <think>
    ("Class: spatial\nOn reflection, reversal changes it too.\nClass: spatiotemporal", "spatiotemporal"),  # last wins
    ("", None),
    ("I am not sure.", None),
    ("It could be temporal or static.", None),
    ("<think>It is clearly Class: temporal but let me check the", None),  # cut off mid-thought
    ("<think>Class: static</think>", None),  # the decision is only inside the thinking
    ("Class: dynamic", None),
    ("Class: not static", None),
    ("spatially", None),
    (None, None),
])
def test_parse_reply(reply, expected):
    assert parse_reply(reply) == expected


def test_prompt_shows_question_options_answer_and_format():
    (message,) = build_messages(ITEMS[2])
    text = message["content"]
    assert message["role"] == "user"
    for part in ("In which direction is the car moving?", "A. moving from left to right",
                 "Correct answer: B. moving from right to left", "Class: <spatial|temporal|spatiotemporal|static>",
                 "spatial:", "temporal:", "spatiotemporal:", "static:"):
        assert part in text
    assert "Correct answer: yes" in build_messages(ITEMS[5])[0]["content"]


class Recorded:
    """Replies recorded from a reasoning model, fed to the parser and the fallback rule (no backend here)."""
    replies = ["<think>Playing guitar stays playing guitar.</think>\nClass: static", "Hmm.",
               "Class: Temporal", "The count is the same.", "Class: static", "<think>reversal..."]

    def complete(self, chats):
        assert len(chats) == len(ITEMS)
        return self.replies


def test_route_with_llm_falls_back_on_unparseable_replies():
    rows = route_with_llm(ITEMS, Recorded())
    assert [r["id"] for r in rows] == [it.id for it in ITEMS]
    assert [r["source"] for r in rows] == ["llm", "lexicon_fallback", "llm", "lexicon_fallback", "llm",
                                           "lexicon_fallback"]
    assert [r["class"] for r in rows] == ["static", question_class(ITEMS[1]), "temporal", "static", "static",
                                          "temporal"]
    assert rows[0] == {"id": "doing", "class": "static", "transform": "hflip", "relation": "same", "source": "llm",
                       "reply": Recorded.replies[0], "maps": {"hflip": None, "reverse": None}}  # no map lines
    assert rows[2]["transform"] == "reverse" and rows[2]["relation"] == "change"


# --- a tiny local chat model -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_chat(tmp_path_factory) -> Path:
    """A ~50k-parameter random Qwen3 text model with the project's byte-level tokenizer and a Qwen chat template."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    from crpo.models.tiny import CHAT_TEMPLATES, build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATES["qwen3_vl"]
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=2048,
                         eos_token_id=eos, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=tokenizer.pad_token_id,
                                               bos_token_id=None, do_sample=False)
    path = tmp_path_factory.mktemp("tiny-chat")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def items_file(tmp_path) -> Path:
    path = tmp_path / "items.jsonl"
    write_jsonl(path, ITEMS)
    return path


def route(capsys, *args) -> tuple[int, str, str]:
    rc = cli.main(["route", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_local_model_every_reply_unparseable_falls_back_and_resumes(tiny_chat, items_file, tmp_path, capsys,
                                                                    monkeypatch):
    cache = tmp_path / "route.jsonl"
    rc, out, _ = route(capsys, items_file, "--llm", tiny_chat, "--cache", cache, "--batch-size", 4,
                       "--max-new-tokens", 6)
    assert rc == 0
    summary = json.loads(out)
    assert summary["items"] == summary["asked"] == summary["fallbacks"] == len(ITEMS)
    rows = [json.loads(line) for line in cache.read_text().splitlines()]
    assert [r["id"] for r in rows] == [it.id for it in ITEMS]  # two batches of 4 and 2, in order
    for row, item in zip(rows, ITEMS):
        assert row["source"] == "lexicon_fallback" and isinstance(row["reply"], str)
        assert parse_reply(row["reply"]) is None
        assert row["class"] == question_class(item)
    assert summary["unknown"] == 1 and summary["temporal"] == 2  # the lexicon's classes, counted
    assert load_route_cache(cache) == {}  # no LLM decision: training keeps the lexicon's classes

    def never(*a, **k):
        raise AssertionError("a fully cached run must not load the model")
    monkeypatch.setattr(llm_backends, "LocalChat", never)
    rc, out, _ = route(capsys, items_file, "--llm", tiny_chat, "--cache", cache)
    assert rc == 0 and json.loads(out)["asked"] == 0 and json.loads(out)["cached"] == len(ITEMS)
    assert len(cache.read_text().splitlines()) == len(ITEMS)


def test_bad_model_directory_is_one_line(tmp_path, items_file, capsys):
    (tmp_path / "empty").mkdir()
    for model in (tmp_path / "empty", tmp_path / "missing"):
        rc, _, err = route(capsys, items_file, "--llm", model, "--cache", tmp_path / "c.jsonl")
        assert rc == 2 and err.count("\n") == 1 and err.startswith(f"error: --llm {model}: ")


# --- an OpenAI-compatible endpoint -------------------------------------------------------------------------------

REPLIES = {  # by question: parseable in several styles, and unparseable
    "What is the man doing?": "<think>An action looks the same mirrored or reversed.</think>\n\nClass: static",
    "How does the color of the sky change?": "Class: Temporal.",
    "In which direction is the car moving?": '{"class": "spatiotemporal"}',
    "How many people are in the video?": "The number of people never changes.",
}


class Server:
    """ThreadingHTTPServer speaking the two endpoints of the OpenAI API that the router uses."""

    def __init__(self):
        self.requests, self.fail = [], None  # fail: (status, body) to answer every chat request with
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/models":
                    return self._send(200, {"object": "list", "data": [{"id": "stub-llm", "object": "model"}]})
                self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if server.fail:
                    return self._send(*server.fail)
                text = body["messages"][-1]["content"]
                question = next(line[len("Question: "):] for line in text.splitlines()
                                if line.startswith("Question: "))
                reply = REPLIES.get(question, "I cannot tell without the video.")
                self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"], "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def test_endpoint_end_to_end_with_resume(server, items_file, tmp_path, capsys):
    cache = tmp_path / "route.jsonl"
    rc, out, err = route(capsys, items_file, "--llm", server.url, "--cache", cache, "--batch-size", 4)
    assert rc == 0, err
    summary = json.loads(out)
    assert (summary["items"], summary["asked"], summary["cached"], summary["fallbacks"]) == (6, 6, 0, 3)
    assert len(server.requests) == 6
    assert {r["model"] for r in server.requests} == {"stub-llm"}  # the one /v1/models lists
    assert {r["temperature"] for r in server.requests} == {0}
    rows = {r["id"]: r for r in map(json.loads, cache.read_text().splitlines())}
    assert {i: (r["class"], r["source"]) for i, r in rows.items()} == {
        "doing": ("static", "llm"), "sky": ("temporal", "llm"), "car": ("spatiotemporal", "llm"),
        "count": ("static", "lexicon_fallback"), "slow": ("static", "lexicon_fallback"),
        "door": ("temporal", "lexicon_fallback")}
    assert rows["doing"]["reply"] == REPLIES["What is the man doing?"]
    assert {i: r["class"] for i, r in load_route_cache(cache).items()} == {
        "doing": "static", "sky": "temporal", "car": "spatiotemporal"}
    assert (summary["static"], summary["temporal"], summary["spatiotemporal"], summary["unknown"]) == (3, 2, 1, 0)

    # `crpo route FILE --cache` shows the classes training will use: the LLM's where it decided
    rc, out, _ = route(capsys, items_file, "--cache", cache)
    printed = {r["id"]: r for r in map(json.loads, out.splitlines())}
    assert printed["doing"]["class"] == "static" and printed["doing"]["class_transform"] == "hflip"
    # a playback speed is kept by a mirror: the lexicon's static, the class training uses where no LLM decided
    assert printed["slow"]["class"] == "static" and printed["slow"]["class_transform"] == "hflip"

    # two new items: only they are asked; then, with the server gone, nothing is asked at all
    write_jsonl(items_file, ITEMS + [mc("new1", "What is the man doing?", ["running", "sitting"], "B"),
                                     mc("new2", "What colour is the ball?", ["red", "blue"], "A")])
    rc, out, _ = route(capsys, items_file, "--llm", server.url + "/v1/", "--llm-model", "other", "--cache", cache)
    assert rc == 0 and json.loads(out)["asked"] == 2 and json.loads(out)["cached"] == 6
    assert [r["model"] for r in server.requests[6:]] == ["other", "other"]
    server.close()
    rc, out, err = route(capsys, items_file, "--llm", server.url, "--cache", cache)
    assert rc == 0 and json.loads(out)["asked"] == 0, err
    assert len(cache.read_text().splitlines()) == 8


def test_endpoint_http_error_is_one_line(server, items_file, tmp_path, capsys):
    server.fail = (404, {"object": "error", "message": "The model `nope` does not exist.", "code": 404})
    rc, _, err = route(capsys, items_file, "--llm", server.url, "--llm-model", "nope", "--cache", tmp_path / "c.jsonl")
    assert rc == 2
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert err.strip().endswith(f"error: LLM endpoint {server.url}/v1/chat/completions answered HTTP 404 Not Found: "
                                "The model `nope` does not exist.")
    server.fail = (200, {"unexpected": True})
    rc, _, err = route(capsys, items_file, "--llm", server.url, "--cache", tmp_path / "c.jsonl")
    assert rc == 2 and "answered no choices[0].message" in err


def test_unreachable_endpoint_exit_2_one_line(items_file, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    for extra in ([], ["--llm-model", "m"]):
        proc = subprocess.run([str(BIN / "crpo"), "route", str(items_file), "--llm", url, "--cache",
                               str(tmp_path / "c.jsonl"), *extra], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert proc.stderr.startswith(f"error: LLM endpoint {url}/v1/models is unreachable: ")
        assert "refused" in proc.stderr.lower()
    assert not (tmp_path / "c.jsonl").exists()


def test_llm_needs_a_cache(items_file, capsys):
    rc, _, err = route(capsys, items_file, "--llm", "http://127.0.0.1:1")
    assert rc == 2 and "--llm needs --cache" in err


# --- lexicon mode and the cache file -----------------------------------------------------------------------------

def test_route_rows_keep_their_fields_and_add_the_class(items_file, capsys):
    rc, out, _ = route(capsys, items_file)
    rows = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and len(rows) == len(ITEMS)
    for row, item in zip(rows, ITEMS):
        assert {"id", "category", "hflip", "reverse", "hflip+reverse", "transform", "class",
                "class_transform"} <= set(row)
        assert row["class"] == question_class(item)
    assert rows[2]["class"] == "spatiotemporal" and rows[2]["class_transform"] == "reverse"
    rc, out, _ = route(capsys, items_file, "--summary")
    assert json.loads(out) == {"spatial": 0, "temporal": 2, "spatiotemporal": 1, "static": 2, "unknown": 1}


def row(id_, cls="temporal", source="llm"):
    return json.dumps({"id": id_, "class": cls, "transform": "reverse", "relation": "change", "source": source,
                       "reply": "Class: temporal"})


@pytest.mark.parametrize("lines,message", [
    ([row("a"), "{not json"], "c.jsonl:2: invalid JSON"),
    ([row("a"), row("b", cls="dynamic")], "c.jsonl:2: item 'b' has class 'dynamic'"),
    ([row("a"), row("b", source="guess")], "c.jsonl:2: item 'b' has source 'guess'"),
    (['{"class": "static"}'], "c.jsonl:1: not a route cache row"),
    (["[1, 2]"], "c.jsonl:1: not a route cache row"),
    ([row("a"), "", row("a", cls="static")], "c.jsonl:3: item 'a' is routed twice (first at line 1)"),
])
def test_load_route_cache_bad_rows_name_file_and_line(tmp_path, lines, message):
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        load_route_cache(path)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_torn_last_line_is_repaired_on_resume_only(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(row("a") + "\n" + row("b", source="lexicon_fallback") + "\n" + row("c")[:25])
    with pytest.raises(DataError, match="c.jsonl:3: invalid JSON .*torn last line"):
        load_route_cache(path)
    assert set(read_route_cache(path, repair=True)) == {"a", "b"}
    assert path.read_text().endswith("\n") and len(path.read_text().splitlines()) == 2
    assert {i: r["class"] for i, r in load_route_cache(path).items()} == {"a": "temporal"}  # fallback: the lexicon's
    assert load_route_cache(tmp_path / "absent.jsonl") == {}
