"""The OpenAI-compatible API of the llama.cpp backend: a thin layer in front of llama-server.

llama-server does the serving (slots, continuous batching, chat template, SSE, freeing a slot when
its client hangs up). This layer keeps the promises the project makes on top of it:
- the thinking apart from the answer, in message.reasoning_content and message.reasoning, streamed
  too, split by common/reasoning.py as for every other backend (llama-server runs with
  --reasoning-format none); when max_tokens ends the output inside the think block, content is
  empty and finish_reason is "length";
- R1 sampling defaults (temperature, top_p, max_tokens) where a request sets none;
- 4xx with an OpenAI error body for what llama-server would take silently or answer differently:
  an unknown model name (404), no messages, temperature or top_p out of range, n above 1, max_tokens
  outside 1..context, a body that is not UTF-8 JSON, a prompt over the context
  (context_length_exceeded);
- the project's API key (llama-server has its own, private one), /health that is 503 once the model
  server has died or stopped answering, /v1/models, the web chat page at /.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from common.reasoning import ThinkStreamSplitter, split_reasoning

CHAT_PAGE = Path(__file__).parent / "web" / "chat.html"
CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True)
class ProxyOptions:
    model_name: str
    n_ctx: int
    api_key: str | None
    temperature: float
    top_p: float
    max_tokens: int
    prefilled: bool  # the chat template opens the think block itself (R1): untagged text is thinking


class RequestError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.param, self.code = status, param, code


def openai_error(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status,
                        content={"error": {"message": message, "type": kind, "param": param, "code": code}})


def _number(body: dict, name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise RequestError(400, f"{name} must be {'a number' if kind is float else 'an integer'}", param=name)
    return value


def checked_request(raw: bytes, options: ProxyOptions, chat: bool) -> dict:
    """The request body as llama-server should get it, or a RequestError saying what is wrong."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError(400, "the request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise RequestError(400, f"the request body is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    if body.get("model") not in (None, "", options.model_name):
        raise RequestError(404, f"model '{body['model']}' not found; this server serves '{options.model_name}'",
                           param="model", code="model_not_found")
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(400, "messages must be a list holding at least one message", param="messages")
    elif not isinstance(body.get("prompt"), (str, list)):
        raise RequestError(400, "prompt must be a string", param="prompt")
    temperature, top_p = _number(body, "temperature", float), _number(body, "top_p", float)
    max_tokens, n = _number(body, "max_tokens", int), _number(body, "n", int)
    if temperature is not None and not 0 <= temperature <= 2:
        raise RequestError(400, "temperature must be between 0 and 2", param="temperature")
    if top_p is not None and not 0 < top_p <= 1:
        raise RequestError(400, "top_p must be above 0 and at most 1", param="top_p")
    if max_tokens is not None and not 1 <= max_tokens <= options.n_ctx:
        raise RequestError(400, f"max_tokens must be between 1 and the context size {options.n_ctx}",
                           param="max_tokens")
    if (n or 1) > 1:
        raise RequestError(400, "n above 1 is not supported by this server; send n requests (the prompt is cached)",
                           param="n", code="unsupported_parameter")
    # R1's recommended sampling where the request sets none
    defaults = {"temperature": options.temperature, "top_p": options.top_p,
                "max_tokens": min(options.max_tokens, options.n_ctx)}
    for name, value in defaults.items():
        if body.get(name) is None:
            body[name] = value
    body["model"] = options.model_name
    return body


def upstream_error(response: httpx.Response) -> JSONResponse:
    """llama-server's errors in the OpenAI shape, its over-context error under OpenAI's code."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    message = error.get("message") or response.text or f"llama-server answered {response.status_code}"
    if error.get("type") == "exceed_context_size_error":
        return openai_error(400, message, param="messages", code="context_length_exceeded")
    kind = "invalid_request_error" if response.status_code < 500 else "server_error"
    return openai_error(response.status_code, message, kind)


def split_chat_completion(result: dict, prefilled: bool) -> dict:
    for choice in result.get("choices", []):
        message = choice.get("message") or {}
        parts = split_reasoning(message.get("content") or "", prefilled)
        message["reasoning_content"] = message["reasoning"] = parts.reasoning
        message["content"] = parts.answer
    return result


def split_chat_chunk(chunk: dict, splitter: ThinkStreamSplitter) -> dict | None:
    """One streamed chunk with its text split into reasoning and answer; None when nothing is left
    to send (text held back until a tag is complete)."""
    choices = chunk.get("choices") or []
    if not choices:
        return chunk
    choice = choices[0]
    delta = choice.get("delta") or {}
    reasoning, answer = splitter.feed(delta.pop("content", None) or "")
    if choice.get("finish_reason") is not None:
        tail_reasoning, tail_answer = splitter.flush()
        reasoning, answer = reasoning + tail_reasoning, answer + tail_answer
    if reasoning:
        delta["reasoning_content"] = delta["reasoning"] = reasoning
    if answer:
        delta["content"] = answer
    choice["delta"] = delta
    return chunk if delta or choice.get("finish_reason") is not None or chunk.get("usage") else None


def create_proxy_app(options: ProxyOptions, upstream_url: str, upstream_key: str, alive) -> FastAPI:
    """`alive()` says whether the model server still runs (None) or its exit code."""
    upstream = httpx.AsyncClient(base_url=upstream_url, headers={"Authorization": f"Bearer {upstream_key}"},
                                 timeout=httpx.Timeout(None, connect=10), limits=httpx.Limits(max_connections=None))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await upstream.aclose()

    app = FastAPI(title="R1 reasoning server (llama.cpp)", docs_url=None, redoc_url=None, lifespan=lifespan)
    page = CHAT_PAGE.read_text(encoding="utf-8")

    def authorized(request: Request) -> bool:
        if not options.api_key:
            return True
        given = request.headers.get("authorization", "")
        return secrets.compare_digest(given.removeprefix("Bearer ").strip().encode(), options.api_key.encode())

    def unauthorized() -> JSONResponse:
        return openai_error(401, "invalid API key", code="invalid_api_key")

    def model_server_gone() -> JSONResponse:
        return openai_error(503, f"the model server has stopped (exit code {alive()}); restart `make serve`",
                            "server_error")

    async def relay_chat_stream(response: httpx.Response):
        splitter = ThinkStreamSplitter(options.prefilled)
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[len("data: "):]
            if data.strip() == "[DONE]":
                yield b"data: [DONE]\n\n"
                continue
            chunk = split_chat_chunk(json.loads(data), splitter)
            if chunk is not None:
                yield b"data: " + json.dumps(chunk).encode() + b"\n\n"

    async def forward(request: Request, path: str, chat: bool) -> Response:
        if not authorized(request):
            return unauthorized()
        try:
            body = checked_request(await request.body(), options, chat)
        except RequestError as exc:
            return openai_error(exc.status, str(exc), param=exc.param, code=exc.code)
        if alive() is not None:
            return model_server_gone()
        stream = bool(body.get("stream"))
        outgoing = upstream.build_request("POST", path, json=body)
        try:
            response = await upstream.send(outgoing, stream=stream)
        except httpx.HTTPError as exc:
            return model_server_gone() if alive() is not None else openai_error(
                502, f"the model server did not answer ({exc.__class__.__name__})", "server_error")
        if response.status_code != 200:
            if stream:
                await response.aread()
                await response.aclose()
            return upstream_error(response)
        if not stream:
            result = response.json()
            return JSONResponse(split_chat_completion(result, options.prefilled) if chat else result)
        events = relay_chat_stream(response) if chat else response.aiter_raw()

        async def relay():
            # a client that hangs up cancels this generator; closing the upstream response then
            # closes its connection, and llama-server stops that slot's generation. The close is
            # shielded: the cancellation would otherwise be delivered again at its first await.
            try:
                async for event in events:
                    yield event
            finally:
                with anyio.CancelScope(shield=True):
                    await response.aclose()

        return StreamingResponse(relay(), media_type="text/event-stream", headers=SSE_HEADERS)

    @app.post(CHAT_PATH)
    async def chat_completions(request: Request):
        return await forward(request, CHAT_PATH, chat=True)

    @app.post(COMPLETIONS_PATH)
    async def completions(request: Request):
        return await forward(request, COMPLETIONS_PATH, chat=False)

    @app.get("/v1/models")
    async def models(request: Request):
        if not authorized(request):
            return unauthorized()
        return {"object": "list", "data": [{"id": options.model_name, "object": "model", "owned_by": "r1med"}]}

    @app.get("/metrics")
    async def metrics(request: Request):
        if not authorized(request):
            return unauthorized()
        response = await upstream.get("/metrics")
        return Response(response.content, status_code=response.status_code,
                        media_type=response.headers.get("content-type"))

    @app.get("/health")
    async def health():
        code = alive()
        if code is not None:
            return JSONResponse({"status": "error", "detail": f"the model server exited with code {code}"}, 503)
        try:
            answer = await upstream.get("/health", timeout=5)
        except httpx.HTTPError as exc:
            return JSONResponse({"status": "error", "detail": f"the model server does not answer ({exc})"}, 503)
        if answer.status_code != 200:
            return JSONResponse({"status": "error", "detail": answer.text[:200]}, 503)
        return {"status": "ok", "model": options.model_name, "backend": "llama_cpp"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page():
        return HTMLResponse(page)

    return app
