"""WARC: archive every raw response of a run, replay a run from WARC, read CC-NEWS-style WARCs.

Three pieces, all on warcio:

- ``WarcArchivingTransport`` wraps any transport and writes each raw response it returns (feeds,
  pages, robots.txt, redirect hops, error statuses) as a WARC ``response`` record, preceded by the
  ``request`` record that produced it, to ``<dir>/<run_id>-<pid>-<token>.warc.gz``. Every
  transport instance writes its own files, so parallel workers never share one.
- ``WarcReplayTransport`` serves ``response`` records by target URI (exact, then normalized), with
  ``WARC-Date`` as the fetch time: the same client code replays a run from its archive.
- ``ReadWarcPages`` turns the HTML ``response`` records of WARC files (Common Crawl's CC-NEWS and
  the like) into ``FetchedPage`` records without any feed, streaming each file record by record.
"""

import http
import io
import os
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import BinaryIO, NamedTuple, Optional

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from transforms.core.settings import FetchSettings
from transforms.core.timeutil import normalize_iso
from transforms.core.urls import host_of, normalize_url
from transforms.net.transport import RETRYABLE_STATUSES, FetchError, RawResponse, Transport

WARC_SUFFIXES = (".warc", ".warc.gz")
# The stored payload is decoded, so the transfer headers of the live response no longer apply.
_TRANSFER_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})


def is_warc_source(source: str) -> bool:
    """True when ``source`` names WARC files (a file, a glob, or a directory of them)."""
    if any(ch in source for ch in "*?["):
        return True
    if source.endswith(WARC_SUFFIXES):
        return True
    if FileSystems.exists(FileSystems.join(source, "index.jsonl")):
        return False
    return bool(_match(FileSystems.join(source, "*.warc*")))


def _match(pattern: str) -> list[str]:
    """Paths matching ``pattern`` on any Beam filesystem (empty when nothing matches)."""
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:
        return []


def warc_files(source: str) -> list[str]:
    """The WARC files of ``source`` (a file, a glob, or a directory), sorted."""
    if any(ch in source for ch in "*?[") or source.endswith(WARC_SUFFIXES):
        paths = _match(source)
    else:
        paths = _match(FileSystems.join(source, "*.warc*"))
    return [p for p in paths if p.endswith(WARC_SUFFIXES)]


def _open_raw(path: str) -> BinaryIO:
    """Open ``path`` without Beam's decompression: warcio reads the per-record gzip members."""
    handle: BinaryIO = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    return handle


# --- archiving --------------------------------------------------------------------------------


def _reason(status: int) -> str:
    """HTTP reason phrase for a status line."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def response_headers(raw: RawResponse) -> StatusAndHeaders:
    """HTTP status line and headers of an archived response (payload stored decoded)."""
    headers = [(k, v) for k, v in raw.headers.items() if k.lower() not in _TRANSFER_HEADERS]
    headers.append(("content-length", str(len(raw.body))))
    return StatusAndHeaders(f"{raw.status} {_reason(raw.status)}", headers, protocol="HTTP/1.1")


def request_headers(url: str, headers: Mapping[str, str]) -> StatusAndHeaders:
    """HTTP request line and headers of an archived request."""
    parts = url.split("/", 3)
    target = "/" + (parts[3] if len(parts) > 3 else "")
    lines = [("Host", host_of(url)), *((str(k), str(v)) for k, v in headers.items())]
    return StatusAndHeaders(f"GET {target} HTTP/1.1", lines, is_http_request=True)


class _ArchiveFile:
    """One open WARC file; closed by its owner, or at garbage collection / interpreter exit."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.handle: Optional[BinaryIO] = FileSystems.create(
            path, mime_type="application/warc", compression_type=CompressionTypes.UNCOMPRESSED
        )
        self.writer = WARCWriter(self.handle, gzip=True)
        info = {"software": "newsbeam", "format": "WARC File Format 1.0"}
        self.write(self.writer.create_warcinfo_record(path.rsplit("/", 1)[-1], info))

    def write(self, *records: ArcWarcRecord) -> None:
        """Append records and flush, so the file is valid after every exchange."""
        assert self.handle is not None
        for record in records:
            self.writer.write_record(record)
        self.handle.flush()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _close_quietly(holder: dict[str, Optional[_ArchiveFile]]) -> None:
    """Finalizer: close whatever file the transport still has open."""
    current = holder.get("file")
    if current is not None:
        current.close()


class WarcArchivingTransport:
    """A transport that archives every raw response of ``inner`` as WARC request/response records.

    Each instance writes its own file (run id, process id and a random token in the name), so
    DoFn instances on several workers never write to the same file. ``close()`` ends the current
    file; the next response opens a new one. Every record is a complete gzip member and is flushed
    at once, so a file that was never closed explicitly is still a valid WARC on local disks.
    """

    def __init__(self, inner: Transport, directory: str, run_id: str) -> None:
        self._inner = inner
        self._directory = directory
        self._run_id = run_id
        self._lock = threading.Lock()
        self._holder: dict[str, Optional[_ArchiveFile]] = {"file": None}
        self.paths: list[str] = []
        weakref.finalize(self, _close_quietly, self._holder)

    def send(
        self, url: str, headers: Mapping[str, str], settings: FetchSettings, deadline: float
    ) -> RawResponse:
        """Send through the inner transport and archive the response it returns."""
        raw = self._inner.send(url, headers, settings, deadline)
        self.archive(url, headers, raw)
        return raw

    def archive(self, url: str, headers: Mapping[str, str], raw: RawResponse) -> None:
        """Append the request and response records of one exchange to this writer's file."""
        with self._lock:
            current = self._holder["file"]
            if current is None:
                token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
                path = FileSystems.join(self._directory, f"{self._run_id}-{token}.warc.gz")
                current = self._holder["file"] = _ArchiveFile(path)
                self.paths.append(path)
            writer = current.writer
            date = {"WARC-Date": raw.fetched_at}
            response = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(raw.body),
                http_headers=response_headers(raw),
                warc_headers_dict=date,
            )
            request = writer.create_warc_record(
                url,
                "request",
                payload=io.BytesIO(b""),
                http_headers=request_headers(url, headers),
                warc_headers_dict={
                    **date,
                    "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
                },
            )
            current.write(request, response)

    def close(self) -> None:
        """Close the current file, if any (a later response starts a new file)."""
        with self._lock:
            current = self._holder["file"]
            self._holder["file"] = None
        if current is not None:
            current.close()


