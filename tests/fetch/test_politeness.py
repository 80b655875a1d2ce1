"""Politeness: host keys and groups, robots.txt, pacing, caps and backoff, against real servers."""

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import LocalServer
from transforms.core.records import DeadLetter, FeedEntry, FetchedPage, FilteredItem
from transforms.core.settings import ConfigError, FetchSettings, config_from_mapping
from transforms.fetch.pages import HTML_ACCEPT, page_from_response
from transforms.fetch.politeness import (
    FetchEngine,
    HostBackoff,
    HostGroup,
    RobotsRules,
    group_budget,
    host_key,
    is_host_failure,
    robots_from_error,
    robots_from_response,
    split_host,
)
from transforms.net.client import HttpClient
from transforms.net.live import UrllibTransport
from transforms.net.transport import FetchError, HttpResponse
from transforms.sinks.summary import build_summary, count_key

# Server-side arrival times may be this much closer together than the client's starts.
JITTER = 0.02
PAGE = b"<html><head><title>t</title></head><body><p>text</p></body></html>"
HTML = {"Content-Type": "text/html; charset=utf-8"}


def settings(**overrides):
    base = dict(
        allow_networks=("127.0.0.0/8",),
        retries=0,
        read_timeout_s=5,
        min_delay_s=0,
        per_host_concurrency=2,
        max_in_flight=8,
    )
    base.update(overrides)
    return FetchSettings(**base)


def entry(url: str, position: int = 0) -> FeedEntry:
    return FeedEntry(
        "outlet", "https://feeds.example/rss", None, None, [], None, url, None, None, None, [],
        [], None, position,
    )  # fmt: skip


class Timed:
    """A route that sleeps, and records when each request started and ended (server side)."""

    def __init__(self, delay_s: float, reply=(200, HTML, PAGE)) -> None:
        self.delay_s = delay_s
        self.reply = reply
        self.spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._active = 0
        self.max_active = 0

    def __call__(self, handler):
        start = time.monotonic()
        with self._lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        time.sleep(self.delay_s)
        with self._lock:
            self._active -= 1
            self.spans.append((start, time.monotonic()))
        return self.reply

    def min_gap(self) -> float:
        """Least time between two request arrivals (server side).

        Pacing applies to the client's request starts; arrivals jitter by a few milliseconds
        (a fresh connection, the server's accept thread), hence the tolerance in the asserts.
        """
        starts = sorted(s for s, _ in self.spans)
        return min(b - a for a, b in itertools.pairwise(starts))


def run_engine(cfg, groups, slots=None):
    """Fetch ``groups`` in one engine; return (outcomes, slots)."""
    transport = UrllibTransport()
    slots = slots or threading.BoundedSemaphore(cfg.max_in_flight)
    with ThreadPoolExecutor(cfg.max_in_flight) as pool:
        engine = FetchEngine(
            HttpClient(cfg, transport),
            HttpClient(cfg, transport),
            cfg,
            pool,
            slots,
            page_from_response,
            HTML_ACCEPT,
        )
        for group in groups:
            engine.add(group, group.host)
        outcomes = [o for _, o in engine.run()]
    return outcomes, slots


def by_type(outcomes, kind):
    return [o for o in outcomes if isinstance(o, kind)]


def host_groups(server, paths, group_size=200):
    host = host_key(server.url("/"))
    return split_host(host, [entry(server.url(p), i) for i, p in enumerate(paths)], group_size)


def in_order(server, paths):
    """One group fetched in exactly this order (split_host would sort by link)."""
    entries = [entry(server.url(p), i) for i, p in enumerate(paths)]
    return [HostGroup(host_key(server.url("/")), 0, 1, entries)]


# --- pure parts --------------------------------------------------------------------------------


def test_host_keys():
    assert host_key("https://WWW.Example.com/a?b") == "www.example.com"
    assert host_key("http://www.example.com:80/a") == "www.example.com"
    assert host_key("https://www.example.com:443/a") == "www.example.com"
    assert host_key("http://www.example.com:8080/a") == "www.example.com:8080"
    assert host_key("https://example.com./") == "example.com"
    assert host_key("http://[::1]:8000/") == "::1:8000"
    assert host_key("http://a.example:99999/") == ""  # invalid port
    assert host_key("not a url") == ""


