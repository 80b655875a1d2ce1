"""Live progress of a local run: workers count items and send the counts to the launcher.

The launcher (``pipelines/progress.py``) listens on a UDP socket on 127.0.0.1 and draws one line
on the terminal. Workers send a small JSON datagram ``{"t": token, "c": {kind: n}}`` at the end
of each bundle and at most every ``FLUSH_EVERY_S`` inside a long bundle. UDP because a lost or
unheard datagram must never slow or fail the job: nothing waits for an answer, and the final
line is drawn from ``run.json``, not from these counts. Only loopback addresses are accepted, so
a worker never sends anything off the machine.
"""

import ipaddress
import json
import socket
import time
from collections.abc import Iterable
from typing import Any, Optional

import apache_beam as beam
from apache_beam.pvalue import PCollection

# Counter names the launcher draws (``pipelines/progress.py``), in data-flow order.
FEEDS = "feeds"
QUEUED = "queued"
FETCHED = "fetched"
EXTRACTED = "extracted"
DEAD_LETTERS = "dead_letters"
KINDS = (FEEDS, QUEUED, FETCHED, EXTRACTED, DEAD_LETTERS)
# A terminal redraws a few times a second; more datagrams would only cost the workers time.
FLUSH_EVERY_S = 0.5


class ProgressAddress:
    """Where workers send counts: a loopback UDP port and the run's token (picklable)."""

    def __init__(self, host: str, port: int, token: str) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"progress address must be loopback, not {host!r}")
        self.host = host
        self.port = port
        self.token = token

    def __repr__(self) -> str:
        return f"ProgressAddress({self.host!r}, {self.port}, {self.token!r})"


def encode_counts(token: str, counts: dict[str, int]) -> bytes:
    """Return the datagram for ``counts``."""
    return json.dumps({"t": token, "c": counts}, separators=(",", ":")).encode()


def decode_counts(data: bytes, token: str) -> Optional[dict[str, int]]:
    """Return the counts of a datagram for this run, or None for anything else."""
    try:
        message = json.loads(data)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("t") != token:
        return None
    counts = message.get("c")
    if not isinstance(counts, dict):
        return None
    return {k: v for k, v in counts.items() if k in KINDS and isinstance(v, int) and v >= 0} or None


class ProgressReporter:
    """Accumulate counts in a worker and send them now and then; never raises."""

    def __init__(self, address: ProgressAddress) -> None:
        self._address = address
        self._pending: dict[str, int] = {}
        self._socket: Optional[socket.socket] = None
        self._last = 0.0

    def __getstate__(self) -> dict[str, Any]:
        # The socket and unsent counts belong to one worker process; a copy starts empty.
        return {"_address": self._address}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["_address"])  # type: ignore[misc]

    def add(self, kind: str, n: int = 1) -> None:
        """Count ``n`` items of ``kind``; send when the last send is old enough."""
        self._pending[kind] = self._pending.get(kind, 0) + n
        now = time.monotonic()
        if now - self._last >= FLUSH_EVERY_S:
            self.flush(now)

    def flush(self, now: Optional[float] = None) -> None:
        """Send what is pending (best effort: a send error drops the counts, not the job)."""
        self._last = time.monotonic() if now is None else now
        if not self._pending:
            return
        data = encode_counts(self._address.token, self._pending)
        self._pending = {}
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto(data, (self._address.host, self._address.port))
        except OSError:
            pass


class CountProgressFn(beam.DoFn):
    """Count every element as ``kind`` and emit nothing (a tap beside the real consumers)."""

    def __init__(self, address: ProgressAddress, kind: str) -> None:
        self._reporter = ProgressReporter(address)
        self._kind = kind

    def process(self, element: Any) -> Iterable[None]:
        self._reporter.add(self._kind)
        return ()

    def finish_bundle(self) -> None:
        self._reporter.flush()


class TapProgress(beam.PTransform):
    """Count the elements of one or more PCollections for the progress line; outputs nothing."""

    def __init__(self, address: ProgressAddress, kind: str) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown progress kind {kind!r}")
        self._address = address
        self._kind = kind

    def expand(self, pcolls: Any) -> PCollection:
        if isinstance(pcolls, tuple):
            pcolls = pcolls | "Merge" >> beam.Flatten()
        return pcolls | "Count" >> beam.ParDo(CountProgressFn(self._address, self._kind))
