"""What every transport speaks: raw and final responses, the Transport protocol, FetchError."""

from collections.abc import Mapping
from typing import NamedTuple, Optional, Protocol

from transforms.core.settings import FetchSettings

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


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


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return headers with lowercase names (the last value wins for repeated names)."""
    return {str(k).lower(): str(v) for k, v in headers.items()}