def test_large_hosts_are_split_into_bounded_groups_sharing_the_budget():
    entries = [entry(f"https://big.example/{i:03d}", i) for i in range(450)]
    groups = split_host("big.example", reversed(entries), 200)
    assert [g.shards for g in groups] == [3, 3, 3] and [g.shard for g in groups] == [0, 1, 2]
    assert sorted(len(g.entries) for g in groups) == [150, 150, 150]
    assert sorted(e.link for g in groups for e in g.entries) == sorted(e.link for e in entries)
    assert split_host("big.example", entries, 200) == groups  # order of arrival does not matter
    cfg = FetchSettings(per_host_concurrency=4, min_delay_s=1.0)
    assert group_budget(cfg, 1) == (4, 1.0)
    assert group_budget(cfg, 2) == (2, 2.0)  # together: 4 in flight, one start per second
    assert group_budget(cfg, 3) == (1, 3.0)
    assert group_budget(cfg, 8) == (1, 8.0)  # starts stay at one per second even then


def test_what_counts_against_a_host():
    for kind in ("connection_error", "timeout", "dns_error", "http_503", "http_500", "http_429"):
        assert is_host_failure(FetchError(kind, "x")), kind
    for kind in ("http_404", "http_410", "too_large", "blocked_address", "not_recorded"):
        assert not is_host_failure(FetchError(kind, "x")), kind


@pytest.mark.parametrize(
    "error_type, kind",
    [
        ("http_404", "absent"),
        ("http_403", "absent"),
        ("http_401", "absent"),
        ("not_recorded", "absent"),
        ("too_many_redirects", "absent"),
        ("http_429", "unreachable"),
        ("http_500", "unreachable"),
        ("http_503", "unreachable"),
        ("timeout", "unreachable"),
        ("connection_error", "unreachable"),
        ("too_large", "unreachable"),
        ("blocked_address", None),
    ],
)
def test_robots_failures_follow_rfc_9309(error_type, kind):
    rules = robots_from_error(FetchError(error_type, "x"))
    assert (rules.kind if rules else None) == kind
    if rules is not None:
        assert rules.allows("https://a.example/x", "newsbeam") is (kind == "absent")


def test_robots_rules_for_our_token():
    body = (
        b"User-agent: *\nDisallow: /\n\n"
        b"User-agent: newsbeam\nDisallow: /private\nAllow: /private/ok\nCrawl-delay: 2\n"
        b"Request-rate: 1/5s\n"
    )
    response = HttpResponse("https://a.example/robots.txt", 200, {}, body, "t", [])
    rules = robots_from_response(response)
    assert rules.allows("https://a.example/news/1", "newsbeam")
    assert not rules.allows("https://a.example/private/x", "newsbeam")
    assert rules.allows("https://a.example/private/ok", "newsbeam")
    assert not rules.allows("https://a.example/news/1", "otherbot")
    assert rules.delay_s("newsbeam") == 5.0  # the stricter of Crawl-delay and Request-rate
    assert RobotsRules("absent", "").delay_s("newsbeam") is None


# --- the engine against real servers -----------------------------------------------------------


def test_per_host_cap_and_pacing_hold(server):
    timed = Timed(0.2)
    paths = [f"/a{i}" for i in range(10)]
    for path in paths:
        server.routes[path] = timed
    cfg = settings(per_host_concurrency=2, min_delay_s=0.05)
    outcomes, _ = run_engine(cfg, host_groups(server, paths))
    assert len(by_type(outcomes, FetchedPage)) == 10
    assert timed.max_active == 2  # the cap was used, never exceeded
    assert timed.min_gap() >= 0.05 - JITTER  # starts paced


def test_robots_is_fetched_once_and_honoured(server):
    server.routes["/robots.txt"] = (
        200,
        {"Content-Type": "text/plain"},
        b"User-agent: newsbeam\nDisallow: /private/\nCrawl-delay: 0.3\n",
    )
    timed = Timed(0.0)
    paths = ["/news/1", "/news/2", "/news/3", "/private/a", "/private/b"]
    for path in paths:
        server.routes[path] = timed
    outcomes, _ = run_engine(settings(per_host_concurrency=4), host_groups(server, paths))
    assert server.hits.count("/robots.txt") == 1
    assert "/private/a" not in server.hits and "/private/b" not in server.hits
    refused = by_type(outcomes, FilteredItem)
    assert sorted(f.url for f in refused) == [server.url("/private/a"), server.url("/private/b")]
    assert {f.reason for f in refused} == {"robots_disallowed"}
    assert len(by_type(outcomes, FetchedPage)) == 3
    assert timed.min_gap() >= 0.3 - JITTER  # Crawl-delay beats min_delay_s (0 here)


