"""Headless Chromium driven over the DevTools protocol, for PDF reports and page checks.

The browser is started with ``--remote-debugging-pipe``: commands and replies travel as
NUL-terminated JSON messages over two pipes (file descriptors 3 and 4 of the child), so no
network port is opened and no Python dependency beyond the standard library is needed.
Every run gets a fresh, temporary profile that is deleted on close.

>>> with Chromium() as browser:                                       # doctest: +SKIP
...     page = browser.new_page()
...     page.goto(Path("out/demo_city/map.html").resolve().as_uri())
...     page.evaluate("document.querySelectorAll('path.cp-site').length")
"""

from __future__ import annotations

import base64
import json
import logging
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charge_planner.errors import BrowserError

log = logging.getLogger(__name__)

__all__ = ["BrowserError", "Chromium", "Page", "find_chromium"]

#: executables tried in order when none is given ($CHARGE_PLANNER_CHROMIUM first)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

#: flags for a quiet, sandbox-free headless browser that never phones home
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
)


def find_chromium(executable: str | os.PathLike[str] | None = None) -> str | None:
    """Path of a Chromium/Chrome executable, or None when there is none.

    Parameters
    ----------
    executable
        Explicit path or command name; else ``$CHARGE_PLANNER_CHROMIUM``, else the first of
        :data:`CANDIDATES` on the ``PATH``.
    """
    names = [str(executable)] if executable else []
    env = os.environ.get("CHARGE_PLANNER_CHROMIUM")
    if env and not executable:
        names.append(env)
    if not executable:
        names += list(CANDIDATES)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    """One browser tab, attached in flattened session mode.

    Attributes
    ----------
    errors
        JavaScript exceptions and console errors raised in the page, as one line each.
    requests
        URLs the page requested (documents, scripts, images, tiles).
    failed_requests
        URLs whose loading failed, with the network error text.
    dialogs
        Messages of JavaScript dialogs (``alert``, ``confirm``) the page opened; they are
        dismissed at once.
    """

    browser: Chromium
    session_id: str
    target_id: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    _request_urls: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, params: dict[str, Any] | None = None, *, timeout_s: float | None = None) -> dict[str, Any]:
        """Send one DevTools command to this page and return its result."""
        return self.browser.call(method, params, session_id=self.session_id, timeout_s=timeout_s)

    def _on_event(self, msg: dict[str, Any]) -> None:
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = d.get("exception", {}).get("description") or d.get("text", "exception")
            self.errors.append(f"{text.splitlines()[0]} ({d.get('url', '')}:{d.get('lineNumber', '?')})")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.errors.append(f"console.{p['type']}: {args}")
        elif method == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            self.requests.append(url)
            self._request_urls[p.get("requestId", "")] = url
        elif method == "Network.loadingFailed":
            url = self._request_urls.get(p.get("requestId", ""), "?")
            self.failed_requests.append(f"{url}: {p.get('errorText', '')}")
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(str(p.get("message", "")))
            self.browser.send("Page.handleJavaScriptDialog", {"accept": False}, session_id=self.session_id)

    def goto(self, url: str, *, timeout_s: float = 60.0, settle_s: float = 0.3) -> None:
        """Open ``url`` and wait for its load event (then ``settle_s`` more for late scripts)."""
        self.browser.events_seen.clear()
        result = self.call("Page.navigate", {"url": url}, timeout_s=timeout_s)
        if result.get("errorText"):
            raise BrowserError(f"could not open {url}: {result['errorText']}")
        self.browser.wait_event("Page.loadEventFired", session_id=self.session_id, timeout_s=timeout_s)
        end = time.monotonic() + settle_s
        while time.monotonic() < end:
            self.browser.pump(max(0.0, end - time.monotonic()))

    def evaluate(self, expression: str, *, timeout_s: float = 30.0) -> Any:
        """Value of a JavaScript expression (awaited when it is a promise)."""
        r = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout_s=timeout_s,
        )
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise BrowserError(f"script failed: {d.get('exception', {}).get('description', d.get('text'))}")
        return r.get("result", {}).get("value")

    def set_viewport(self, width_px: int, height_px: int, *, scale: float = 1.0) -> None:
        """Size of the page's viewport [px]."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": int(width_px), "height": int(height_px), "deviceScaleFactor": scale, "mobile": False},
        )

    def screenshot(self, path: str | os.PathLike[str], *, full_page: bool = False) -> Path:
        """Write a PNG screenshot of the viewport (or the whole page) to ``path``."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            m = self.call("Page.getLayoutMetrics")
            size = m.get("cssContentSize") or m["contentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", params, timeout_s=60.0)["data"]
        out = Path(path)
        out.write_bytes(base64.b64decode(data))
        return out

    def print_pdf(self, path: str | os.PathLike[str], *, footer_html: str | None = None, timeout_s: float = 120.0) -> Path:
        """Print the page to a PDF file (A4 unless the page's CSS ``@page`` says otherwise).

        Parameters
        ----------
        path
            Output file.
        footer_html
            Footer template (Chromium fills ``<span class="pageNumber">``, ``totalPages``,
            ``title``); None for no header or footer.
        timeout_s
            Time allowed for printing [s].
        """
        params: dict[str, Any] = {
            "printBackground": True,
            "preferCSSPageSize": True,
            "paperWidth": 8.27,
            "paperHeight": 11.69,
            "marginTop": 0.55,
            "marginBottom": 0.6,
            "marginLeft": 0.5,
            "marginRight": 0.5,
            "displayHeaderFooter": footer_html is not None,
            "headerTemplate": "<div></div>",
            "footerTemplate": footer_html or "<div></div>",
        }
        data = self.call("Page.printToPDF", params, timeout_s=timeout_s)["data"]
        out = Path(path)
        out.write_bytes(base64.b64decode(data))
        return out


