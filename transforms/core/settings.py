"""Typed, validated knobs for every stage, loaded once from YAML (``config/default.yaml``)."""

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TypeVar

import yaml

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "default.yaml"


class ConfigError(ValueError):
    """A configuration file or value is invalid."""


@dataclass(frozen=True)
class FetchSettings:
    """HTTP behaviour shared by feed and page fetching, and the politeness of page fetching."""

    # Identifies the crawler and how to reach its operator (a URL or an e-mail address is required).
    user_agent: str = "newsbeam/0.1 (+https://github.com/newsbeam/newsbeam)"
    # The product token robots.txt groups are matched against (RFC 9309: letters, "_" and "-").
    robots_token: str = "newsbeam"
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 20.0
    total_timeout_s: float = 60.0
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    retries: int = 2
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    # A Retry-After longer than this is not waited for: the request fails and its host is backed
    # off for the rest of the run (the server asked us to stay away that long).
    max_retry_after_s: float = 60.0
    # Requests in flight at once to one host (per host group, see docs/fetching.md) ...
    per_host_concurrency: int = 2
    # ... and the least time between two request starts to one host; a larger robots.txt
    # Crawl-delay wins, up to max_crawl_delay_s.
    min_delay_s: float = 1.0
    max_crawl_delay_s: float = 30.0
    # Requests in flight at once in one worker process, over all hosts.
    max_in_flight: int = 32
    # Entries of one host fetched as one unit of work; larger hosts are split into several groups
    # that share the host's budget.
    host_group_size: int = 200
    # Consecutive failed attempts (connection errors, timeouts, 5xx, 429) after which a host is
    # skipped for the rest of the run.
    host_failure_limit: int = 5
    # robots.txt bodies larger than this are treated as unreachable (RFC 9309 asks for >= 500 KiB).
    robots_max_bytes: int = 512_000
    # CIDR networks exempt from the public-address rule (tests, benchmarks); empty in production.
    allow_networks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(self.connect_timeout_s > 0, "fetch.connect_timeout_s must be > 0")
        _require(self.read_timeout_s > 0, "fetch.read_timeout_s must be > 0")
        _require(self.total_timeout_s > 0, "fetch.total_timeout_s must be > 0")
        _require(self.max_bytes >= 1024, "fetch.max_bytes must be >= 1024")
        _require(0 <= self.max_redirects <= 20, "fetch.max_redirects must be in 0..20")
        _require(0 <= self.retries <= 10, "fetch.retries must be in 0..10")
        _require(self.backoff_base_s >= 0, "fetch.backoff_base_s must be >= 0")
        _require(self.backoff_max_s >= self.backoff_base_s, "fetch.backoff_max_s < backoff_base_s")
        _require(self.max_retry_after_s >= 0, "fetch.max_retry_after_s must be >= 0")
        _require(bool(self.user_agent.strip()), "fetch.user_agent must not be empty")
        _require(
            bool(_CONTACT_RE.search(self.user_agent)),
            "fetch.user_agent must name a contact (an http(s) URL or an e-mail address)",
        )
        _require(
            bool(_PRODUCT_TOKEN_RE.fullmatch(self.robots_token)),
            "fetch.robots_token must be letters, '_' and '-' only (RFC 9309)",
        )
        _require(1 <= self.per_host_concurrency <= 64, "fetch.per_host_concurrency in 1..64")
        _require(self.min_delay_s >= 0, "fetch.min_delay_s must be >= 0")
        _require(self.max_crawl_delay_s >= 0, "fetch.max_crawl_delay_s must be >= 0")
        _require(1 <= self.max_in_flight <= 1024, "fetch.max_in_flight must be in 1..1024")
        _require(1 <= self.host_group_size <= 100_000, "fetch.host_group_size in 1..100000")
        _require(self.host_failure_limit >= 1, "fetch.host_failure_limit must be >= 1")
        _require(self.robots_max_bytes >= 1024, "fetch.robots_max_bytes must be >= 1024")
        networks = self.allow_networks
        _require(
            isinstance(networks, (list, tuple)) and all(isinstance(n, str) for n in networks),
            "fetch.allow_networks must be a list of CIDR strings",
        )
        for cidr in networks:
            try:
                ipaddress.ip_network(cidr.strip(), strict=False)
            except ValueError as exc:
                raise ConfigError(f"fetch.allow_networks: {exc}") from exc
        # YAML gives a list; a tuple keeps the settings hashable and equal to the defaults.
        object.__setattr__(self, "allow_networks", tuple(networks))


_CONTACT_RE = re.compile(r"https?://\S+|[\w.+-]+@[\w-]+\.[\w.-]+")
_PRODUCT_TOKEN_RE = re.compile(r"[A-Za-z_-]+")


@dataclass(frozen=True)
class ExtractSettings:
    """Article extraction with trafilatura."""

    min_words: int = 40
    timeout_s: float = 60.0
    max_tree_size: Optional[int] = 500_000
    # Reader comments are not the article; only the evaluation's comments-included run (dragnet's
    # gold keeps them) turns this on.
    include_comments: bool = False

    def __post_init__(self) -> None:
        _require(self.min_words >= 0, "extract.min_words must be >= 0")
        _require(self.timeout_s > 0, "extract.timeout_s must be > 0")


@dataclass(frozen=True)
class LanguageSettings:
    """Language identification with langdetect."""

    seed: int = 0
    max_chars: int = 1000
    min_confidence: float = 0.70

    def __post_init__(self) -> None:
        _require(self.max_chars >= 100, "language.max_chars must be >= 100")
        _require(0.0 <= self.min_confidence <= 1.0, "language.min_confidence must be in 0..1")


