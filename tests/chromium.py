"""Headless Chromium driven over the DevTools protocol through a pipe: no driver, no port, no
Python dependency. Used by the report tests to load a page, measure what rendered, record every
request the page made and take a screenshot.

Chromium comes from the system packages (``NAMES``); ``syspkg.require`` finds it, or installs it in CI.
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe")


def _high(fd: int) -> int:
    """The same pipe end moved to a descriptor >= 10."""
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Browser:
    """One headless Chromium process and its DevTools pipe (fd 3 in, fd 4 out, NUL-separated JSON)."""

    def __init__(self, binary: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="dnas-chromium-")
        to_child, self._to = os.pipe()
        self._from, from_child = os.pipe()
        to_child, from_child = _high(to_child), _high(from_child)  # so moving them to 3 and 4 clobbers nothing

        def wire() -> None:  # in the child: the pipe ends become fds 3 and 4, which Chromium expects
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.log = Path(self.profile) / "chromium.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={self.profile}"], preexec_fn=wire,
                                         close_fds=False, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        os.close(to_child)
        os.close(from_child)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to, self._from):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from, 1 << 16)
            if not chunk:
                self.proc.wait(timeout=10)
                tail = self.log.read_text(errors="replace")[-2000:]
                raise ConnectionError(f"Chromium closed its DevTools pipe (exit status {self.proc.returncode}): "
                                      f"{tail}")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Call a DevTools method and return its result; events that arrive meanwhile are kept."""
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise ConnectionError(f"Chromium exited with status {self.proc.returncode}: {tail}")
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str | None = None) -> dict[str, Any]:
        """Wait for an event (or take it from those already received)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method and (session is None or e.get("sessionId") == session):
                    return self.events.pop(i)
            self.events.append(self._read(deadline))


MEASURE = """JSON.stringify({
  title: document.title,
  tables: [...document.querySelectorAll('table')].map(t => {const r = t.getBoundingClientRect();
    return {w: r.width, h: r.height, rows: t.rows.length};}),
  images: [...document.querySelectorAll('img')].map(i => {const r = i.getBoundingClientRect();
    return {w: r.width, h: r.height, nw: i.naturalWidth, nh: i.naturalHeight, complete: i.complete,
            src: i.currentSrc.slice(0, 30)};}),
  height: document.documentElement.scrollHeight,
  text: document.body.innerText.length
})"""


def render(binary: str, page: Path, screenshot: Path | None = None, width: int = 1280, height: int = 900,
           clip_height: int | None = None) -> dict[str, Any]:
    """Load ``page`` headless; return what rendered (tables, images), every request and console error."""
    url = page.resolve().as_uri()
    with Browser(binary) as b:
        target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            b.send(f"{domain}.enable", session=s)
        b.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                      "mobile": False}, session=s)
        b.send("Page.navigate", {"url": url}, session=s)
        b.wait_for("Page.loadEventFired", s)
        measured = json.loads(b.send("Runtime.evaluate", {"expression": MEASURE, "returnByValue": True},
                                     session=s)["result"]["value"])
        if screenshot is not None:
            params: dict[str, Any] = {"format": "png"}
            if clip_height:
                params["clip"] = {"x": 0, "y": 0, "width": width, "height": clip_height, "scale": 1}
                params["captureBeyondViewport"] = True
            data = b.send("Page.captureScreenshot", params, session=s)["data"]
            screenshot.write_bytes(base64.b64decode(data))
        events = [e for e in b.events if e.get("sessionId") == s]
    requests = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
    errors = [e["params"]["entry"] for e in events if e.get("method") == "Log.entryAdded"
              and e["params"]["entry"].get("level") == "error"]
    errors += [e["params"] for e in events if e.get("method") == "Runtime.exceptionThrown"]
    return {**measured, "url": url, "requests": requests, "errors": errors}
