"""The network guard's rules: which URLs a crawl, `rules explain` and `outlets check` may fetch.

Pages are written by strangers, so a feed must not make the crawler read the machine it runs
on or its private network (a local admin page, a cloud metadata address, a file). Only
http(s) is fetched, and loopback, private, link-local, reserved and multicast addresses only
when that host and port are a configured source. Pure (ipaddress, socket): no Scrapy, so every
fetcher gives the same verdict.
"""

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
WEB_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Resolver = Callable[[str, int], list[str]]


class RefusedURL(ValueError):
    """A URL the guard will not fetch; the message says why and how to allow it."""


def address_class(address: IPAddress | str) -> str | None:
    """Why an address is not on the public internet ("loopback", "private"...), or None."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    ip = _embedded_ipv4(ip) or ip
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        # shared address space (100.64.0.0/10) and whatever else is not globally routed
        ("reserved", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    # An IPv6 address can carry an IPv4 one (::ffff:127.0.0.1, 6to4, Teredo, NAT64), and
    # Python 3.11 does not classify those by the address inside.
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (blocking: for the CLI's threads, not the reactor);
    OSError when it cannot, a name DNS cannot even encode included."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # IDNA: an empty or 64+ character label, a bad character
        raise OSError(f"{host[:200]}: not a valid host name ({exc})") from None
    return sorted({str(info[4][0]) for info in infos})


def normalise_host(name: str) -> str:
    """A host name as DNS treats it: lower-case, without a fully qualified name's trailing dot,
    so `Rebind.Test.` and `rebind.test` get one verdict and one cache entry, never two."""
    return name.lower().rstrip(".")


def literal_address(host: str) -> IPAddress | None:
    """The address when `host` is written as one (127.0.0.1, ::1), else None."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class NetworkPolicy:
    """The guard for one configuration: public addresses, plus the configured sources."""

    sources: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    allow_private: bool = False

    @classmethod
    def for_sources(cls, urls: Iterable[str], allow_private: bool = False) -> "NetworkPolicy":
        """A policy letting each source's own host and port through, wherever they point."""
        found = set()
        for url in urls:
            try:
                found.add(host_port(url))
            except RefusedURL:
                continue  # outlets are validated as http(s) when loaded
        return cls(frozenset(found), allow_private)

    def check_url(self, url: str) -> tuple[str, int]:
        """The URL's (host, port); RefusedURL for a scheme other than http(s) or no host."""
        return host_port(url)

    def needs_resolving(self, host: str, port: int) -> bool:
        """False when any address is fine for this host: a configured source, or all allowed."""
        return not (self.allow_private or (host, port) in self.sources)

    def check_answer(self, host: str, address: str) -> None:
        """RefusedURL unless a connection to `host` may use `address`: a resolver knows no
        port, so a source's host may resolve to anything (the crawl guard checks the port)."""
        if self.allow_private or any(host == source for source, _ in self.sources):
            return
        self.check_addresses(host, [address])

    def check_addresses(self, host: str, addresses: Iterable[str]) -> None:
        """RefusedURL when any address `host` resolved to is not a public one."""
        for address in addresses:
            kind = address_class(address)
            if kind is not None:
                what = (
                    f"is a {kind} address"
                    if host == address
                    else f"resolves to a {kind} address ({address})"
                )
                raise RefusedURL(
                    f"{host} {what} and is not a configured source; set [crawl] "
                    "allow_private_addresses = true to fetch it anyway"
                )

    def addresses_for(self, host: str, port: int, resolve: Resolver = resolve_host) -> list[str]:
        """The addresses a connection to (host, port) may use, resolved once and checked:
        connect to exactly these, since the name may resolve elsewhere the next time (DNS
        rebinding). RefusedURL, or OSError when the name does not resolve."""
        host = normalise_host(host)
        literal = literal_address(host)
        addresses = [str(literal)] if literal else resolve(host, port)
        if self.needs_resolving(host, port):
            self.check_addresses(host, addresses)
        return addresses

    def check(self, url: str, resolve: Resolver = resolve_host) -> None:
        """RefusedURL unless `url` may be fetched (resolves the host: OSError if it cannot);
        nothing else, whatever the string."""
        host, port = self.check_url(url)
        if not self.needs_resolving(host, port):
            return
        literal = literal_address(host)
        self.check_addresses(host, [str(literal)] if literal else resolve(host, port))


def host_port(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL, lower-case and with the scheme's default port.

    Raises RefusedURL (a ValueError) and nothing else, whatever the string.
    """
    try:
        url.encode("utf-8")  # a lone surrogate can name no host
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise RefusedURL(f"{url[:200]}: not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in WEB_SCHEMES:
        shown = f"{scheme}:" if scheme else "no scheme"
        raise RefusedURL(f"{url[:200]}: {shown} is not fetched, only http and https")
    host = normalise_host(parts.hostname or "")
    if not host:
        raise RefusedURL(f"{url[:200]}: no host name")
    return host, port or DEFAULT_PORTS[scheme]
