"""Recorded responses (``index.jsonl`` + body files) as a transport: replay, no network."""

import json
import posixpath
from collections.abc import Mapping
from typing import NamedTuple, Optional

from apache_beam.io.filesystems import FileSystems

from transforms.core.settings import FetchSettings
from transforms.core.urls import normalize_url
from transforms.net.transport import FetchError, RawResponse, lower_headers


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
                    headers=lower_headers(item.get("headers") or {}),
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