@pytest.mark.parametrize("status, outcome", [(404, "fetched"), (500, "robots_unreachable")])
def test_missing_robots_allows_and_unreachable_robots_forbids(server, status, outcome):
    server.routes["/robots.txt"] = (status, {}, b"")
    server.routes["/a"] = (200, HTML, PAGE)
    outcomes, _ = run_engine(settings(), host_groups(server, ["/a"]))
    if outcome == "fetched":
        assert len(by_type(outcomes, FetchedPage)) == 1
    else:
        (dead,) = by_type(outcomes, DeadLetter)
        assert dead.error_type == "robots_unreachable" and "http_500" in dead.error_message
        assert "/a" not in server.hits


def test_a_failing_host_is_backed_off_and_every_entry_accounted_for(server):
    timed = Timed(0.0, reply=(503, {}, b"down"))
    paths = [f"/p{i}" for i in range(8)]
    for path in paths:
        server.routes[path] = timed
    cfg = settings(host_failure_limit=3, per_host_concurrency=1)
    outcomes, _ = run_engine(cfg, host_groups(server, paths))
    dead = by_type(outcomes, DeadLetter)
    assert sorted(d.error_type for d in dead) == ["host_backed_off"] * 5 + ["http_503"] * 3
    assert len(timed.spans) == 3  # nothing more was sent to the host
    (backoff,) = by_type(outcomes, HostBackoff)
    assert backoff.host == host_key(server.url("/")) and backoff.skipped == 5
    assert "3 consecutive failed attempts" in backoff.reason and "http_503" in backoff.reason
    assert {d.url for d in dead} == {server.url(p) for p in paths}


def test_a_success_resets_the_failure_count(server):
    paths = []
    for i in range(4):
        server.routes[f"/bad{i}"] = (503, {}, b"")
        server.routes[f"/good{i}"] = (200, HTML, PAGE)
        paths += [f"/bad{i}", f"/good{i}"]
    cfg = settings(host_failure_limit=2, per_host_concurrency=1)
    outcomes, _ = run_engine(cfg, in_order(server, paths))
    assert not by_type(outcomes, HostBackoff)  # never two failures in a row
    assert len(by_type(outcomes, FetchedPage)) == 4
    assert [d.error_type for d in by_type(outcomes, DeadLetter)] == ["http_503"] * 4


def test_retry_after_pauses_the_whole_host(server):
    first = []

    def limited(handler):
        if not first:
            first.append(time.monotonic())
            return (429, {"Retry-After": "1"}, b"slow down")
        return (200, HTML, PAGE)

    timed = Timed(0.0)
    server.routes["/limited"] = limited
    for i in range(3):
        server.routes[f"/other{i}"] = timed
    # One at a time: without the host-wide pause /other0 would start as soon as the 429 came back
    # (the retry of /limited itself is scheduled a second later).
    groups = in_order(server, ["/limited", "/other0", "/other1", "/other2"])
    cfg = settings(per_host_concurrency=1, retries=1)
    outcomes, _ = run_engine(cfg, groups)
    assert len(by_type(outcomes, FetchedPage)) == 4
    assert server.hits.count("/limited") == 2
    # every later request to the host waited the second the server asked for
    assert min(s for s, _ in timed.spans) - first[0] >= 1.0


def test_a_retry_after_beyond_the_limit_backs_the_host_off(server):
    server.routes["/a"] = (503, {"Retry-After": "3600"}, b"maintenance")
    server.routes["/b"] = (200, HTML, PAGE)
    groups = host_groups(server, ["/a", "/b"])
    outcomes, _ = run_engine(settings(per_host_concurrency=1, retries=3), groups)
    dead = sorted(by_type(outcomes, DeadLetter), key=lambda d: d.url)
    assert [d.error_type for d in dead] == ["http_503", "host_backed_off"]
    assert "Retry-After 3600 s" in by_type(outcomes, HostBackoff)[0].reason
    assert server.hits.count("/a") == 1 and "/b" not in server.hits


def test_the_worker_wide_cap_holds_across_hosts_and_slots_come_back():
    timed = Timed(0.15)
    servers = [LocalServer() for _ in range(3)]
    try:
        groups = []
        for srv in servers:
            srv.thread.start()
            for i in range(4):
                srv.routes[f"/x{i}"] = timed
            groups += host_groups(srv, [f"/x{i}" for i in range(4)])
        cfg = settings(per_host_concurrency=2, max_in_flight=3)
        outcomes, slots = run_engine(cfg, groups)
    finally:
        for srv in servers:
            srv.__exit__()
    assert len(by_type(outcomes, FetchedPage)) == 12
    assert timed.max_active == 3  # three hosts could take six; the worker cap is three
    for _ in range(3):
        assert slots.acquire(blocking=False)  # every slot was given back


