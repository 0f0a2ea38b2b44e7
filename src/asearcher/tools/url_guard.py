"""The URL guard: decides, before any connection is made, whether the agent may fetch a URL.

The model chooses the URLs it accesses, so without this guard it could read cloud metadata
(169.254.169.254), services on localhost or the private network (SSRF). A host name is resolved
once, here, and every address must pass; `avet` returns those addresses and the fetcher connects
to them, never resolving the name again (web_fetch.py), so a DNS server that answers with a public
address first and a private one later (DNS rebinding) cannot redirect the connection. Every
redirect hop is vetted again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from asearcher.tools.errors import UrlRefused

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOWED_SCHEMES = ("http", "https")
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> the IP addresses the host name resolves to (raises OSError when it does not)."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer for `host` (getaddrinfo, in a thread)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


@dataclass(frozen=True)
class Vetted:
    """Where a vetted URL may be fetched from.

    Attributes:
        host: the URL's host as the HTTP client names it (lowercase; the Host header and TLS SNI).
        addresses: the addresses to connect to, each one checked; empty when the host is trusted
            by name or private addresses are allowed (then the client resolves the name itself).
    """

    host: str
    addresses: tuple[str, ...]


def parse_host_ip(host: str) -> IPAddress | None:
    """The IP address a host string denotes literally, or None for a DNS name.

    Besides dotted quads and IPv6 this accepts the legacy forms that C resolvers accept and
    that would otherwise slip past a naive check: '2130706433', '0x7f.1', '0177.0.0.1', '127.1'.
    """
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id ("fe80::1%eth0")
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why `ip` must not be fetched ('loopback', 'private', ...), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        for embedded in (ip.ipv4_mapped, ip.sixtofour, (ip.teredo or (None, None))[1]):
            if embedded is not None:
                inner = address_problem(embedded)
                if inner:
                    return f"{inner} (embedded in {ip})"
    for attr in ("is_unspecified", "is_loopback", "is_link_local", "is_multicast", "is_private", "is_reserved"):
        if getattr(ip, attr):
            return attr[3:].replace("_", "-")
    if not ip.is_global:
        return "non-global"
    return None


class UrlGuard:
    """Refuses non-http(s) URLs and hosts that are, or resolve to, non-public addresses.

    Args:
        allow_private: allow every address (for a trusted intranet deployment); schemes are
            still checked.
        allow_hosts: host names, IP addresses or networks ('127.0.0.1', '10.0.0.0/8',
            'wiki.internal') allowed even when private. Tests allow 127.0.0.1 this way.
    """

    def __init__(self, allow_private: bool = False, allow_hosts: tuple[str, ...] | list[str] = (),
                 resolver: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self.resolver = resolver or system_resolver
        self._allow_names = set()
        self._allow_nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow_hosts:
            try:
                self._allow_nets.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self._allow_names.add(entry.lower().rstrip("."))

    def _allowed_ip(self, ip: IPAddress) -> bool:
        return self.allow_private or any(ip.version == n.version and ip in n for n in self._allow_nets)

    def check_syntax(self, url: str) -> tuple[str, int | None]:
        """Check the scheme and host without DNS; return (host, port). Raises UrlRefused."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as e:
            raise UrlRefused(f"Cannot access {url!r}: malformed URL ({e}).") from None
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            raise UrlRefused(f"Cannot access {url!r}: only http and https URLs can be accessed.")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise UrlRefused(f"Cannot access {url!r}: the URL has no host.")
        return host, port

    def check_ip(self, url: str, ip: IPAddress) -> None:
        """Raise UrlRefused when `ip` (the address `url` points at) is not allowed."""
        problem = address_problem(ip)
        if problem and not self._allowed_ip(ip):
            log.info("url guard refused %s (%s address %s)", url, problem, ip)
            raise UrlRefused(f"Cannot access {url!r}: it points at a {problem} address ({ip}), which is not allowed.")

    def check_literal(self, url: str) -> None:
        """Check the scheme and a literal-IP host, without DNS (for URLs a remote reader fetches)."""
        host, _ = self.check_syntax(url)
        ip = parse_host_ip(host)
        if ip is not None and host.lower() not in self._allow_names:
            self.check_ip(url, ip)

    async def acheck(self, url: str) -> Vetted:
        """Raise UrlRefused unless `url` may be fetched; the vetted addresses otherwise (see avet)."""
        return await self.avet(url)

    async def avet(self, url: str) -> Vetted:
        """Resolve `url`'s host once and check every address; raise UrlRefused if any is not allowed.

        The caller must connect only to the returned addresses (keeping the host name for the Host
        header and TLS SNI): resolving the name again could give another answer.
        """
        host, port = self.check_syntax(url)
        key = host.lower()
        if key in self._allow_names:
            return Vetted(key, ())
        ip = parse_host_ip(host)
        if ip is not None:
            self.check_ip(url, ip)
            return Vetted(key, (str(ip),))
        if self.allow_private:
            return Vetted(key, ())
        try:
            answers = await self.resolver(host, port or 443)
        except (OSError, UnicodeError) as e:
            raise UrlRefused(f"Cannot access {url!r}: the host {host!r} does not resolve ({e}).") from None
        if not answers:
            raise UrlRefused(f"Cannot access {url!r}: the host {host!r} has no address.")
        addresses = []
        for answer in answers:  # every address must pass: the connection may use any of them
            address = ipaddress.ip_address(answer.split("%", 1)[0])
            self.check_ip(url, address)
            addresses.append(str(address))
        return Vetted(key, tuple(dict.fromkeys(addresses)))
