"""HTTP fetching shared by feeds and pages: one client, two transports (live and replay).

The client owns the policy (redirects, retries with backoff, size and time caps, status handling); a
transport only moves bytes for a single request. Replay therefore goes through exactly the same
client code as a live run: only the transport differs. The live transport connects only to public
addresses unless ``fetch.allow_networks`` admits others (``transforms/netguard.py``); replay needs
no network and checks nothing.
"""

import contextlib
import email.utils
import heapq
import itertools
import json
import posixpath
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple, Optional, Protocol

import urllib3
from apache_beam.io.filesystems import FileSystems

from transforms.core.settings import FetchSettings
from transforms.core.timeutil import to_iso, utc_now_iso
from transforms.core.urls import is_http_url, normalize_url, resolve_url
from transforms.net.guard import (
    GUARDED_POOLS,
    BlockedAddressError,
    RequestContext,
    policy_for,
    set_request_context,
)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
STREAM_CHUNK = 64 * 1024
NOT_MODIFIED = 304


class FetchError(Exception):
    """A request failed; ``error_type`` is a short, stable reason code."""

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after_s: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class RawResponse(NamedTuple):
    """What a transport returns for one request (no redirect handling)."""

    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: str


class HttpResponse(NamedTuple):
    """A final response after redirects."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: str
    redirects: list[str]

    @property
    def content_type(self) -> str:
        """Return the media type without parameters, lowercased ('' when absent)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> Optional[str]:
        """Return the charset parameter of Content-Type, if any."""
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'").lower()
        return None


class Transport(Protocol):
    """Moves the bytes of one GET request."""

    def send(
        self, url: str, headers: Mapping[str, str], settings: FetchSettings, deadline: float
    ) -> RawResponse:
        """Perform one request without following redirects."""
        ...


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return headers with lowercase names (the last value wins for repeated names)."""
    return {str(k).lower(): str(v) for k, v in headers.items()}


def request_headers(
    user_agent: str, accept: str, extra: Optional[Mapping[str, str]] = None
) -> dict[str, str]:
    """Default request headers, with ``extra`` replacing defaults of the same (any-case) name."""
    headers = {"User-Agent": user_agent, "Accept": accept, "Accept-Encoding": "gzip, deflate"}
    if extra:
        overridden = {str(name).lower() for name in extra}
        headers = {k: v for k, v in headers.items() if k.lower() not in overridden}
        headers.update({str(k): str(v) for k, v in extra.items()})
    return headers


class Watchdog:
    """One thread that runs an action when a deadline passes unless the deadline was disarmed.

    Connect and read timeouts bound each socket operation, not their sum: a server that drips a
    byte per second (in the headers or the body) never trips them. The watchdog enforces the total
    budget by shutting the request's socket down, which wakes the blocked read.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._armed: set[int] = set()
        self._ids = itertools.count()
        self._thread: Optional[threading.Thread] = None

    def arm(self, deadline: float, action: Callable[[], None]) -> int:
        """Run ``action`` at ``deadline`` (time.monotonic) unless disarmed; return a token."""
        with self._cond:
            token = next(self._ids)
            heapq.heappush(self._heap, (deadline, token, action))
            self._armed.add(token)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fetch-watchdog", daemon=True
                )
                self._thread.start()
            if self._heap[0][1] == token:
                # Only an earlier deadline changes how long the thread must sleep.
                self._cond.notify()
            return token

    def disarm(self, token: int) -> None:
        """Cancel a deadline; once this returns its action can no longer run."""
        with self._cond:
            self._armed.discard(token)

    def _run(self) -> None:
        """Fire due actions forever (daemon thread)."""
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                _, token, action = heapq.heappop(self._heap)
                self._armed.discard(token)
                # Under the lock: after disarm() returns, the connection may serve another
                # request, and this action must not hit it.
                # The watchdog thread must survive whatever an action raises.
                with contextlib.suppress(Exception):
                    action()


