"""Politeness of page fetching: host groups, robots.txt, per-host pacing, global cap, host backoff.

Entries are keyed by host (exact host name plus a non-default port: ``www.example.com`` and
``cdn.example.com`` are different servers and robots.txt is per host too) and a host's entries are
fetched together as a ``HostGroup``, so a single worker paces that host. A host with more than
``fetch.host_group_size`` entries is split into several groups that may run on different workers at
the same time; each group then gets an equal share of the host's budget (``group_budget``), so the
host never sees more than ``per_host_concurrency`` requests in flight (while it has at most
``per_host_concurrency`` groups) nor more than one request start per ``min_delay_s``, wherever the
groups run.

``FetchEngine`` runs many groups at once in one worker: it starts requests on a thread pool while
the host's share, the host's next start time and the worker-wide slot count (``max_in_flight``,
shared by every engine in the process) allow, retries through the same queue (so a retry waits for
the host's turn and a ``Retry-After`` pauses the whole host), and yields each entry's outcome as
soon as it is known.
"""

import collections
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Any, List, NamedTuple, Optional, Union  # noqa: UP035 - Beam reads hints
from urllib.parse import urlsplit

from protego import Protego

from transforms.core.outputs import dead_letter, filtered, unexpected
from transforms.core.records import DeadLetter, FeedEntry, FetchedPage, FilteredItem
from transforms.core.settings import FetchSettings
from transforms.net.client import HttpClient
from transforms.net.transport import FetchError, HttpResponse

STAGE = "fetch_pages"
ROBOTS_ACCEPT = "text/plain, */*;q=0.1"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Attempt failures that say something about the host rather than the page.
_HOST_FAILURE_TYPES = frozenset(
    {"connection_error", "dns_error", "timeout", "truncated_body", "tls_error", "http_429"}
)
# robots.txt outcomes (RFC 9309 2.3.1): a 4xx, too many redirects or a redirect elsewhere than
# http(s) mean "no robots.txt": everything is allowed. 5xx and network failures mean "unreachable":
# nothing may be fetched. A recording without robots.txt (replay) is the former.
_ROBOTS_ABSENT_TYPES = frozenset(
    {"not_recorded", "too_many_redirects", "redirect_loop", "bad_redirect", "unsupported_url"}
)
# Hosts that refuse the robots.txt request on address grounds refuse the pages too; let each page
# fetch say so (blocked_address) instead of calling it a robots failure.
_ROBOTS_PASS_THROUGH_TYPES = frozenset({"blocked_address", "invalid_url"})


class HostGroup(NamedTuple):
    """Entries of one host fetched as one unit of work (group ``shard`` of ``shards``)."""

    host: str
    shard: int
    shards: int
    # typing.List: Beam infers the schema coder from these hints at runtime (STYLE.md).
    entries: List[FeedEntry]  # noqa: UP006


class HostBackoff(NamedTuple):
    """A host skipped for the rest of the run, and why (one per host group that gave up)."""

    host: str
    reason: str
    failures: int
    skipped: int


class HostBudget(NamedTuple):
    """What one host group may do: requests in flight and least time between request starts."""

    concurrency: int
    min_delay_s: float