def close_transport(transport: object) -> None:
    """Close a transport's archive file when it has one (DoFn finish_bundle/teardown)."""
    if isinstance(transport, WarcArchivingTransport):
        transport.close()


# --- reading records --------------------------------------------------------------------------


class WarcResponse(NamedTuple):
    """One ``response`` record: target, time, HTTP status, headers and (capped) payload."""

    target_uri: str
    warc_date: str
    record_id: str
    status: int
    headers: dict[str, str]
    body: bytes
    # The payload was longer than the cap (body holds cap + 1 bytes), or it could not be decoded.
    too_large: bool
    decode_error: Optional[str]


def _http_headers(record: ArcWarcRecord) -> dict[str, str]:
    """Response headers with lowercase names; transfer headers dropped (the payload is decoded)."""
    if record.http_headers is None:
        return {}
    return {
        str(k).lower(): str(v)
        for k, v in record.http_headers.headers
        if str(k).lower() not in {"content-encoding", "transfer-encoding"}
    }


def _status(record: ArcWarcRecord) -> int:
    """HTTP status code of a response record (0 when it has no HTTP part, e.g. ``dns:``)."""
    if record.http_headers is None:
        return 0
    try:
        return int(record.http_headers.get_statuscode())
    except (TypeError, ValueError):
        return 0


def response_of(record: ArcWarcRecord, max_bytes: int) -> WarcResponse:
    """Read one ``response`` record (payload decoded, at most ``max_bytes`` + 1 bytes)."""
    headers = record.rec_headers
    body = b""
    decode_error = None
    try:
        # content_stream() undoes chunked transfer and Content-Encoding when the record has them.
        body = record.content_stream().read(max_bytes + 1)
    except Exception as exc:  # zlib/brotli errors have no common base class
        decode_error = f"{type(exc).__name__}: {exc}"
    date = headers.get_header("WARC-Date") or ""
    return WarcResponse(
        target_uri=(headers.get_header("WARC-Target-URI") or "").strip("<> "),
        warc_date=normalize_iso(date) or date,
        record_id=headers.get_header("WARC-Record-ID") or "",
        status=_status(record),
        headers=_http_headers(record),
        body=body,
        too_large=len(body) > max_bytes,
        decode_error=decode_error,
    )


def iter_responses(stream: BinaryIO, max_bytes: int) -> Iterator[WarcResponse]:
    """Stream the ``response`` records of a WARC (gzip per record or plain), one at a time."""
    for record in ArchiveIterator(stream, arc2warc=True):
        if record.rec_type == "response":
            yield response_of(record, max_bytes)


# --- replay -----------------------------------------------------------------------------------


class _Location(NamedTuple):
    """Where one response record starts."""

    path: str
    offset: int
    status: int


def _better(new: _Location, old: _Location) -> bool:
    """Keep a final answer over a transient one when a URL was fetched several times (retries)."""
    return old.status in RETRYABLE_STATUSES and new.status not in RETRYABLE_STATUSES


def index_warc_files(paths: Iterable[str]) -> dict[str, _Location]:
    """Map target URIs (exact and normalized) to their response record's file and offset."""
    index: dict[str, _Location] = {}
    for path in paths:
        with _open_raw(path) as handle:
            records = ArchiveIterator(handle, arc2warc=True)
            for record in records:
                if record.rec_type != "response":
                    continue
                uri = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<> ")
                where = _Location(path, records.get_record_offset(), _status(record))
                for key in {uri, normalize_url(uri)}:
                    if key not in index or _better(where, index[key]):
                        index[key] = where
    return index


class WarcReplayTransport:
    """Serves ``response`` records of WARC files by target URI; no network at all.

    The index holds offsets only; a request reads its one record from disk. A URL fetched several
    times (retries) is answered with its final response (a non-retryable status wins).
    """

    def __init__(self, source: str) -> None:
        self._source = source
        paths = warc_files(source)
        if not paths:
            raise FileNotFoundError(f"no WARC files in {source}")
        self._index = index_warc_files(paths)

    def send(
        self, url: str, headers: Mapping[str, str], settings: FetchSettings, deadline: float
    ) -> RawResponse:
        """Return the archived response for ``url`` or raise ``not_recorded``."""
        where = self._index.get(url) or self._index.get(normalize_url(url))
        if where is None:
            raise FetchError("not_recorded", f"no WARC response record for {url}")
        with _open_raw(where.path) as handle:
            handle.seek(where.offset)
            record = next(iter(ArchiveIterator(handle, arc2warc=True)))
            found = response_of(record, settings.max_bytes)
        if found.too_large:
            raise FetchError("too_large", f"body exceeds {settings.max_bytes} bytes")
        if found.decode_error:
            raise FetchError("decode_error", found.decode_error)
        return RawResponse(
            status=found.status,
            headers=dict(found.headers),
            body=found.body,
            fetched_at=found.warc_date,
        )
