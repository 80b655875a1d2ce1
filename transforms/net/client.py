"""HTTP fetching shared by feeds and pages: one client, two transports (live and replay).

The client owns the policy (redirects, retries with backoff, size and time caps, status handling); a
transport only moves bytes for a single request. Replay therefore goes through exactly the same
client code as a live run: only the transport differs. The live transport connects only to public
addresses unless ``fetch.allow_networks`` admits others (``transforms/net/guard.py``); replay needs
no network and checks nothing.
"""

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple, Optional, Protocol

from transforms.core.settings import FetchSettings
from transforms.core.urls import is_http_url, resolve_url
from transforms.net import warc
from transforms.net.live import UrllibTransport
from transforms.net.recording import ReplayTransport
from transforms.net.transport import (
    NOT_MODIFIED,
    REDIRECT_STATUSES,
    RETRYABLE_STATUSES,
    FetchError,
    HttpResponse,
    Transport,
)


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
