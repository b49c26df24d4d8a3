"""The serve stage's OpenAI-compatible server, for real, on 127.0.0.1 with the tiny GGUF."""

import concurrent.futures
import html
import json
import os
import shutil
from pathlib import Path

import httpx
import pytest
from openai import OpenAI


@pytest.fixture(scope="module")
def client(server):
    return OpenAI(base_url=f"{server.url}/v1", api_key=server.api_key, timeout=60, max_retries=0)


def post(server, path, body, key=None, raw=None):
    headers = {"Authorization": f"Bearer {key or server.api_key}", "Content-Type": "application/json"}
    return httpx.post(f"{server.url}{path}", headers=headers, content=raw if raw is not None else json.dumps(body),
                      timeout=60)


QUESTION = [{"role": "user", "content": "A 58-year-old man has chest pain and ST elevation in II, III, aVF. Diagnosis?"}]


def test_health_and_models(server):
    assert httpx.get(f"{server.url}/health", timeout=5).json()["status"] == "ok"
    models = httpx.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {server.api_key}"}, timeout=5)
    assert [m["id"] for m in models.json()["data"]] == ["session"]


def test_chat_reply_has_the_shape_the_eval_harness_reads(client):
    reply = client.chat.completions.create(model="session", messages=QUESTION, max_tokens=48, seed=1)
    message = reply.choices[0].message
    extra = message.model_extra
    assert "reasoning_content" in extra and extra["reasoning"] == extra["reasoning_content"]
    assert isinstance(message.content, str)
    assert "</think>" not in message.content and "<think>" not in extra["reasoning_content"]
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.completion_tokens > 0


def test_cut_inside_the_thinking_gives_empty_content_and_length(client):
    reply = client.chat.completions.create(model="session", messages=QUESTION, max_tokens=2, seed=3)
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content == ""
    assert reply.choices[0].message.model_extra["reasoning_content"]


def test_streaming_separates_reasoning_from_content(client):
    reasoning, content, finishes = [], [], []
    for chunk in client.chat.completions.create(model="session", messages=QUESTION, max_tokens=40, stream=True, seed=2):
        delta = chunk.choices[0].delta
        extra = delta.model_extra or {}
        if extra.get("reasoning_content"):
            reasoning.append(extra["reasoning_content"])
            assert extra["reasoning"] == extra["reasoning_content"]
        if delta.content:
            content.append(delta.content)
        if chunk.choices[0].finish_reason:
            finishes.append(chunk.choices[0].finish_reason)
    assert reasoning and finishes
    assert "</think>" not in "".join(reasoning) + "".join(content)


def test_r1_sampling_defaults_apply_when_the_request_sets_none(server):
    # same seed, no sampling fields vs the R1 values given explicitly: identical text (the prompt
    # is evaluated afresh each time, so a cached prefix cannot change the numbers)
    same = {"messages": QUESTION, "max_tokens": 24, "seed": 7, "cache_prompt": False}
    implicit = post(server, "/v1/chat/completions", same).json()
    explicit = post(server, "/v1/chat/completions", {**same, "temperature": 0.6, "top_p": 0.95}).json()
    greedy = post(server, "/v1/chat/completions", {**same, "temperature": 0.0}).json()
    def text(reply):
        return reply["choices"][0]["message"]["reasoning_content"] + reply["choices"][0]["message"]["content"]
    assert text(implicit) == text(explicit)
    assert text(implicit) != text(greedy)


@pytest.mark.parametrize("body,raw,status,code", [
    (None, b'{"messages": [', 400, None),
    ({"model": "gpt-4", "messages": QUESTION}, None, 404, "model_not_found"),
    ({"messages": QUESTION, "max_tokens": -5}, None, 400, None),
    ({"messages": QUESTION, "max_tokens": 10**7}, None, 400, None),
    ({"messages": [{"role": "user", "content": "fever " * 3000}], "max_tokens": 8}, None, 400, "context_length_exceeded"),
    (None, '{"messages": [{"role": "user", "content": "fi\xe8vre"}]}'.encode("latin-1"), 400, None),
    ({"messages": []}, None, 400, None),
    ({"messages": QUESTION, "temperature": -1}, None, 400, None),
    ({"messages": QUESTION, "top_p": 0}, None, 400, None),
    ({"messages": QUESTION, "max_tokens": 4, "n": 3}, None, 400, "unsupported_parameter"),
], ids=["malformed_json", "unknown_model", "max_tokens_negative", "max_tokens_over_context", "over_context", "not_utf8", "no_messages", "negative_temperature", "zero_top_p", "n_above_1"])
def test_bad_requests_get_openai_errors_and_the_server_keeps_serving(server, body, raw, status, code):
    response = post(server, "/v1/chat/completions", body, raw=raw)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and error["type"]
    if code:
        assert error["code"] == code
    assert post(server, "/v1/chat/completions", {"messages": QUESTION, "max_tokens": 4}).status_code == 200


