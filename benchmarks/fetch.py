"""Fetch throughput under politeness: 2,000 pages on 20 local hosts, 200 ms per response, cap 4.

python benchmarks/fetch.py [--pages 2000] [--hosts 20] [--latency 0.2] [--per-host 4]

Each host is its own address (127.0.0.2 ... 127.0.0.21) served by a separate process, so the
servers do not compete with the fetcher for the GIL and the peak RSS below is the pipeline's
own. The real ``FetchPages`` transform runs on FnApiRunner (in_memory, one worker process); every
response (robots.txt included, a 404 here) arrives after ``--latency`` seconds.

ideal = pages / (hosts x per_host) x latency: every host busy with ``per_host`` requests all the
time, nothing else costing anything. The servers record when each request arrived and finished,
so the table reports the concurrency and the start gaps each host actually saw.
"""

import argparse
import itertools
import multiprocessing
import resource
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.combiners import Count

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from transforms.core.records import FeedEntry
from transforms.core.settings import FetchSettings
from transforms.fetch.pages import FetchPages

PAGE = (
    b"<!DOCTYPE html><html><head><title>Benchmark page</title></head><body><article>"
    + b"<p>Politeness costs nothing when the scheduler is busy elsewhere.</p>" * 60
    + b"</article></body></html>"
)
Span = tuple[str, float, float]  # path, arrived, finished (time.monotonic in the server process)


def serve(addresses: list[str], latency: float, ready: Connection, done: Any) -> None:
    """Run one slow HTTP server per address until ``done`` is set; send back the spans."""
    spans: dict[str, list[Span]] = defaultdict(list)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Like any production server: without TCP_NODELAY the stdlib handler's separate header
        # and body writes meet the client's delayed ACK and every response stalls ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            arrived = time.monotonic()
            time.sleep(latency)
            status, body = (404, b"no robots.txt") if self.path == "/robots.txt" else (200, PAGE)
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with lock:
                spans[self.server.server_address[0]].append(  # type: ignore[index]
                    (self.path, arrived, time.monotonic())
                )

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    servers = [Server((address, 0), Handler) for address in addresses]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    ready.send([srv.server_address[:2] for srv in servers])
    done.wait()
    with lock:
        ready.send(dict(spans))
    for srv in servers:
        srv.shutdown()


def entry(url: str, position: int) -> FeedEntry:
    """A feed entry pointing at ``url``."""
    return FeedEntry(
        outlet_id="bench",
        feed_url="https://bench.example/rss",
        feed_title=None,
        feed_language=None,
        outlet_languages=[],
        guid=None,
        link=url,
        title=None,
        summary=None,
        published=None,
        authors=[],
        categories=[],
        image_url=None,
        position=position,
    )


def max_concurrent(spans: list[Span]) -> int:
    """Most requests in flight at once among ``spans``."""
    events = sorted([(a, 1) for _, a, _ in spans] + [(f, -1) for _, _, f in spans])
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def min_gap(spans: list[Span]) -> Optional[float]:
    """Least time between two request arrivals among ``spans``."""
    starts = sorted(a for _, a, _ in spans)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    return min(gaps) if gaps else None


def run_pipeline(entries: list[FeedEntry], settings: FetchSettings) -> None:
    """FetchPages over ``entries`` on FnApiRunner (in_memory); counts are checked by the caller."""
    options = PipelineOptions(["--runner=FnApiRunner"])
    with beam.Pipeline(options=options) as p:
        pages = p | beam.Create(entries) | FetchPages(settings)
        # Only counts leave the stage: the pages themselves are dropped as they come.
        (
            (
                pages.main | "Ok" >> beam.Map(lambda _: "ok"),
                pages.filtered | "Filtered" >> beam.Map(lambda f: f"filtered:{f.reason}"),
                pages.dead_letters | "Dead" >> beam.Map(lambda d: f"dead:{d.error_type}"),
            )
            | beam.Flatten()
            | Count.PerElement()
            | beam.Map(lambda kv: print(f"  outcome {kv[0]}: {kv[1]}"))
        )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark and print the table; the last line is ``fetch_vs_ideal: <ratio>``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--per-host", type=int, default=4)
    args = parser.parse_args(argv)
    addresses = [f"127.0.0.{2 + i}" for i in range(args.hosts)]
    parent, child = multiprocessing.Pipe()
    done = multiprocessing.Event()
    proc = multiprocessing.Process(target=serve, args=(addresses, args.latency, child, done))
    proc.start()
    bound = parent.recv()
    entries = [
        entry(f"http://{host}:{port}/article/{n}.html", n)
        for n in range(args.pages)
        for host, port in [bound[n % args.hosts]]
    ]
    settings = FetchSettings(
        allow_networks=("127.0.0.0/8",),
        per_host_concurrency=args.per_host,
        min_delay_s=0,
        max_in_flight=args.hosts * args.per_host,
        retries=0,
    )
    start = time.monotonic()
    run_pipeline(entries, settings)
    seconds = time.monotonic() - start
    done.set()
    spans: dict[str, list[Span]] = parent.recv()
    proc.join()

    ideal = args.pages / (args.hosts * args.per_host) * args.latency
    pages_seen = sum(1 for s in spans.values() for path, _, _ in s if path != "/robots.txt")
    all_spans = [s for host_spans in spans.values() for s in host_spans]
    window = max(f for _, _, f in all_spans) - min(a for _, a, _ in all_spans)
    per_host_max = max(max_concurrent(s) for s in spans.values())
    gaps = [g for g in (min_gap(s) for s in spans.values()) if g is not None]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("pages requested (servers saw)", f"{pages_seen} (+{len(all_spans) - pages_seen} robots)"),
        ("hosts x per-host cap", f"{args.hosts} x {args.per_host}"),
        ("server latency", f"{args.latency * 1000:.0f} ms"),
        ("ideal", f"{ideal:.2f} s"),
        ("pipeline wall time (FnApiRunner in_memory)", f"{seconds:.2f} s"),
        ("first request to last response", f"{window:.2f} s"),
        ("max concurrent requests per host", str(per_host_max)),
        ("min gap between starts per host", f"{min(gaps) * 1000:.1f} ms" if gaps else "-"),
        ("peak RSS (fetching process)", f"{peak_mb:.0f} MB"),
        ("ratio wall / ideal", f"{seconds / ideal:.2f}"),
        ("ratio fetch window / ideal", f"{window / ideal:.2f}"),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"| {key:<{width}} | {value:>22} |")
    print(f"fetch_vs_ideal: {seconds / ideal:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
