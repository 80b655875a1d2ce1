"""Moving bytes, for feeds and pages alike: one HTTP client over interchangeable transports.

``client`` (redirects, retries, caps) over a ``transport``: ``live`` (urllib3 behind the network
``guard``), ``recording`` (replay of ``index.jsonl``) or ``warc`` (archive to and replay from
WARC); ``charset`` and ``content`` decide how a body is read.
"""

from transforms.net.client import HttpClient, TransportOptions, build_client, build_transport
from transforms.net.transport import FetchError, HttpResponse, RawResponse, Transport
from transforms.net.warc import WarcArchivingTransport, WarcReplayTransport

__all__ = [
    "FetchError",
    "HttpClient",
    "HttpResponse",
    "RawResponse",
    "Transport",
    "TransportOptions",
    "WarcArchivingTransport",
    "WarcReplayTransport",
    "build_client",
    "build_transport",
]