def test_logprobs_come_back_for_each_generated_token(client):
    reply = client.chat.completions.create(model="session", messages=QUESTION, max_tokens=4, logprobs=True,
                                           top_logprobs=2, seed=5)
    tokens = reply.choices[0].logprobs.content
    assert len(tokens) == reply.usage.completion_tokens
    assert all(token.logprob <= 0 and len(token.top_logprobs) == 2 for token in tokens)


def test_wrong_api_key_is_401(server):
    response = post(server, "/v1/chat/completions", {"messages": QUESTION, "max_tokens": 4}, key="wrong")
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


def test_completions_endpoint(server):
    response = post(server, "/v1/completions", {"prompt": "The heart has four", "max_tokens": 4})
    assert response.status_code == 200 and response.json()["choices"][0]["text"] is not None


def test_load_32_requests_from_8_clients(server):
    """Bounded: 32 short requests, 8 at a time, loopback only, 240 s at most."""
    def ask(index):
        response = post(server, "/v1/chat/completions",
                        {"messages": [{"role": "user", "content": f"Question {index}: fever and rash?"}],
                         "max_tokens": 12, "seed": index})
        return response.status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(ask, range(32), timeout=240))
    assert statuses == [200] * 32
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200



LONG_PROMPT = [{"role": "user", "content": "fever and cough " * 200}]


