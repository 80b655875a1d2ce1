"""Open a report in Debian's headless chromium, check its charts rendered, take a screenshot.

python scripts/report_screenshot.py out/demo/report.html docs/report-demo.png [--height 2400]

Drives chromium over the Chrome DevTools Protocol (``--remote-debugging-port`` and the
``websocket-client`` package): nothing is downloaded at run time, unlike playwright or selenium's
driver managers. ``tests/reporting/test_report_browser.py`` uses ``open_report`` the same way.
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import websocket

sys.path.insert(0, str(Path(__file__).resolve().parent))
from subprocs import stop_process

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Per chart div: plotly's SVG layers, its trace groups, and the drawn marks (bars, funnel
# segments, lines), after the page's scripts ran.
CHART_PROBE = """JSON.stringify(
  Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => ({
  id: d.id,
  svgs: d.querySelectorAll('svg.main-svg').length,
  traces: d.querySelectorAll('g.trace').length,
  marks: d.querySelectorAll('g.trace path').length,
  width: Math.round(d.getBoundingClientRect().width),
  height: Math.round(d.getBoundingClientRect().height),
  })))"""
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:", "chrome:", "devtools:")


@dataclass
class PageCheck:
    """What the browser saw: charts, errors, requests that left the file, and a screenshot."""

    charts: list[dict[str, Any]]
    errors: list[str]
    remote_requests: list[str]
    screenshot: bytes = b""
    title: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)


def find_browser() -> Optional[str]:
    """The chromium executable on PATH, if any."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """A minimal CDP client over one page target's websocket: commands in order, events kept."""

    def __init__(self, ws_url: str, timeout: float) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer, keeping the events that arrive meanwhile."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            if "method" in message:
                self.events.append(message)

    def wait_event(self, method: str, deadline: float) -> None:
        """Read events until ``method`` arrives (or the deadline passes)."""
        if any(e["method"] == method for e in self.events):
            return
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return
        raise TimeoutError(f"no {method} before the deadline")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def close(self) -> None:
        """Close the websocket."""
        self.ws.close()


@contextmanager
def chromium(browser: str, width: int, height: int, timeout: float) -> Iterator[DevTools]:
    """A headless chromium with a fresh profile, and a DevTools client on its first page."""
    profile = tempfile.mkdtemp(prefix="newsbeam-chromium-")
    args = [
        browser,
        "--headless=new",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--remote-debugging-port=0",
        "--remote-allow-origins=*",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "about:blank",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # chromium refuses to run as root with its sandbox
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client: Optional[DevTools] = None
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
            targets = json.loads(r.read())
        page = next(t for t in targets if t.get("type") == "page")
        client = DevTools(page["webSocketDebuggerUrl"], timeout)
        yield client
    finally:
        if client is not None:
            client.close()
        stop_process(proc)
        shutil.rmtree(profile, ignore_errors=True)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    """Exceptions, console errors and browser log errors among the events."""
    found = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            found.append("exception: " + str(details.get("exception", {}).get("description")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
            found.append("console: " + " ".join(str(a.get("value")) for a in params["args"]))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            found.append("log: " + str(params["entry"].get("text")))
    return found


def open_report(
    path: str,
    *,
    width: int = 1400,
    height: int = 900,
    screenshot_height: int = 2400,
    timeout: float = 60.0,
    browser: Optional[str] = None,
) -> PageCheck:
    """Load ``path`` in headless chromium, wait for its charts, and report what it saw."""
    executable = browser or find_browser()
    if executable is None:
        raise FileNotFoundError("no chromium on PATH (make browser installs Debian's)")
    url = Path(path).resolve().as_uri()
    with chromium(executable, width, height, timeout) as tools:
        for domain in ("Runtime", "Log", "Network", "Page"):
            tools.call(f"{domain}.enable")
        deadline = time.monotonic() + timeout
        tools.call("Page.navigate", url=url)
        tools.wait_event("Page.loadEventFired", deadline)
        charts: list[dict[str, Any]] = []
        # plotly draws during the load; wait until every chart has drawn its marks.
        while time.monotonic() < deadline:
            charts = json.loads(tools.evaluate(CHART_PROBE) or "[]")
            if charts and all(c["svgs"] and c["marks"] for c in charts):
                break
            time.sleep(0.2)
        metrics = tools.call("Page.getLayoutMetrics")
        content = metrics.get("cssContentSize") or metrics.get("contentSize", {})
        shot_height = min(int(content.get("height", height)), screenshot_height)
        shot = tools.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": width, "height": shot_height, "scale": 1},
        )
        title = str(tools.evaluate("document.title"))
        requests = [
            e["params"]["request"]["url"]
            for e in tools.events
            if e["method"] == "Network.requestWillBeSent"
        ]
        return PageCheck(
            charts=charts,
            errors=_errors(tools.events),
            remote_requests=[u for u in requests if not u.startswith(LOCAL_SCHEMES)],
            screenshot=base64.b64decode(shot["data"]),
            title=title,
            events=tools.events,
        )


def main(argv: Optional[list[str]] = None) -> int:
    """Check a report in the browser and write its screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="the report HTML file")
    parser.add_argument("screenshot", help="where to write the PNG")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2400, help="screenshot height (px)")
    args = parser.parse_args(argv)
    check = open_report(args.report, width=args.width, screenshot_height=args.height)
    Path(args.screenshot).write_bytes(check.screenshot)
    for chart in check.charts:
        print(f"{chart['id']}: {chart['svgs']} svg, {chart['marks']} marks")
    print(f"errors: {check.errors or 'none'}; remote requests: {check.remote_requests or 'none'}")
    print(f"screenshot: {args.screenshot}")
    rendered = check.charts and all(c["svgs"] and c["marks"] for c in check.charts)
    return 0 if rendered and not check.errors and not check.remote_requests else 1


if __name__ == "__main__":
    sys.exit(main())
