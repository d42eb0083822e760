"""One page over HTTP for the commands (`rules explain URL`, `outlets check`), behind the same
network guard as crawls: http(s) only, every redirect checked, no private address unless it
is a configured source or `[crawl] allow_private_addresses = true`.

Each connection (every redirect hop too) resolves its host once, checks the answer and
connects to exactly that address, with the name kept for the Host header, TLS SNI and the
certificate check: resolving again to connect would let DNS answer 127.0.0.1 the second time.
Proxies from the environment are ignored, since a proxy would resolve the name itself.
"""

import http.client
import socket
import urllib.request
from dataclasses import dataclass
from typing import Any

from crawler.config import Config
from spiders.addresses import NetworkPolicy


def network_policy(config: Config) -> NetworkPolicy:
    """The guard for this configuration: public hosts, plus every source of the outlets in use."""
    urls = [url for outlet in config.active_outlets() for _, url in outlet.sources()]
    return NetworkPolicy.for_sources(urls, config.crawl.allow_private_addresses)


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to the address the guard checked, not to the name resolved anew."""

    policy: NetworkPolicy  # set by _connections, for every connection

    def connect(self) -> None:
        # RefusedURL (a ValueError) passes through urllib unwrapped; OSError for DNS failures.
        addresses = self.policy.addresses_for(self.host, self.port)
        error: OSError | None = None
        for address in addresses:
            try:
                self.sock = socket.create_connection(
                    (address, self.port),
                    self.timeout,
                    self.source_address,  # type: ignore[attr-defined]
                )
                break
            except OSError as exc:
                error = exc
        else:
            raise error or OSError(f"{self.host}: no address to connect to")
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _CheckedHTTPSConnection(http.client.HTTPSConnection, _CheckedHTTPConnection):
    """HTTPS over the checked address: HTTPSConnection.connect wraps that socket in TLS with
    the host name as SNI and for certificate verification."""


def _connections(kind: type[_CheckedHTTPConnection], policy: NetworkPolicy) -> Any:
    """What urllib's do_open calls to make a connection: `kind`, checking with `policy`."""

    def connection(*args: Any, **kwargs: Any) -> _CheckedHTTPConnection:
        made = kind(*args, **kwargs)
        made.policy = policy
        return made

    return connection


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, policy: NetworkPolicy) -> None:
        super().__init__()
        self.policy = policy

    def http_open(self, req: Any) -> Any:
        return self.do_open(_connections(_CheckedHTTPConnection, self.policy), req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, policy: NetworkPolicy) -> None:
        super().__init__()
        self.policy = policy

    def https_open(self, req: Any) -> Any:
        connection = _connections(_CheckedHTTPSConnection, self.policy)
        return self.do_open(connection, req, context=self._context)  # type: ignore[attr-defined]


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """Checks each redirect's target with the guard first; notes whether one was permanent."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy
        self.permanent = False

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        # RefusedURL ends the fetch; the target's address is checked when it is connected to.
        self.policy.check_url(newurl)
        if code in (301, 308):
            self.permanent = True
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass
class Fetch:
    """An opener that only speaks http(s) and asks the guard about every URL it visits."""

    policy: NetworkPolicy

    def __post_init__(self) -> None:
        self.redirects = _GuardedRedirects(self.policy)
        # No file:, ftp: or data: handlers, unlike urllib.request.build_opener, and no proxy
        # from http_proxy/https_proxy (ProxyHandler({}) overrides the environment's).
        self.opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler({}),
            urllib.request.UnknownHandler(),
            _CheckedHTTPHandler(self.policy),
            _CheckedHTTPSHandler(self.policy),
            urllib.request.HTTPDefaultErrorHandler(),
            self.redirects,
            urllib.request.HTTPErrorProcessor(),
        ):
            self.opener.add_handler(handler)

    def open(self, url: str, headers: dict[str, str], timeout: float) -> Any:
        """The response (urllib's); RefusedURL when the guard says no, on the way or at the
        start; urllib.error.HTTPError for an error status; OSError and
        http.client.HTTPException for network trouble and malformed answers."""
        self.policy.check_url(url)
        return self.opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
