"""The OpenAI-compatible server: llama-cpp-python's own server, with what a reasoning model needs.

Taken as is from llama_cpp.server: model loading and locking, /v1/models, auth, SSE streaming,
the OpenAI error formatting of llama.cpp errors (e.g. context_length_exceeded).
Added here:
- /v1/chat/completions returns the thinking in message.reasoning_content and message.reasoning
  and only the answer in content (streamed too); when max_tokens ends the output inside the
  think block, content is empty and finish_reason is "length";
- R1 sampling defaults (temperature, top_p, max_tokens) where a request sets none;
- 404 for an unknown model name (llama-cpp-python silently serves the default one), 400 for
  max_tokens below 1 or above the context, 400 (not 500) for malformed JSON, OpenAI-style
  error bodies for every 4xx;
- GET /health;
- a detokenizer that does not re-decode the whole completion at every token (serve/detokenizer.py:
  llama-cpp-python's own makes a 3,000-token completion run at half the decode loop's speed).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute, APIRouter
from llama_cpp.server.types import CreateChatCompletionRequest, CreateCompletionRequest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException  # FastAPI raises this for bad bodies

from common.reasoning import ThinkStreamSplitter, split_reasoning
from serve.detokenizer import install as install_detokenizer
from serve.gguf_template import template_prefills_thinking

CHAT_PATH = "/v1/chat/completions"
CHAT_PAGE = Path(__file__).parent / "web" / "chat.html"  # the web chat at /
COMPLETIONS_PATH = "/v1/completions"
DROPPED_REQUEST_FIELDS = {"n", "logit_bias_type", "user", "min_tokens"}


@dataclass(frozen=True)
class ServeOptions:
    gguf: str
    model_name: str
    n_ctx: int
    n_gpu_layers: int
    n_threads: int | None
    api_key: str | None
    temperature: float
    top_p: float
    max_tokens: int
    logprobs: bool = False


def openai_error(status: int, message: str, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status,
                        content={"error": {"message": message, "type": kind, "param": param, "code": code}})


def _route_class():
    from llama_cpp.server.errors import RouteErrorHandler

    class OpenAIErrorRoute(RouteErrorHandler):
        """llama-cpp-python's mapping of llama.cpp errors to OpenAI errors, minus its re-parse of
        the raw body on every failure (which turns malformed JSON into a 500)."""

        def get_route_handler(self):
            handler = APIRoute.get_route_handler(self)

            async def guarded(request: Request):
                try:
                    return await handler(request)
                except (StarletteHTTPException, RequestValidationError):
                    raise
                except Exception as exc:  # noqa: BLE001 - every error becomes an OpenAI error body
                    body = None
                    with contextlib.suppress(Exception):
                        raw = await request.json()
                        body = (CreateChatCompletionRequest if "messages" in raw else CreateCompletionRequest)(**raw)
                    status, error = self.error_message_wrapper(exc, body)
                    return JSONResponse(status_code=status, content={"error": error})

            return guarded

    return OpenAIErrorRoute


def split_chat_completion(result: dict, prefilled: bool) -> dict:
    for choice in result.get("choices", []):
        message = choice.get("message") or {}
        parts = split_reasoning(message.get("content") or "", prefilled)
        message["reasoning_content"] = parts.reasoning
        message["reasoning"] = parts.reasoning
        message["content"] = parts.answer
    return result


def reasoning_chat_stream(llama, prefilled: bool = True, **kwargs):
    """Llama.create_chat_completion(stream=True), with each delta split into reasoning and answer."""
    splitter = ThinkStreamSplitter(prefilled)
    for chunk in llama.create_chat_completion(**kwargs):
        choice = chunk["choices"][0]
        delta = choice.get("delta") or {}
        text = delta.pop("content", None) or ""
        reasoning, answer = splitter.feed(text)
        if choice.get("finish_reason") is not None:
            tail_reasoning, tail_answer = splitter.flush()
            reasoning, answer = reasoning + tail_reasoning, answer + tail_answer
        if reasoning:
            delta["reasoning_content"] = reasoning
            delta["reasoning"] = reasoning
        if answer:
            delta["content"] = answer
        if delta or choice.get("finish_reason") is not None:
            choice["delta"] = delta
            yield chunk


async def stream_events(body, llama_call, kwargs):
    """Server-sent events for one generation.

    llama-cpp-python's publisher hands every token from a worker thread to the event loop with a
    thread hop per chunk and frames it with sse-starlette, which on a small CPU costs a large
    share of each token (BENCHMARKS.md, "Serving"). Here the whole generation runs in one thread
    that queues chunks with call_soon_threadsafe, and the events are written as plain bytes.

    The model lock is held until that thread has returned, whatever ends the stream. A client
    that disconnects cancels this generator through starlette's task group, and anyio delivers
    that cancellation again at every later await: an unshielded wait for the thread returned at
    once, the lock was released while the thread still decoded, and the next request ran a second
    generation on the same llama context (GGML_ASSERT in ggml or the sampler, then every request
    hung). The wait below is shielded; the thread sees the stop flag at its next token."""
    import threading

    import anyio
    from llama_cpp.server import app as lcpp

    done = object()
    stop = threading.Event()
    finished = anyio.Event()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    async with contextlib.asynccontextmanager(lcpp.get_llama_proxy)() as proxy:
        llama = lcpp.prepare_request_resources(body, proxy, body.model, kwargs)

        def produce() -> None:
            chunks = None
            try:
                chunks = llama_call(llama, **kwargs)
                for chunk in chunks:
                    if stop.is_set():
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except Exception as exc:  # noqa: BLE001 - handed to the event loop and re-raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                if chunks is not None and hasattr(chunks, "close"):
                    chunks.close()  # the generation's own cleanup runs here, in this thread, now
                loop.call_soon_threadsafe(queue.put_nowait, done)
                loop.call_soon_threadsafe(finished.set)

        threading.Thread(target=produce, name="generation", daemon=True).start()
        try:
            while (item := await queue.get()) is not done:
                if isinstance(item, Exception):
                    raise item
                yield b"data: " + json.dumps(item).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"
        finally:
            stop.set()
            with anyio.CancelScope(shield=True):
                await finished.wait()


def _event_stream(body, llama_call, kwargs):
    from starlette.responses import StreamingResponse

    return StreamingResponse(stream_events(body, llama_call, kwargs), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class UnsupportedParameter(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(400, detail=detail)


def check_sampling(body) -> None:
    """Values llama.cpp would take silently and answer with something else are refused: a
    negative temperature samples greedily, top_p 0 likewise, and one choice comes back for any n."""
    if hasattr(body, "messages") and not body.messages:
        raise HTTPException(400, detail="messages must hold at least one message")
    if body.temperature is not None and not 0 <= body.temperature <= 2:
        raise HTTPException(400, detail="temperature must be between 0 and 2")
    if body.top_p is not None and not 0 < body.top_p <= 1:
        raise HTTPException(400, detail="top_p must be above 0 and at most 1")
    if (getattr(body, "n", None) or 1) > 1:
        raise UnsupportedParameter("n above 1 is not supported by this server; send n requests (they are cheap: the "
                                   "prompt is cached)")


def create_server_app(options: ServeOptions) -> FastAPI:
    import llama_cpp
    from llama_cpp.server import app as lcpp
    from llama_cpp.server.settings import ModelSettings, ServerSettings
    from starlette.middleware import Middleware
    from starlette_context.middleware import RawContextMiddleware
    from starlette_context.plugins import RequestIdPlugin

    model_settings = ModelSettings(
        model=options.gguf, model_alias=options.model_name, n_ctx=options.n_ctx,
        n_gpu_layers=options.n_gpu_layers, n_threads=options.n_threads or ModelSettings().n_threads,
        n_batch=min(512, options.n_ctx), verbose=False,
        # llama-cpp-python's server keeps the logits of every prompt token (for logprobs) by
        # default, which runs the 128k-wide LM head over the whole prompt; off unless asked for
        logits_all=options.logprobs,
    )
    # llama_cpp.server.app.create_app, with its router minus the two routes replaced below.
    lcpp.set_server_settings(ServerSettings(api_key=options.api_key))
    app = FastAPI(title="R1 reasoning server (llama-cpp-python)",
                  middleware=[Middleware(RawContextMiddleware, plugins=(RequestIdPlugin(),))])
    kept = APIRouter()
    kept.routes.extend(r for r in lcpp.router.routes if getattr(r, "path", None) not in (CHAT_PATH, COMPLETIONS_PATH))
    app.include_router(kept)
    lcpp.set_llama_proxy(model_settings=[model_settings])  # loads the model
    install_detokenizer(lcpp._llama_proxy(None))
    prefilled = template_prefills_thinking(lcpp._llama_proxy(None))
    router = APIRouter(route_class=_route_class())

    def check_request(body, fields: set[str]) -> None:
        if body.model not in (None, "", options.model_name):
            raise HTTPException(404, detail=f"model '{body.model}' not found; this server serves '{options.model_name}'")
        if body.max_tokens is not None and not 1 <= body.max_tokens <= options.n_ctx:
            raise HTTPException(400, detail=f"max_tokens must be between 1 and the context size {options.n_ctx}")
        if not options.logprobs and (getattr(body, "logprobs", None) or getattr(body, "top_logprobs", None)):
            raise HTTPException(400, detail="logprobs are off on this server; start it with serve.logprobs=true")
        check_sampling(body)
        # R1's recommended sampling; no repetition penalty (llama-cpp-python's request default is 1.1,
        # which neither DeepSeek's advice nor vLLM applies, and which costs 25% of generation speed on CPU)
        defaults = {"temperature": options.temperature, "top_p": options.top_p, "max_tokens": options.max_tokens,
                    "repeat_penalty": 1.0}
        for name, value in defaults.items():
            if name not in fields or getattr(body, name) is None:
                setattr(body, name, min(value, options.n_ctx) if name == "max_tokens" else value)

    @router.post(CHAT_PATH, dependencies=[Depends(lcpp.authenticate)])
    async def chat_completions(request: Request, body: CreateChatCompletionRequest):
        check_request(body, body.model_fields_set)
        kwargs = body.model_dump(exclude=DROPPED_REQUEST_FIELDS)
        if kwargs.get("stream"):
            return _event_stream(body, functools.partial(reasoning_chat_stream, prefilled=prefilled), kwargs)
        async with contextlib.asynccontextmanager(lcpp.get_llama_proxy)() as proxy:
            llama = lcpp.prepare_request_resources(body, proxy, body.model, kwargs)
            result = await run_in_threadpool(llama.create_chat_completion, **kwargs)
        return split_chat_completion(result, prefilled)

    @router.post(COMPLETIONS_PATH, dependencies=[Depends(lcpp.authenticate)])
    async def completions(request: Request, body: CreateCompletionRequest):
        check_request(body, body.model_fields_set)
        if not body.stream:
            return await lcpp.create_completion(request, body)
        if isinstance(body.prompt, list):
            body.prompt = body.prompt[0] if body.prompt else ""
        kwargs = body.model_dump(exclude=DROPPED_REQUEST_FIELDS | {"best_of"})
        return _event_stream(body, llama_cpp.Llama.__call__, kwargs)

    page = CHAT_PAGE.read_text(encoding="utf-8")

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page():
        return HTMLResponse(page)

    @router.get("/health")
    async def health():
        return {"status": "ok", "model": options.model_name, "backend": "llama_cpp"}

    app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return openai_error(400, f"invalid request: {first.get('msg', 'malformed body')}" +
                            (f" ({where})" if where else ""), param=where or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 401:
            return openai_error(401, "invalid API key", code="invalid_api_key")
        if exc.status_code == 404:
            return openai_error(404, str(exc.detail), code="model_not_found", param="model")
        if isinstance(exc, UnsupportedParameter):
            return openai_error(400, str(exc.detail), code="unsupported_parameter", param="n")
        return openai_error(exc.status_code, str(exc.detail))

    return app