def _abort(context: RequestContext) -> None:
    """Mark the request expired and shut its socket down, so a blocked read returns at once."""
    context.expired = True
    sock = getattr(context.connection, "sock", None)
    if sock is not None:
        # The plain socket method, also for TLS: SSLSocket.shutdown would drop the TLS object
        # under the reading thread's feet.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class UrllibTransport:
    """Live HTTP(S) with urllib3: public addresses only, bounded time and body size."""

    def __init__(self, pool_size: int = 16, num_pools: int = 64) -> None:
        self._pool = urllib3.PoolManager(num_pools=num_pools, maxsize=pool_size, retries=False)
        # Every connection resolves and checks its host itself (transforms/netguard.py).
        self._pool.pool_classes_by_scheme = GUARDED_POOLS
        self._watchdog = Watchdog()

    def send(
        self, url: str, headers: Mapping[str, str], settings: FetchSettings, deadline: float
    ) -> RawResponse:
        """GET ``url`` once; raise FetchError on refusal, network failure, timeout or oversize."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError("timeout", "total time budget exhausted", retryable=False)
        context = RequestContext(policy_for(tuple(settings.allow_networks)))
        set_request_context(context)
        token = self._watchdog.arm(deadline, lambda: _abort(context))
        try:
            return self._send(url, headers, settings, deadline, remaining, context)
        finally:
            self._watchdog.disarm(token)
            set_request_context(None)

    def _send(
        self,
        url: str,
        headers: Mapping[str, str],
        settings: FetchSettings,
        deadline: float,
        remaining: float,
        context: RequestContext,
    ) -> RawResponse:
        """The request itself, with urllib3's exceptions mapped to reason codes."""
        timeout = urllib3.Timeout(
            connect=min(settings.connect_timeout_s, remaining),
            read=min(settings.read_timeout_s, remaining),
        )
        try:
            resp = self._pool.request(
                "GET",
                url,
                headers=dict(headers),
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=True,
                timeout=timeout,
            )
        except BlockedAddressError as exc:
            raise FetchError("blocked_address", str(exc)) from exc
        except urllib3.exceptions.NameResolutionError as exc:
            # Only a temporary failure (EAI_AGAIN) is worth asking again; "no such name" is final.
            temporary = getattr(exc.__cause__, "errno", None) == socket.EAI_AGAIN
            raise FetchError("dns_error", str(exc), retryable=temporary) from exc
        except urllib3.exceptions.NewConnectionError as exc:
            # Checked first: urllib3 makes NewConnectionError a subclass of ConnectTimeoutError.
            raise FetchError("connection_error", str(exc), retryable=True) from exc
        except urllib3.exceptions.TimeoutError as exc:
            raise FetchError("timeout", str(exc), retryable=True) from exc
        except urllib3.exceptions.LocationValueError as exc:
            raise FetchError("invalid_url", str(exc)) from exc
        except urllib3.exceptions.SSLError as exc:
            raise _expired_or(context, FetchError("tls_error", str(exc))) from exc
        except urllib3.exceptions.HTTPError as exc:
            error = FetchError("connection_error", str(exc), retryable=True)
            raise _expired_or(context, error) from exc
        try:
            body = _read_capped(resp, settings.max_bytes, deadline)
        except FetchError as exc:
            # Unread bytes are still on the wire: this connection must not be reused.
            resp.close()
            raise _expired_or(context, exc) from exc
        finally:
            resp.release_conn()
        return RawResponse(
            status=resp.status,
            headers=_lower_headers(resp.headers),
            body=body,
            fetched_at=utc_now_iso(),
        )


def _expired_or(context: RequestContext, error: FetchError) -> FetchError:
    """Report a failure caused by the watchdog as the timeout it is."""
    if context.expired:
        return FetchError("timeout", "total time budget exhausted (fetch.total_timeout_s)")
    return error


