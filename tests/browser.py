"""Headless Chromium driven through its DevTools protocol: open a page, wait until a condition in
the page holds (a streamed reply has finished, say), then read the DOM and take a screenshot.
Chromium's own --dump-dom and --screenshot do not wait for a streamed fetch to end."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from pathlib import Path

import httpx

from common.endpoint import free_port


async def _session(url: str, until: str, timeout_s: float, screenshot: Path | None) -> str:
    import websockets

    port = free_port()
    browser = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                "--window-size=1000,900", f"--remote-debugging-port={port}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                pages = httpx.get(f"http://127.0.0.1:{port}/json", timeout=2).json()
                target = next(page for page in pages if page.get("type") == "page")
                break
            except (httpx.HTTPError, StopIteration):
                if time.monotonic() > deadline:
                    raise RuntimeError("headless Chromium did not start") from None
                await asyncio.sleep(0.2)
        async with websockets.connect(target["webSocketDebuggerUrl"], max_size=None) as channel:
            ids = iter(range(1, 10**6))

            async def call(method: str, **params) -> dict:
                number = next(ids)
                await channel.send(json.dumps({"id": number, "method": method, "params": params}))
                while True:
                    message = json.loads(await channel.recv())
                    if message.get("id") == number:
                        return message.get("result", {})

            async def evaluate(expression: str):
                return (await call("Runtime.evaluate", expression=expression, returnByValue=True))["result"].get("value")

            await call("Page.navigate", url=url)
            deadline = time.monotonic() + timeout_s
            while not await evaluate(until):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.25)
            if screenshot is not None:
                shot = await call("Page.captureScreenshot", format="png")
                screenshot.write_bytes(base64.b64decode(shot["data"]))
            return await evaluate("document.documentElement.outerHTML")
    finally:
        browser.kill()
        browser.wait(timeout=10)


def open_page(url: str, until: str, timeout_s: float = 120, screenshot: Path | None = None) -> str:
    """The page's DOM once `until` (a JavaScript expression) is true, or at the timeout."""
    return asyncio.run(_session(url, until, timeout_s, screenshot))