class Chromium:
    """A headless Chromium process; use as a context manager.

    Parameters
    ----------
    executable
        Browser executable (default: :func:`find_chromium`).
    timeout_s
        Default time allowed for one command [s].
    """

    def __init__(self, executable: str | os.PathLike[str] | None = None, *, timeout_s: float = 60.0) -> None:
        exe = find_chromium(executable)
        if exe is None:
            raise BrowserError(
                "Chromium not found: install it (Debian: apt-get install chromium) or set $CHARGE_PLANNER_CHROMIUM "
                "to the browser executable"
            )
        self.executable = exe
        self.timeout_s = timeout_s
        self.events_seen: list[dict[str, Any]] = []
        self._pages: dict[str, Page] = {}
        self._next_id = 0
        self._buffer = b""
        self._profile = tempfile.mkdtemp(prefix="charge_planner_chromium_")
        self._stderr = tempfile.TemporaryFile()
        # pipe ends moved above the low descriptors so the child's dup2 onto 3 and 4 cannot clash
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        self._child_in = _high_fd(cmd_r)
        self._child_out = _high_fd(res_w)
        self._to_browser = cmd_w
        self._from_browser = res_r
        child_in, child_out = self._child_in, self._child_out

        def _wire_pipes() -> None:  # runs in the child between fork and exec
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        args = [exe, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self._profile}", "about:blank"]
        log.debug("starting %s", " ".join(args))
        try:
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                pass_fds=(3, 4, child_in, child_out),
                preexec_fn=_wire_pipes,  # noqa: PLW1509 - no threads are started before this call
            )
        except OSError as exc:
            self._cleanup()
            raise BrowserError(f"could not start {exe}: {exc}") from exc
        finally:
            os.close(child_in)
            os.close(child_out)
        try:
            self.call("Browser.getVersion", timeout_s=timeout_s)
        except BrowserError:
            self.close()
            raise

    # -- protocol -------------------------------------------------------------------------
    def send(self, method: str, params: dict[str, Any] | None = None, *, session_id: str | None = None) -> int:
        """Send a command without waiting; returns its message id."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session_id:
            msg["sessionId"] = session_id
        data = json.dumps(msg).encode() + b"\0"
        try:
            while data:
                n = os.write(self._to_browser, data)
                data = data[n:]
        except OSError as exc:
            raise BrowserError(f"Chromium closed its command pipe ({exc}){self._stderr_tail()}") from exc
        return self._next_id

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session_id: str | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Send a command and wait for its result."""
        mid = self.send(method, params, session_id=session_id)
        end = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            for msg in self._read(end, method):
                if msg.get("id") == mid:
                    if "error" in msg:
                        raise BrowserError(f"{method} failed: {msg['error'].get('message', msg['error'])}")
                    return msg.get("result", {})
                self._dispatch(msg)

    def pump(self, timeout_s: float) -> None:
        """Process the events that arrive within ``timeout_s`` [s]."""
        end = time.monotonic() + timeout_s
        try:
            for msg in self._read(end, "events"):
                self._dispatch(msg)
        except BrowserError as exc:
            if "timed out" not in str(exc):
                raise

    def wait_event(self, method: str, *, session_id: str | None = None, timeout_s: float | None = None) -> dict[str, Any]:
        """Wait for an event (one already received since the last navigation counts)."""
        end = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            for msg in self.events_seen:
                if msg.get("method") == method and (session_id is None or msg.get("sessionId") == session_id):
                    return msg
            for msg in self._read(end, method):
                self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if "method" not in msg:
            return
        self.events_seen.append(msg)
        page = self._pages.get(msg.get("sessionId", ""))
        if page is not None:
            page._on_event(msg)

    def _read(self, end: float, what: str) -> list[dict[str, Any]]:
        """Messages available now, blocking until at least one arrives or ``end`` passes."""
        while b"\0" not in self._buffer:
            left = end - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium timed out waiting for {what}")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited while waiting for {what}{self._stderr_tail()}")
            self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\0")
        return [json.loads(m) for m in complete if m]

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            lines = [ln for ln in self._stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        except (OSError, ValueError):
            return ""
        return f"; last browser message: {lines[-1][:300]}" if lines else ""

    # -- pages ----------------------------------------------------------------------------
    def new_page(self, *, width_px: int = 1280, height_px: int = 900) -> Page:
        """Open a new tab with the page, runtime, log and network domains enabled."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        self._pages[session] = page
        for domain in ("Page", "Runtime", "Network"):
            page.call(f"{domain}.enable")
        page.set_viewport(width_px, height_px)
        return page

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the browser and delete its temporary profile."""
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            try:
                self.send("Browser.close")
                proc.wait(timeout=10)
            except (BrowserError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        for fd in ("_to_browser", "_from_browser"):
            f = getattr(self, fd, None)
            if f is not None:
                try:
                    os.close(f)
                except OSError:
                    pass
                setattr(self, fd, None)
        self._stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _high_fd(fd: int) -> int:
    """Duplicate ``fd`` to a descriptor number of 10 or more and close the original."""
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high
