"""One page over HTTP for the commands (`rules explain URL`, `outlets check`), behind the same
network guard as crawls: http(s) only, every redirect checked, no private address unless it
is a configured source or `[crawl] allow_private_addresses = true`."""

import urllib.request
from dataclasses import dataclass
from typing import Any

from crawler.config import Config
from spiders.addresses import NetworkPolicy


def network_policy(config: Config) -> NetworkPolicy:
    """The guard for this configuration: public hosts, plus every source of the outlets in use."""
    urls = [url for outlet in config.active_outlets() for _, url in outlet.sources()]
    return NetworkPolicy.for_sources(urls, config.crawl.allow_private_addresses)


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """Checks each redirect's target with the guard first; notes whether one was permanent."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy
        self.permanent = False

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        self.policy.check(newurl)  # RefusedURL (or OSError from DNS) ends the fetch
        if code in (301, 308):
            self.permanent = True
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass
class Fetch:
    """An opener that only speaks http(s) and asks the guard about every URL it visits."""

    policy: NetworkPolicy

    def __post_init__(self) -> None:
        self.redirects = _GuardedRedirects(self.policy)
        # No file:, ftp: or data: handlers, unlike urllib.request.build_opener.
        self.opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler(),
            urllib.request.UnknownHandler(),
            urllib.request.HTTPHandler(),
            urllib.request.HTTPSHandler(),
            urllib.request.HTTPDefaultErrorHandler(),
            self.redirects,
            urllib.request.HTTPErrorProcessor(),
        ):
            self.opener.add_handler(handler)

    def open(self, url: str, headers: dict[str, str], timeout: float) -> Any:
        """The response (urllib's); RefusedURL when the guard says no, on the way or at the
        start; urllib.error.HTTPError for an error status; OSError and
        http.client.HTTPException for network trouble and malformed answers."""
        self.policy.check(url)
        return self.opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