def test_groups_of_one_host_share_its_budget(server):
    timed = Timed(0.2)
    paths = [f"/s{i:02d}" for i in range(12)]
    for path in paths:
        server.routes[path] = timed
    groups = host_groups(server, paths, group_size=4)
    assert len(groups) == 3
    outcomes, _ = run_engine(settings(per_host_concurrency=3), groups)
    assert len(by_type(outcomes, FetchedPage)) == 12
    assert timed.max_active <= 3  # three groups at once, one request each


def test_backed_off_hosts_are_listed_in_the_run_summary_once_each():
    counts = {
        "entry": 4,
        "dead:fetch_pages:http_503": 3,
        "dead:fetch_pages:host_backed_off": 1,
        count_key(HostBackoff("down.example", "3 consecutive failed attempts", 3, 1)): 2,
        count_key(HostBackoff("flaky.example", "http_503 with Retry-After 3600 s", 1, 0)): 1,
    }
    summary = build_summary(counts, "r", "/out")
    assert summary["hosts_backed_off"] == {"count": 2, "hosts": ["down.example", "flaky.example"]}
    assert summary["balance"]["balanced"]  # the backoff records are not entries


def test_entries_waiting_for_a_retry_keep_their_own_error_when_the_host_is_backed_off(server):
    paths = [f"/f{i}" for i in range(5)]
    for path in paths:
        server.routes[path] = (503, {}, b"")
    # Retries wait at least 0.25 s, so the next entries are tried (and fail) first.
    cfg = settings(per_host_concurrency=1, retries=2, backoff_base_s=0.5, host_failure_limit=3)
    outcomes, _ = run_engine(cfg, in_order(server, paths))
    dead = {d.url.rsplit("/", 1)[1]: d for d in by_type(outcomes, DeadLetter)}
    assert {k: d.error_type for k, d in dead.items()} == {
        "f0": "http_503",
        "f1": "http_503",
        "f2": "http_503",
        "f3": "host_backed_off",
        "f4": "host_backed_off",
    }
    assert "retry cancelled: host 127.0.0.1:" in dead["f0"].error_message
    assert len(server.hits) == 4  # robots.txt and three pages


@pytest.mark.parametrize(
    "values, message",
    [
        ({"user_agent": "newsbeam/0.1"}, "must name a contact"),
        ({"robots_token": "newsbeam/0.1"}, "robots_token"),
        ({"allow_networks": "127.0.0.0/8"}, "list of CIDR strings"),
        ({"allow_networks": ["127.0.0.0/33"]}, "allow_networks"),
        ({"per_host_concurrency": 0}, "per_host_concurrency"),
        ({"host_group_size": 0}, "host_group_size"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"host_failure_limit": 0}, "host_failure_limit"),
    ],
)
def test_politeness_settings_are_validated(values, message):
    with pytest.raises(ConfigError, match=message):
        config_from_mapping({"fetch": values})


def test_allow_networks_from_yaml_become_a_tuple():
    cfg = config_from_mapping({"fetch": {"allow_networks": ["127.0.0.0/8", "::1/128"]}})
    assert cfg.fetch.allow_networks == ("127.0.0.0/8", "::1/128")
    contact = {"user_agent": "newsbeam/0.1 (ops@newsbeam.example)"}
    assert config_from_mapping({"fetch": contact}).fetch.user_agent.endswith("example)")


def test_work_starts_while_the_caller_is_still_adding_groups(server):
    # FetchHostGroupFn.process adds a group and returns while the engine has room: the group's
    # requests must already be under way then, not wait for finish_bundle.
    server.routes["/a"] = (200, HTML, PAGE)
    cfg = settings()
    with ThreadPoolExecutor(cfg.max_in_flight) as pool:
        transport = UrllibTransport()
        engine = FetchEngine(
            HttpClient(cfg, transport),
            HttpClient(cfg, transport),
            cfg,
            pool,
            threading.BoundedSemaphore(cfg.max_in_flight),
            page_from_response,
            HTML_ACCEPT,
        )
        engine.add(host_groups(server, ["/a"])[0])
        assert list(engine.run(until_active_below=10)) == []  # returned at once ...
        deadline = time.monotonic() + 5
        while not server.hits and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.hits == ["/robots.txt"]  # ... with robots.txt already asked for
        outcomes = [o for _, o in engine.run()]
    assert [type(o) for o in outcomes] == [FetchedPage]
