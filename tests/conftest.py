"""Shared test fixtures: a real HTTP server on 127.0.0.1, recordings, corpus location."""

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional, Union

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus"
DEMO = ROOT / "seeds" / "demo"

Response = tuple[int, dict[str, str], bytes]
Route = Union[Response, Callable[[BaseHTTPRequestHandler], Optional[Response]]]


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 answering from a route table (path -> response)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.hits.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    reply: Optional[Response] = (404, {"Content-Type": "text/plain"}, b"not found")
                elif callable(route):
                    reply = route(self)
                else:
                    reply = route
                if reply is None:
                    return  # the route wrote (or broke) the response itself
                status, headers, body = reply
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "LocalServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A fresh local HTTP server per test."""
    with LocalServer() as srv:
        yield srv


def write_recording(directory: Path, responses: list[dict[str, object]]) -> Path:
    """Write a replay recording: each response has url, status, headers, body (bytes|None)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for n, item in enumerate(responses):
        body = item.get("body")
        rel = None
        if body is not None:
            rel = f"bodies/{n:04d}.bin"
            (directory / "bodies").mkdir(exist_ok=True)
            (directory / rel).write_bytes(body)  # type: ignore[arg-type]
        lines.append(
            json.dumps(
                {
                    "url": item["url"],
                    "status": item.get("status", 200),
                    "headers": item.get("headers", {}),
                    "body": rel,
                    "recorded_at": item.get("recorded_at", "2024-01-01T00:00:00Z"),
                }
            )
        )
    (directory / "index.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def corpus_dir(*parts: str) -> Path:
    """Path inside ../shared/corpus, skipping the test when it is absent."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared corpus not available: {path}")
    return path


def articles_table(out: Path) -> pa.Table:
    """The articles table of an output directory (Hive partitions), read with pyarrow."""
    return ds.dataset(str(out / "articles"), format="parquet", partitioning="hive").to_table()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """The bundled demo (seeds/demo) run once on FnApiRunner: (output directory, run summary)."""
    from pipelines.ingest import run  # Beam loads only for the tests that run the demo

    out = tmp_path_factory.mktemp("demo")
    summary = run(
        [
            "--outlets",
            str(DEMO / "outlets.yaml"),
            "--replay",
            str(DEMO / "recording"),
            "--output",
            str(out),
            "--run_id",
            "e2e",
            "--runner",
            "FnApiRunner",
        ]
    )
    return out, summary
