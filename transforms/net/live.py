"""Live HTTP transport on urllib3: guarded connections, a total-time watchdog, capped bodies."""

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Optional

import urllib3

from transforms.core.settings import FetchSettings
from transforms.core.timeutil import utc_now_iso
from transforms.net.guard import (
    GUARDED_POOLS,
    BlockedAddressError,
    RequestContext,
    policy_for,
    set_request_context,
)
from transforms.net.transport import FetchError, RawResponse, lower_headers

STREAM_CHUNK = 64 * 1024


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
        # Every connection resolves and checks its host itself (transforms/net/guard.py).
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
            headers=lower_headers(resp.headers),
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