@dataclass(frozen=True)
class DedupSettings:
    """Cross-outlet dedup and story grouping."""

    # Earlier runs' signatures read to dedup against (days before the run's as-of day; 0: none).
    history_days: int = 7
    # Hash-to-min rounds before the exact residual step (transforms/dedup/components.py).
    component_rounds: int = 4
    # Near-duplicate layer (transforms/dedup/near/): on/off and its 5-shingle Jaccard cut.
    near_duplicates: bool = True
    near_threshold: float = 0.8

    def __post_init__(self) -> None:
        _require(0 <= self.history_days <= 3650, "dedup.history_days must be in 0..3650")
        _require(0 <= self.component_rounds <= 16, "dedup.component_rounds must be in 0..16")
        _require(0.5 <= self.near_threshold <= 1.0, "dedup.near_threshold must be in 0.5..1")


@dataclass(frozen=True)
class OutputSettings:
    """How the Parquet output is laid out."""

    shards_per_partition: int = 1
    compression: str = "zstd"

    def __post_init__(self) -> None:
        _require(1 <= self.shards_per_partition <= 4096, "output.shards_per_partition in 1..4096")
        _require(
            self.compression in {"zstd", "snappy", "gzip", "none"},
            "output.compression must be zstd, snappy, gzip or none",
        )


@dataclass(frozen=True)
class IncrementalSettings:
    """Incremental polling: conditional GET for feeds, a seen-URL ledger for articles."""

    enabled: bool = False
    # Days of run history (feed state and ledger partitions, counted back from --as_of) a run
    # reads; a link fetched longer ago than this is fetched again if a feed still lists it.
    retention_days: int = 30

    def __post_init__(self) -> None:
        _require(1 <= self.retention_days <= 3650, "incremental.retention_days must be in 1..3650")


@dataclass(frozen=True)
class WarcSettings:
    """Web archive output."""

    # Write every raw response of the run to <output>/warc/<run_id>-<writer>.warc.gz.
    archive: bool = False


@dataclass(frozen=True)
class StreamSettings:
    """The streaming job (pipelines/stream.py): polling, windows and how long state is kept."""

    # Seconds between two polls of every feed (PeriodicImpulse's interval).
    interval_s: float = 300.0
    # Output windows: one Parquet file per table per window (and per late pane).
    window_s: float = 600.0
    # A late item within this many seconds after its window closed is written in a late pane;
    # later ones are dropped by the runner (Beam counts them, our tables do not).
    allowed_lateness_s: float = 0.0
    # How long an original stays in dedup state (from its event time): later copies are unlabelled.
    dedup_ttl_s: float = 7 * 86400.0
    # How long after its last sighting in a feed a link is forgotten (and fetched again if listed).
    seen_ttl_s: float = 7 * 86400.0

    def __post_init__(self) -> None:
        _require(self.interval_s > 0, "stream.interval_s must be > 0")
        _require(self.window_s > 0, "stream.window_s must be > 0")
        _require(self.allowed_lateness_s >= 0, "stream.allowed_lateness_s must be >= 0")
        _require(self.dedup_ttl_s > 0, "stream.dedup_ttl_s must be > 0")
        _require(self.seen_ttl_s > 0, "stream.seen_ttl_s must be > 0")


@dataclass(frozen=True)
class PipelineConfig:
    """All knobs of a run."""

    fetch: FetchSettings = field(default_factory=FetchSettings)
    extract: ExtractSettings = field(default_factory=ExtractSettings)
    language: LanguageSettings = field(default_factory=LanguageSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    incremental: IncrementalSettings = field(default_factory=IncrementalSettings)
    warc: WarcSettings = field(default_factory=WarcSettings)
    stream: StreamSettings = field(default_factory=StreamSettings)


T = TypeVar("T")


def _require(condition: bool, message: str) -> None:
    """Raise ConfigError with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def _build(cls: type[T], section: str, values: Any) -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{section}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{section}: unknown key(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"{section}.{name}: expected true/false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{section}.{name}: expected a number, got {value!r}")
            value = type(default)(value)
        if isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{section}.{name}: expected a string, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def config_from_mapping(data: Any) -> PipelineConfig:
    """Validate a parsed YAML document into a PipelineConfig."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("config: the top level must be a mapping")
    sections = {f.name: f.type for f in dataclasses.fields(PipelineConfig)}
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ConfigError(f"config: unknown section(s) {', '.join(unknown)}")
    return PipelineConfig(
        fetch=_build(FetchSettings, "fetch", data.get("fetch")),
        extract=_build(ExtractSettings, "extract", data.get("extract")),
        language=_build(LanguageSettings, "language", data.get("language")),
        dedup=_build(DedupSettings, "dedup", data.get("dedup")),
        output=_build(OutputSettings, "output", data.get("output")),
        incremental=_build(IncrementalSettings, "incremental", data.get("incremental")),
        warc=_build(WarcSettings, "warc", data.get("warc")),
        stream=_build(StreamSettings, "stream", data.get("stream")),
    )


def load_config(path: Optional[str] = None) -> PipelineConfig:
    """Load and validate a YAML config file (the bundled default when ``path`` is None)."""
    config_path = Path(path) if path else DEFAULT_CONFIG_PATH
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {config_path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: invalid YAML: {exc}") from exc
    return config_from_mapping(data)
