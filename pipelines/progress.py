"""The launcher's side of the live progress line: listen for workers' counts, draw one line.

Workers count with ``transforms.core.progress``; here a thread receives their datagrams on a
loopback UDP port and redraws a single terminal line in place (``\\r`` + erase line). Drawn only
for local runners (the workers must reach 127.0.0.1 of this machine) and, unless asked with
``--progress``, only when stderr is a terminal: a scheduled run's log gets nothing extra.
"""

import secrets
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any, Optional, TextIO

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from transforms.core.progress import (
    DEAD_LETTERS,
    EXTRACTED,
    FEEDS,
    FETCHED,
    KINDS,
    QUEUED,
    ProgressAddress,
    decode_counts,
)

# Runners whose SDK workers run on this machine (in process, as subprocesses or as Prism's).
LOCAL_RUNNERS = frozenset(
    {
        "FnApiRunner",
        "DirectRunner",
        "BundleBasedDirectRunner",
        "SwitchingDirectRunner",
        "PrismRunner",
    }
)
REDRAW_EVERY_S = 0.2
ERASE_LINE = "\r\x1b[2K"


def runner_name(options: PipelineOptions) -> str:
    """Return the runner's class name as given (``apache_beam...FnApiRunner`` -> FnApiRunner)."""
    runner = options.view_as(StandardOptions).runner or ""
    return str(runner).rsplit(".", 1)[-1]


def wants_progress(asked: Optional[bool], options: PipelineOptions, stream: TextIO) -> bool:
    """Decide whether to draw: as asked, else on a terminal with a local runner."""
    local = runner_name(options) in LOCAL_RUNNERS
    if asked and not local:
        raise ValueError(f"--progress needs a local runner, not {runner_name(options)!r}")
    if asked is not None:
        return asked
    return local and stream.isatty()


def live_text(counts: Mapping[str, int], feeds_total: int, elapsed_s: float) -> str:
    """Return the progress line for the counts so far."""
    parts = []
    if feeds_total:
        parts.append(f"feeds {counts.get(FEEDS, 0)}/{feeds_total}")
    parts.append(f"fetched {counts.get(FETCHED, 0)} of {counts.get(QUEUED, 0)} queued")
    parts.append(f"extracted {counts.get(EXTRACTED, 0)}")
    parts.append(f"dead letters {counts.get(DEAD_LETTERS, 0)}")
    return " | ".join(parts) + f" | {elapsed_s:.0f} s"


def final_text(summary: Mapping[str, Any], elapsed_s: float) -> str:
    """Return the last line, from the run's own ``run.json`` (not from the live counts)."""
    feeds = summary["feeds"]
    parts = []
    if feeds["configured"]:
        parts.append(f"feeds {feeds['ok']}/{feeds['configured']}")
    parts += [
        f"entries {summary['entries_in']}",
        f"written {summary['articles']['written']}",
        f"filtered {summary['filtered']['total']}",
        f"dead letters {summary['dead_letters']['total']}",
    ]
    return f"done in {elapsed_s:.0f} s: " + " | ".join(parts)


class ProgressLine:
    """Receive workers' counts on a loopback port and redraw the line until ``stop``."""

    def __init__(self, stream: TextIO, feeds_total: int) -> None:
        self._stream = stream
        self._feeds_total = feeds_total
        self._token = secrets.token_hex(8)
        self._counts = dict.fromkeys(KINDS, 0)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(REDRAW_EVERY_S)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="progress", daemon=True)
        self._started = time.monotonic()

    @property
    def address(self) -> ProgressAddress:
        """Where workers send their counts."""
        host, port = self._socket.getsockname()[:2]
        return ProgressAddress(host, port, self._token)

    @property
    def counts(self) -> dict[str, int]:
        """The counts received so far."""
        return dict(self._counts)

    def start(self) -> ProgressAddress:
        """Start listening and drawing; return the address for the workers."""
        self._started = time.monotonic()
        self._thread.start()
        return self.address

    def _listen(self) -> None:
        last_draw, drawn = 0.0, ""
        while not self._stopped.is_set():
            try:
                data = self._socket.recv(65536)
            except TimeoutError:
                data = b""
            except OSError:
                return
            counts = decode_counts(data, self._token) if data else None
            for kind, n in (counts or {}).items():
                self._counts[kind] += n
            now = time.monotonic()
            text = live_text(self._counts, self._feeds_total, now - self._started)
            # Redrawn when something changed (the elapsed time has whole seconds), at most
            # every REDRAW_EVERY_S.
            if text != drawn and now - last_draw >= REDRAW_EVERY_S:
                last_draw, drawn = now, text
                self._draw(text)

    def _draw(self, text: str) -> None:
        self._stream.write(ERASE_LINE + text)
        self._stream.flush()

    def stop(self, summary: Optional[Mapping[str, Any]] = None) -> None:
        """Stop drawing; end with the final counts of ``summary`` (or the live ones) on a line."""
        self._stopped.set()
        if self._thread.ident is not None:
            self._thread.join()
        self._socket.close()
        elapsed = time.monotonic() - self._started
        if summary is not None:
            text = final_text(summary, elapsed)
        else:
            text = "stopped: " + live_text(self._counts, self._feeds_total, elapsed)
        self._draw(text)
        self._stream.write("\n")
        self._stream.flush()