def _stream_then_hang_up(server, body, events_to_read):
    """Open a streamed request, read `events_to_read` events (0: only the headers, while the
    prompt is still being processed), and drop the connection."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    with httpx.Client(timeout=30) as session:
        with session.stream("POST", f"{server.url}/v1/chat/completions", json={**body, "stream": True},
                            headers=headers) as response:
            assert response.status_code == 200
            if events_to_read:
                for index, _ in enumerate(response.iter_lines()):
                    if index + 1 >= events_to_read:
                        break


@pytest.mark.parametrize("hang_up", ["in_prefill", "mid_stream", "after_a_400"])
def test_a_client_that_hangs_up_harms_no_later_request(server, hang_up):
    """Bounded: 4 rounds of a streamed request dropped early, then a request at once. The later
    request is served (the llama-cpp-python server this replaced could run two generations on one
    llama context and abort in ggml), and the dropped requests stopped generating when their
    clients left: far fewer tokens were generated than they asked for."""
    body = {"messages": LONG_PROMPT if hang_up == "in_prefill" else QUESTION, "max_tokens": 400, "temperature": 0.0,
            "ignore_eos": True}
    generated_before = _metric(server, "tokens_predicted_total")
    for round_ in range(4):
        if hang_up == "after_a_400":
            too_long = post(server, "/v1/chat/completions",
                            {"messages": [{"role": "user", "content": "fever " * 3000}], "max_tokens": 8})
            assert too_long.status_code == 400
        _stream_then_hang_up(server, body, events_to_read=0 if hang_up == "in_prefill" else 3)
        reply = post(server, "/v1/chat/completions", {"messages": QUESTION, "max_tokens": 16, "seed": round_})
        assert reply.status_code == 200, reply.text
        assert reply.json()["usage"]["completion_tokens"] > 0
    assert httpx.get(f"{server.url}/health", timeout=5).json()["status"] == "ok"
    assert _metric(server, "tokens_predicted_total") - generated_before < 4 * 400 / 2


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium missing: `make test` installs it")
def test_the_web_chat_page_shows_the_reasoning_and_the_answer_apart(server, tmp_path):
    """Headless Chromium opens the page with a question to ask (?q=), the API key in the fragment;
    the page streams the reply and shows the thinking and the answer in their own places."""
    from urllib.parse import quote

    from tests.browser import open_page

    question = "A 58-year-old man has chest pain and ST elevation in II, III and aVF. Diagnosis?"
    # The reference is the API's reply to the request the page makes. Greedy decoding of the tiny model
    # has near-ties, and a request that finds another prompt-cache state can break them differently:
    # the first request leaves this prompt in a slot, and the reference and the page then both reuse
    # it, in the same state.
    body = {"messages": [{"role": "user", "content": question}], "max_tokens": 160, "temperature": 0.0}
    assert post(server, "/v1/chat/completions", body).status_code == 200
    reference = post(server, "/v1/chat/completions", body).json()["choices"][0]["message"]
    url = f"{server.url}/?q={quote(question)}&max_tokens=160&temperature=0#key={server.api_key}"
    shot = tmp_path / "web-chat.png"
    dom = open_page(url, until="document.querySelector('.turn')?.dataset.state !== 'streaming' && "
                              "!!document.querySelector('.turn')", screenshot=shot)
    turn = dom.split('class="turn"', 1)[1]
    assert 'data-state="done"' in dom, dom[-2000:]
    shown_reasoning = html.unescape(turn.split('class="text">', 1)[1].split("</div>", 1)[0])
    shown_answer = html.unescape(turn.split('class="answer">', 1)[1].split("</div>", 1)[0])
    # the split is llama-server's, at the first end-of-thinking tag; a tiny model may write the tag
    # again at once, and the answer then starts with it, as the API returns it
    assert shown_reasoning.strip() and "</think>" not in shown_reasoning
    assert (shown_reasoning, shown_answer) == (reference["reasoning_content"], reference["content"])
    assert shot.is_file() and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
    if os.environ.get("TEST_OUTPUT_DIR"):  # kept where a CI run collects its outputs
        shutil.copy(shot, Path(os.environ["TEST_OUTPUT_DIR"]) / "web-chat.png")


def _metric(server, name: str) -> float:
    text = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {server.api_key}"}, timeout=10).text
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(f"llamacpp:{name} "))


def test_four_clients_are_decoded_together(server):
    """Bounded: 4 requests of 200 tokens at once. Continuous batching decodes the four in the same
    llama_decode calls, so llama-server's counters show far fewer calls than tokens (the old
    server decoded one request at a time: one call per token)."""
    before = _metric(server, "tokens_predicted_total"), _metric(server, "n_decode_total")
    body = {"messages": QUESTION, "max_tokens": 200, "ignore_eos": True, "temperature": 0.0, "cache_prompt": False}
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda _: post(server, "/v1/chat/completions", body), range(4), timeout=120))
    assert [reply.json()["usage"]["completion_tokens"] for reply in replies] == [200] * 4
    tokens = _metric(server, "tokens_predicted_total") - before[0]
    decodes = _metric(server, "n_decode_total") - before[1]
    assert tokens >= 800 and tokens / decodes > 2, (tokens, decodes)
    # the session's server leaves serve.slots at auto: a few slots on a CPU, and it says why
    log = " ".join(server.log_file.read_text().split())
    assert "with 4 parallel slots (serve.slots auto: llama-server runs on the CPU)" in log, log[-600:]


def test_health_is_503_once_the_model_server_has_died_and_it_dies_with_the_serve_stage(trained_run):
    """The serve stage's llama-server child killed: /health and requests say so (503) instead of
    hanging. The serve stage killed outright: its llama-server does not outlive it."""
    import psutil

    from common.endpoint import LocalServer
    from tests.conftest import API_KEY, TINY

    overrides = [*trained_run["overrides"], f"serve.api_key={API_KEY}", "serve.n_ctx=512", "serve.slots=1"]
    log = trained_run["root"] / "server-death.log"
    for victim in ("llama-server", "serve stage"):
        with LocalServer(str(TINY), overrides, timeout_s=90, log_file=log) as running:
            serve_stage = psutil.Process(running.process.pid)
            (llama,) = [child for child in serve_stage.children() if child.name() == "llama-server"]
            if victim == "llama-server":
                llama.kill()
                assert _ends_within(llama, 10)
                health = httpx.get(f"{running.url}/health", timeout=10)
                assert health.status_code == 503 and "exited" in health.json()["detail"]
                running.api_key = API_KEY
                reply = post(running, "/v1/chat/completions", {"messages": QUESTION, "max_tokens": 4})
                assert reply.status_code == 503 and "stopped" in reply.json()["error"]["message"]
            else:
                serve_stage.kill()
                running.process.wait(10)
                assert _ends_within(llama, 10)


def _ends_within(process, seconds: float) -> bool:
    """Exited (a zombie counts: an orphan's reaper here may never collect it)."""
    import time

    import psutil

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


def test_llama_server_feeds_the_model_the_prompt_training_used(trained_run, tmp_path):
    """llama-server renders chat requests with its own C++ Jinja engine, not the Python one the
    convert stage's check uses: its prompt for a multi-turn conversation, tokenized as it
    tokenizes requests, must be the training prompt (one BOS, then the R1 template's text)."""
    from dataclasses import replace

    from common.config import load_config
    from common.reasoning import BOS, render_prompt
    from serve.llama_server import LlamaServer
    from serve.local import llama_server_options
    from tests.conftest import TINY

    # the serve stage's own options for the session run, but one small slot and a log of its own
    config = load_config(TINY, [*trained_run["overrides"], "serve.slots=1", "serve.n_ctx=512"])
    options = replace(llama_server_options(config), log_file=tmp_path / "llama-server.log")
    conversation = [{"role": "user", "content": "Fever and a stiff neck?"},
                    {"role": "assistant", "content": "<think>\nMeningitis first.\n</think>\n\nLumbar puncture."},
                    {"role": "user", "content": "And then?"}]
    with LlamaServer(options) as llama:
        llama.start(60)
        headers = {"Authorization": f"Bearer {llama.key}"}
        prompt = httpx.post(f"{llama.url}/apply-template", headers=headers, json={"messages": conversation},
                            timeout=30).json()["prompt"]
        tokens = httpx.post(f"{llama.url}/tokenize", headers=headers, timeout=30,
                            json={"content": prompt, "add_special": True, "parse_special": True}).json()["tokens"]
        expected = httpx.post(f"{llama.url}/tokenize", headers=headers, timeout=30,
                              json={"content": render_prompt(conversation), "add_special": False,
                                    "parse_special": True}).json()["tokens"]
    assert render_prompt(conversation) == BOS + prompt
    assert tokens == expected and tokens.count(expected[0]) == 1
