"""Refuse connections to non-public addresses (SSRF): resolve once, check, connect to the checked.

Feeds are written by strangers: a link (or a redirect) to ``http://169.254.169.254/`` would make a
cloud worker read its own metadata service, ``http://10.0.0.7/`` a private service. Every new
connection therefore resolves the host itself, refuses the request when *any* resolved address is
loopback, private, link-local, CGNAT, multicast, reserved or unspecified (IPv6 forms included;
IPv4 embedded in IPv6 is judged as IPv4), and connects to exactly the addresses it checked, so a
second DNS answer (rebinding) can never be used. Redirect hops open their connections the same way.
An explicit allow list (``fetch.allow_networks``) admits networks for tests and benchmarks.
"""

import functools
import ipaddress
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# IPv6 prefixes that carry an IPv4 address the traffic ends up at.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class BlockedAddressError(Exception):
    """A host resolved to an address that the policy refuses."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(f"{host} resolves to {address} ({reason}): refused")
        self.host = host
        self.address = address
        self.reason = reason


def embedded_ipv4(ip: IPAddress) -> Optional[ipaddress.IPv4Address]:
    """Return the IPv4 address an IPv6 address maps to (mapped, NAT64, 6to4), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def non_public_reason(ip: IPAddress) -> Optional[str]:
    """Return why ``ip`` is not a public unicast address, or None when it is one."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        reason = non_public_reason(inner)
        return f"{reason}, embedded in {ip}" if reason else None
    # Order matters only for the message: the most specific name first.
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    # is_global is False for what is left: CGNAT 100.64/10 and other special-purpose ranges.
    if not ip.is_global:
        return "not globally routable"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a connection may go to: public ones plus an explicit allow list."""

    allow: tuple[IPNetwork, ...] = ()

    def refusal(self, ip: IPAddress) -> Optional[str]:
        """Return why a connection to ``ip`` is refused, or None when it is allowed."""
        candidates = [ip]
        inner = embedded_ipv4(ip)
        if inner is not None:
            candidates.append(inner)
        for net in self.allow:
            if any(c.version == net.version and c in net for c in candidates):
                return None
        return non_public_reason(ip)


def parse_networks(cidrs: Sequence[str]) -> tuple[IPNetwork, ...]:
    """Parse CIDR strings (``127.0.0.0/8``, ``::1/128``); raise ValueError on a bad one."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


@functools.lru_cache(maxsize=32)
def policy_for(cidrs: tuple[str, ...]) -> AddressPolicy:
    """Return the (cached) policy for an allow list of CIDR strings."""
    return AddressPolicy(parse_networks(cidrs))


DEFAULT_POLICY = AddressPolicy()

AddrInfo = tuple[Any, ...]


def resolve_checked(host: str, port: int, policy: AddressPolicy) -> list[AddrInfo]:
    """Resolve ``host`` and return its TCP addresses; raise BlockedAddressError if any is refused.

    Refusing when *any* address is non-public (rather than skipping those) stops a hostile zone
    from mixing a public and a private A record and winning whenever the private one is tried.
    """
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    checked: list[AddrInfo] = []
    for info in infos:
        address = str(info[4][0])
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        reason = policy.refusal(ip)
        if reason:
            raise BlockedAddressError(host, address, reason)
        if info not in checked:
            checked.append(info)
    return checked


class RequestContext:
    """What one request shares with the connections urllib3 opens for it (and the watchdog).

    urllib3 builds connections inside its pools, where no per-request argument reaches them: the
    transport publishes the context for its thread, the connection reads the address policy from it
    and records itself in it, and the total-deadline watchdog (another thread) aborts that
    connection through the same object.
    """

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.connection: Optional[HTTPConnection] = None
        self.expired = False


_local = threading.local()


def set_request_context(context: Optional[RequestContext]) -> None:
    """Publish ``context`` for connections this thread opens or uses (None: clear it)."""
    _local.context = context


def request_context() -> Optional[RequestContext]:
    """Return the context of the request this thread is making, if any."""
    return getattr(_local, "context", None)


class _GuardedConnectionMixin:
    """Open sockets only to checked addresses; remember the connection for the watchdog."""

    def _new_conn(self) -> socket.socket:
        """Resolve, refuse non-public addresses, then connect to a checked address."""
        conn: Any = self
        context = request_context()
        policy = context.policy if context else DEFAULT_POLICY
        try:
            infos = resolve_checked(conn._dns_host, conn.port, policy)
        except socket.gaierror as exc:
            raise NameResolutionError(conn.host, conn, exc) from exc
        last: Optional[Exception] = None
        for info in infos:
            address = info[4][0]
            try:
                # An IP literal: urllib3 resolves nothing here, so the checked address is used.
                sock = urllib3_connection.create_connection(
                    (address, conn.port),
                    conn.timeout,
                    source_address=conn.source_address,
                    socket_options=conn.socket_options,
                )
            except TimeoutError as exc:
                last = ConnectTimeoutError(
                    conn, f"Connection to {conn.host} ({address}) timed out: {exc}"
                )
            except OSError as exc:
                last = NewConnectionError(conn, f"Failed to connect to {address}: {exc}")
            else:
                return sock
        raise last or NewConnectionError(conn, f"{conn.host} resolved to no address")

    def connect(self) -> None:
        """Connect, recording this connection in the current request's context."""
        _record(self)
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> None:
        """Send a request, recording this (possibly pooled) connection in the context."""
        _record(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


def _record(conn: Any) -> None:
    """Record ``conn`` as the connection of the current thread's request."""
    context = request_context()
    if context is not None:
        context.connection = conn


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    """Plain HTTP connection that only reaches checked addresses."""


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    """TLS connection that only reaches checked addresses (SNI and certificate use the host)."""


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    """HTTP pool of guarded connections."""

    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    """HTTPS pool of guarded connections."""

    ConnectionCls = GuardedHTTPSConnection


GUARDED_POOLS = {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}