def _read_capped(resp: urllib3.BaseHTTPResponse, max_bytes: int, deadline: float) -> bytes:
    """Read a streamed body, decompressed, refusing more than ``max_bytes`` or past ``deadline``."""
    declared = resp.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError("too_large", f"Content-Length {declared} exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    total = 0
    try:
        # Counting decoded bytes caps decompression bombs as well as plain large bodies.
        for chunk in resp.stream(STREAM_CHUNK, decode_content=True):
            total += len(chunk)
            if total > max_bytes:
                raise FetchError("too_large", f"body exceeds {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise FetchError("timeout", "total time budget exhausted while reading body")
            chunks.append(chunk)
    except urllib3.exceptions.TimeoutError as exc:
        raise FetchError("timeout", str(exc), retryable=True) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise FetchError("decode_error", str(exc)) from exc
    except urllib3.exceptions.HTTPError as exc:
        # IncompleteRead, connection reset mid-body, chunked-encoding errors.
        raise FetchError("truncated_body", str(exc), retryable=True) from exc
    return b"".join(chunks)


class RecordedResponse(NamedTuple):
    """One entry of a recording's ``index.jsonl``."""

    url: str
    status: int
    headers: dict[str, str]
    body_path: Optional[str]
    recorded_at: str


def load_recording_index(directory: str) -> dict[str, RecordedResponse]:
    """Read ``<directory>/index.jsonl`` into a map keyed by exact and normalized URL."""
    index_path = FileSystems.join(directory, "index.jsonl")
    entries: dict[str, RecordedResponse] = {}
    with FileSystems.open(index_path) as handle:
        for number, raw in enumerate(handle.read().decode("utf-8").splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
                rec = RecordedResponse(
                    url=str(item["url"]),
                    status=int(item["status"]),
                    headers=_lower_headers(item.get("headers") or {}),
                    body_path=item.get("body"),
                    recorded_at=str(item["recorded_at"]),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{index_path}:{number}: invalid recording entry: {exc}") from exc
            entries.setdefault(rec.url, rec)
            entries.setdefault(normalize_url(rec.url), rec)
    return entries


class ReplayTransport:
    """Serves recorded responses (``index.jsonl`` + body files); no network at all."""

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._index = load_recording_index(directory)

    def send(
        self, url: str, headers: Mapping[str, str], settings: FetchSettings, deadline: float
    ) -> RawResponse:
        """Return the recorded response for ``url`` or raise ``not_recorded``."""
        rec = self._index.get(url) or self._index.get(normalize_url(url))
        if rec is None:
            raise FetchError("not_recorded", f"no recorded response for {url}")
        body = b""
        if rec.body_path:
            path = FileSystems.join(self._directory, *posixpath.normpath(rec.body_path).split("/"))
            with FileSystems.open(path) as handle:
                body = handle.read(settings.max_bytes + 1)
            if len(body) > settings.max_bytes:
                raise FetchError("too_large", f"body exceeds {settings.max_bytes} bytes")
        return RawResponse(
            status=rec.status, headers=dict(rec.headers), body=body, fetched_at=rec.recorded_at
        )


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Parse a Retry-After header (seconds or HTTP-date) into seconds from now."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class HttpClient:
    """GET with redirects, retries (exponential backoff with jitter) and caps, over a transport."""

    def __init__(
        self,
        settings: FetchSettings,
        transport: Transport,
        *,
        sleep: "SleepFn | None" = None,
        rng: Optional[random.Random] = None,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._sleep = sleep or time.sleep
        self._rng = rng or random.Random()

    def get(
        self,
        url: str,
        accept: str = "*/*",
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> HttpResponse:
        """Fetch ``url``; raise FetchError with a reason code when it cannot be fetched.

        ``extra_headers`` (``If-None-Match``, ``If-Modified-Since`` ...) are sent on every hop and
        replace a default header of the same name. A ``304 Not Modified`` is returned, not raised.
        """
        _require_http(url)
        deadline = time.monotonic() + self._settings.total_timeout_s
        attempt = 0
        while True:
            try:
                return self._follow(url, accept, deadline, extra_headers)
            except FetchError as exc:
                delay = self.retry_delay(exc, attempt)
                if delay is None or time.monotonic() + delay >= deadline:
                    raise
                self._sleep(delay)
                attempt += 1

    def attempt(
        self,
        url: str,
        accept: str = "*/*",
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> HttpResponse:
        """One logical request (redirects followed, no retry) within its own total time budget.

        For callers that schedule retries themselves (page fetching retries through its per-host
        scheduler, so a retry also waits for the host's turn), using ``retry_delay``.
        """
        _require_http(url)
        deadline = time.monotonic() + self._settings.total_timeout_s
        return self._follow(url, accept, deadline, extra_headers)

    def retry_delay(self, error: FetchError, attempt: int) -> Optional[float]:
        """Seconds to wait before retrying after ``error`` on 0-based ``attempt``; None: give up."""
        settings = self._settings
        if not error.retryable or attempt >= settings.retries:
            return None
        if error.retry_after_s is not None:
            # The server said when: never sooner. If that is too far off, not in this run.
            if error.retry_after_s > settings.max_retry_after_s:
                return None
            return error.retry_after_s
        # Exponential backoff with "equal jitter": half the step fixed, half random, so that
        # workers that failed together do not come back together.
        ceiling = min(settings.backoff_max_s, settings.backoff_base_s * (2**attempt))
        return self._rng.uniform(ceiling / 2, ceiling)

    def _follow(
        self,
        url: str,
        accept: str,
        deadline: float,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> HttpResponse:
        """Perform one logical request, following redirects up to the configured limit."""
        headers = request_headers(self._settings.user_agent, accept, extra_headers)
        current = url
        redirects: list[str] = []
        while True:
            raw = self._transport.send(current, headers, self._settings, deadline)
            if raw.status in REDIRECT_STATUSES:
                target = resolve_url(current, raw.headers.get("location"))
                if target is None:
                    raise FetchError(
                        "bad_redirect",
                        f"redirect from {current} to unusable {raw.headers.get('location')!r}",
                    )
                if target in redirects or target == url:
                    raise FetchError("redirect_loop", f"redirect loop at {target}")
                redirects.append(target)
                if len(redirects) > self._settings.max_redirects:
                    raise FetchError(
                        "too_many_redirects", f"more than {self._settings.max_redirects} redirects"
                    )
                current = target
                continue
            if raw.status >= 400:
                raise FetchError(
                    f"http_{raw.status}",
                    f"HTTP {raw.status} for {current}",
                    retryable=raw.status in RETRYABLE_STATUSES,
                    retry_after_s=parse_retry_after(raw.headers.get("retry-after")),
                )
            # 304 answers a conditional request (extra_headers): the caller decides what it means.
            if (raw.status < 200 or raw.status >= 300) and raw.status != NOT_MODIFIED:
                raise FetchError(f"http_{raw.status}", f"unexpected HTTP {raw.status}")
            return HttpResponse(
                url=current,
                status=raw.status,
                headers=raw.headers,
                body=b"" if raw.status == 304 else raw.body,
                fetched_at=raw.fetched_at,
                redirects=redirects,
            )


def _require_http(url: str) -> None:
    """Raise ``unsupported_url`` unless ``url`` is an absolute http(s) URL (never file://)."""
    if not is_http_url(url):
        raise FetchError("unsupported_url", f"not an http(s) URL: {url!r}")


class SleepFn(Protocol):
    """A ``time.sleep``-like callable (injectable for tests)."""

    def __call__(self, seconds: float) -> None:
        """Sleep for ``seconds``."""
        ...


class TransportOptions(NamedTuple):
    """How a client moves bytes: replay source (recording dir or WARC files) and WARC archiving."""

    # A recording directory (index.jsonl), or WARC files: a .warc/.warc.gz file, a directory of
    # them or a glob. None: live HTTP.
    replay: Optional[str] = None
    # When set, every raw response is also written to WARC files in this directory ...
    archive_dir: Optional[str] = None
    # ... named after this run.
    run_id: str = "run"


def build_transport(
    replay: "TransportOptions | str | None", live: Optional[Callable[[], Transport]] = None
) -> Transport:
    """The transport for ``replay``: a recording, WARC files or live HTTP, archived if asked.

    ``live`` builds the live transport (default: ``UrllibTransport()``), e.g. with pools sized
    for the fetch caps.
    """
    # Imported here: transforms.warc builds on this module's types.
    from transforms.net import warc

    options = replay if isinstance(replay, TransportOptions) else TransportOptions(replay=replay)
    transport: Transport
    if options.replay and warc.is_warc_source(options.replay):
        transport = warc.WarcReplayTransport(options.replay)
    elif options.replay:
        transport = ReplayTransport(options.replay)
    else:
        transport = live() if live is not None else UrllibTransport()
    if options.archive_dir:
        transport = warc.WarcArchivingTransport(transport, options.archive_dir, options.run_id)
    return transport


def build_client(
    settings: FetchSettings, replay_dir: "TransportOptions | str | None"
) -> HttpClient:
    """Return a client over ``build_transport(replay_dir)``: a recording, WARC or live HTTP."""
    return HttpClient(settings, build_transport(replay_dir))


__all__ = [
    "FetchError",
    "HttpClient",
    "HttpResponse",
    "RawResponse",
    "ReplayTransport",
    "TransportOptions",
    "UrllibTransport",
    "build_client",
    "build_transport",
    "load_recording_index",
    "parse_retry_after",
    "to_iso",
]