def host_key(url: str) -> str:
    """Return the politeness key of ``url``: lowercase host, plus the port when not the default."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").lower().rstrip(".")
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        return host
    return f"{host}:{port}"


def origin_of(url: str) -> str:
    """Return ``scheme://host[:port]`` of ``url`` (robots.txt applies per origin)."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def split_host(host: str, entries: Iterable[FeedEntry], group_size: int) -> list[HostGroup]:
    """Split a host's entries into groups of at most ``group_size``, in a stable order."""
    ordered = sorted(entries, key=lambda e: (e.link, e.outlet_id, e.feed_url, e.position))
    count = max(1, -(-len(ordered) // group_size))
    # Interleaved rather than contiguous: every group gets a similar mix of sections and sizes.
    return [HostGroup(host, i, count, ordered[i::count]) for i in range(count)]


def group_budget(settings: FetchSettings, groups: int) -> HostBudget:
    """Return each group's share of its host's budget when the host was split into ``groups``."""
    return HostBudget(
        concurrency=max(1, settings.per_host_concurrency // groups),
        min_delay_s=settings.min_delay_s * groups,
    )


def is_host_failure(error: FetchError) -> bool:
    """Return True when a failed attempt counts against the host (not just the page)."""
    if error.error_type in _HOST_FAILURE_TYPES:
        return True
    return error.error_type.startswith("http_5")


class RobotsRules(NamedTuple):
    """What an origin's robots.txt allows: parsed rules, everything, or nothing (unreachable)."""

    kind: str  # rules, absent or unreachable
    detail: str
    parser: Optional[Protego] = None

    def allows(self, url: str, token: str) -> bool:
        """Return True when ``url`` may be fetched by ``token``."""
        if self.kind == "absent":
            return True
        if self.kind == "unreachable" or self.parser is None:
            return False
        return bool(self.parser.can_fetch(url, token))

    def delay_s(self, token: str) -> Optional[float]:
        """Return the Crawl-delay (or Request-rate interval) for ``token``, if any."""
        if self.parser is None:
            return None
        delays: list[float] = []
        crawl = self.parser.crawl_delay(token)
        if crawl is not None:
            delays.append(float(crawl))
        rate = self.parser.request_rate(token)
        if rate is not None and rate.requests:
            delays.append(float(rate.seconds) / float(rate.requests))
        return max(delays) if delays else None


def robots_url(origin: str) -> str:
    """Return the robots.txt URL of an origin."""
    return f"{origin}/robots.txt"


def robots_from_response(response: HttpResponse) -> RobotsRules:
    """Parse a robots.txt response (2xx, or a 304 that has no body) into rules."""
    # RFC 9309 says UTF-8; undecodable bytes must not stop the rest of the file from counting.
    text = response.body.decode("utf-8", errors="replace")
    try:
        parser = Protego.parse(text)
    except Exception as exc:  # protego is lenient; a crash must not stop the host
        return RobotsRules("absent", f"unparseable robots.txt ({type(exc).__name__}): allow")
    return RobotsRules("rules", f"robots.txt of {response.url}", parser)


def robots_from_error(error: FetchError) -> Optional[RobotsRules]:
    """Map a failed robots.txt request to rules; None when pages should be tried regardless."""
    kind = error.error_type
    if kind in _ROBOTS_PASS_THROUGH_TYPES:
        return None
    if kind in _ROBOTS_ABSENT_TYPES:
        return RobotsRules("absent", f"no robots.txt ({kind}): allow")
    # 429 is "slow down", not "absent": treated like 5xx, as Google does.
    if kind.startswith("http_4") and kind != "http_429":
        return RobotsRules("absent", f"no robots.txt ({kind}): allow")
    return RobotsRules("unreachable", f"robots.txt unreachable ({kind}: {error}): disallow")


class Task(NamedTuple):
    """One request the engine schedules: a page or an origin's robots.txt."""

    host: "HostState"
    entry: Optional[FeedEntry]  # None for robots.txt
    origin: str
    attempt: int
    # Why the previous attempt failed (retries only).
    last_error: Optional[FetchError] = None


class TaskResult(NamedTuple):
    """What a request produced: a final item or a response, or a failure to schedule a retry on."""

    item: Union[FetchedPage, FilteredItem, DeadLetter, None]
    response: Optional[HttpResponse]
    error: Optional[FetchError]


Outcome = Union[FetchedPage, FilteredItem, DeadLetter, HostBackoff]
# Turns a page response into the entry's final item (transforms/fetch/pages.py: page_from_response).
ClassifyFn = Callable[[FeedEntry, HttpResponse], Union[FetchedPage, FilteredItem, DeadLetter]]


class HostState:
    """The scheduling state of one host group inside an engine."""

    def __init__(self, group: HostGroup, budget: HostBudget, context: Any) -> None:
        self.group = group
        self.context = context
        self.concurrency = budget.concurrency
        self.delay_s = budget.min_delay_s
        self.pending: collections.deque[FeedEntry] = collections.deque(group.entries)
        # Retries waiting for their time: (not_before, sequence, task).
        self.retries: list[tuple[float, int, Task]] = []
        self.robots: dict[str, RobotsRules] = {}
        self.robots_pending: set[str] = set()
        # Origins whose robots.txt could not be asked for address reasons: pages go ahead.
        self.robots_skipped: set[str] = set()
        self.in_flight = 0
        self.next_start = 0.0
        self.failures = 0
        self.last_failure = ""
        self.backed_off: Optional[str] = None

    @property
    def done(self) -> bool:
        """True when nothing is queued, waiting for a retry or in flight."""
        return not self.pending and not self.retries and self.in_flight == 0


class FetchEngine:
    """Fetch many host groups at once under per-host, per-group and worker-wide limits."""

    def __init__(
        self,
        client: HttpClient,
        robots_client: HttpClient,
        settings: FetchSettings,
        executor: Executor,
        slots: threading.Semaphore,
        classify: ClassifyFn,
        accept: str,
        *,
        paced: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._robots_client = robots_client
        self._settings = settings
        self._executor = executor
        self._slots = slots
        self._classify = classify
        self._accept = accept
        # Replay has no server to be polite to: no delays (robots.txt rules still apply).
        self._paced = paced
        self._clock = clock
        self._hosts: list[HostState] = []
        self._futures: dict[Future[TaskResult], Task] = {}
        self._ready: collections.deque[tuple[Any, Outcome]] = collections.deque()
        self._sequence = itertools.count()
        self._rotation = 0

    @property
    def active(self) -> int:
        """Number of host groups not finished yet."""
        return len(self._hosts)

    def add(self, group: HostGroup, context: Any = None) -> None:
        """Queue a host group; ``context`` travels with each of its outcomes."""
        budget = group_budget(self._settings, group.shards)
        if not self._paced:
            budget = HostBudget(budget.concurrency, 0.0)
        self._hosts.append(HostState(group, budget, context))

    def run(self, until_active_below: Optional[int] = None) -> Iterator[tuple[Any, Outcome]]:
        """Work until fewer than ``until_active_below`` groups are active (None: all done)."""
        while True:
            self._hosts = [h for h in self._hosts if not h.done]
            yield from self._drain()
            if not self._hosts:
                return
            wake, starved = self._dispatch(self._clock())
            yield from self._drain()
            if until_active_below is not None and len(self._hosts) < until_active_below:
                # Room for more groups: hand back to the caller, but only after starting what
                # may start and collecting what has finished, so work flows between calls.
                for future in [f for f in self._futures if f.done()]:
                    self._complete(future)
                yield from self._drain()
                return
            self._wait(wake, starved)

    def _drain(self) -> Iterator[tuple[Any, Outcome]]:
        """Yield outcomes that are ready."""
        while self._ready:
            yield self._ready.popleft()

    def _wait(self, wake: Optional[float], starved: bool) -> None:
        """Block until a request finishes, a host's turn comes, or a worker slot may be free."""
        timeout: Optional[float] = None if wake is None else max(0.0, wake - self._clock())
        if starved:
            # Slots held by other engines in this process free up without telling us.
            timeout = 0.05 if timeout is None else min(timeout, 0.05)
        if self._futures:
            done, _ = wait(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                self._complete(future)
        else:
            # Without anything in flight every active host has a wake-up time; the fallback only
            # keeps a logic slip from turning into a busy loop.
            time.sleep(0.01 if timeout is None else timeout)

    def _dispatch(self, now: float) -> tuple[Optional[float], bool]:
        """Start every request the limits allow; return the next wake-up time and starvation."""
        wake: Optional[float] = None
        # Start with a different host each round: when the worker-wide cap binds, no host is
        # always served first.
        self._rotation = (self._rotation + 1) % max(1, len(self._hosts))
        for host in self._hosts[self._rotation :] + self._hosts[: self._rotation]:
            while host.in_flight < host.concurrency and not host.backed_off:
                if host.next_start > now:
                    wake = _earliest(wake, host.next_start)
                    break
                task, later = self._next_task(host, now)
                wake = _earliest(wake, later)
                if task is None:
                    break
                if not self._slots.acquire(blocking=False):
                    self._requeue(host, task, now)
                    return wake, True
                self._start(host, task, now)
        return wake, False

    def _next_task(self, host: HostState, now: float) -> tuple[Optional[Task], Optional[float]]:
        """Pick the host's next request (retries first); settle entries robots.txt rules out."""
        if host.retries and host.retries[0][0] <= now:
            return heapq.heappop(host.retries)[2], None
        later = host.retries[0][0] if host.retries else None
        while host.pending:
            entry = host.pending[0]
            try:
                origin = origin_of(entry.link)
            except ValueError as exc:
                host.pending.popleft()
                self._emit(host, unexpected(STAGE, entry.link, entry.outlet_id, exc))
                continue
            if origin in host.robots_skipped:
                host.pending.popleft()
                return Task(host, entry, origin, 0), later
            rules = host.robots.get(origin)
            if rules is None:
                if origin in host.robots_pending:
                    return None, later  # wait for robots.txt (the rest of the host waits too)
                host.robots_pending.add(origin)
                return Task(host, None, origin, 0), later
            host.pending.popleft()
            if rules.allows(entry.link, self._settings.robots_token):
                return Task(host, entry, origin, 0), later
            if rules.kind == "unreachable":
                self._emit(
                    host,
                    dead_letter(
                        STAGE, entry.link, entry.outlet_id, "robots_unreachable", rules.detail
                    ),
                )
            else:
                self._emit(
                    host,
                    filtered(STAGE, entry.link, entry.outlet_id, "robots_disallowed", rules.detail),
                )
        return None, later

    def _requeue(self, host: HostState, task: Task, now: float) -> None:
        """Put back a task that could not start (no worker slot)."""
        if task.entry is None:
            host.robots_pending.discard(task.origin)
        elif task.attempt == 0:
            host.pending.appendleft(task.entry)
        else:
            heapq.heappush(host.retries, (now, next(self._sequence), task))

    def _start(self, host: HostState, task: Task, now: float) -> None:
        """Submit a request and account for it."""
        host.in_flight += 1
        host.next_start = now + host.delay_s
        future = self._executor.submit(self._perform, task)
        self._futures[future] = task

    def _perform(self, task: Task) -> TaskResult:
        """Run one request on a pool thread; never raises, always gives its worker slot back."""
        try:
            if task.entry is None:
                url = robots_url(task.origin)
                response = self._robots_client.attempt(url, accept=ROBOTS_ACCEPT)
                return TaskResult(None, response, None)
            entry = task.entry
            response = self._client.attempt(entry.link, accept=self._accept)
            return TaskResult(self._classify(entry, response), None, None)
        except FetchError as exc:
            return TaskResult(None, None, exc)
        except Exception as exc:  # a bug must cost one entry, not the bundle
            if task.entry is None:
                error = FetchError(f"unexpected:{type(exc).__name__}", str(exc))
                return TaskResult(None, None, error)
            entry = task.entry
            return TaskResult(unexpected(STAGE, entry.link, entry.outlet_id, exc), None, None)
        finally:
            # Released here rather than when the engine notices: an engine abandoned with its
            # bundle must not keep the process's slots.
            self._slots.release()

    def _complete(self, future: "Future[TaskResult]") -> None:
        """Account for a finished request and decide what happens next."""
        task = self._futures.pop(future)
        host = task.host
        host.in_flight -= 1
        result = future.result()
        now = self._clock()
        if task.entry is None:
            self._complete_robots(host, task, result, now)
        else:
            self._complete_page(host, task, result, now)

    def _complete_robots(self, host: HostState, task: Task, result: TaskResult, now: float) -> None:
        """Record an origin's robots.txt rules (or schedule a retry of the robots request)."""
        if result.response is not None:
            host.failures = 0
            rules = robots_from_response(result.response)
        else:
            error = result.error or FetchError("unexpected", "robots.txt request gave nothing")
            self._note_failure(host, error, now)
            delay = self._client.retry_delay(error, task.attempt)
            if delay is not None and not host.backed_off:
                self._schedule_retry(host, task, now + delay)
                self._check_failures(host)
                return
            resolved = robots_from_error(error)
            if resolved is None:
                host.robots_pending.discard(task.origin)
                host.robots_skipped.add(task.origin)
                return
            rules = resolved
        host.robots_pending.discard(task.origin)
        host.robots[task.origin] = rules
        crawl = rules.delay_s(self._settings.robots_token)
        if crawl is not None and self._paced:
            # Honoured up to a cap (Heritrix does the same): a Crawl-delay of an hour would
            # stretch a group of 200 pages over a week.
            host.delay_s = max(host.delay_s, min(crawl, self._settings.max_crawl_delay_s))
        # An unreachable robots.txt settles the host's entries: no failure count needed.

    def _complete_page(self, host: HostState, task: Task, result: TaskResult, now: float) -> None:
        """Emit a page's outcome, or schedule its retry."""
        assert task.entry is not None
        entry = task.entry
        if result.item is not None:
            host.failures = 0
            self._emit(host, result.item)
            return
        error = result.error or FetchError("unexpected", "request gave nothing")
        self._note_failure(host, error, now)
        delay = self._client.retry_delay(error, task.attempt)
        if delay is not None and not host.backed_off:
            self._schedule_retry(host, task._replace(last_error=error), now + delay)
        else:
            message = str(error)
            if task.attempt:
                message = f"{message} (after {task.attempt + 1} attempts)"
            self._emit(
                host, dead_letter(STAGE, entry.link, entry.outlet_id, error.error_type, message)
            )
        self._check_failures(host)

    def _note_failure(self, host: HostState, error: FetchError, now: float) -> None:
        """Count a failed attempt against its host; pause or back off for Retry-After."""
        if error.retry_after_s is not None and self._paced:
            if error.retry_after_s > self._settings.max_retry_after_s:
                reason = f"{error.error_type} with Retry-After {error.retry_after_s:.0f} s"
                self._back_off(host, reason)
            else:
                # The server asked every client to wait, not just this request.
                host.next_start = max(host.next_start, now + error.retry_after_s)
        if is_host_failure(error):
            host.failures += 1
            host.last_failure = f"{error.error_type}: {error}"
        else:
            # The server answered (404, not HTML, too large ...): the host itself is fine.
            host.failures = 0

    def _check_failures(self, host: HostState) -> None:
        """Back a host off once its consecutive failures reach the limit."""
        if host.failures >= self._settings.host_failure_limit and not host.backed_off:
            reason = f"{host.failures} consecutive failed attempts, last {host.last_failure}"
            self._back_off(host, reason)

    def _schedule_retry(self, host: HostState, task: Task, not_before: float) -> None:
        """Queue the next attempt of ``task`` for ``not_before``."""
        retry = task._replace(attempt=task.attempt + 1)
        heapq.heappush(host.retries, (not_before, next(self._sequence), retry))

    def _back_off(self, host: HostState, reason: str) -> None:
        """Skip the rest of a host's entries: each becomes a ``host_backed_off`` dead letter."""
        if host.backed_off:
            return
        host.backed_off = reason
        message = f"host {host.group.host} backed off for this run: {reason}"
        for _, _, task in host.retries:
            if task.entry is not None and task.last_error is not None:
                # Tried and failed already: its own error says more than the backoff does.
                error = task.last_error
                detail = f"{error} (after {task.attempt} attempts; retry cancelled: {message})"
                entry = task.entry
                self._emit(
                    host, dead_letter(STAGE, entry.link, entry.outlet_id, error.error_type, detail)
                )
        skipped = list(host.pending)
        host.pending.clear()
        host.retries.clear()
        for entry in skipped:
            letter = dead_letter(STAGE, entry.link, entry.outlet_id, "host_backed_off", message)
            self._emit(host, letter)
        self._emit(host, HostBackoff(host.group.host, reason, host.failures, len(skipped)))

    def _emit(self, host: HostState, outcome: Outcome) -> None:
        """Queue an outcome for the caller."""
        self._ready.append((host.context, outcome))


def _earliest(current: Optional[float], candidate: Optional[float]) -> Optional[float]:
    """Return the earlier of two optional times."""
    if candidate is None:
        return current
    if current is None:
        return candidate
    return min(current, candidate)


_SLOTS: dict[int, threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


def worker_slots(max_in_flight: int) -> threading.BoundedSemaphore:
    """Return the process-wide request slots for ``max_in_flight`` (shared by all engines)."""
    with _SLOTS_LOCK:
        slots = _SLOTS.get(max_in_flight)
        if slots is None:
            slots = _SLOTS[max_in_flight] = threading.BoundedSemaphore(max_in_flight)
        return slots
