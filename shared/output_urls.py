"""Which output URLs we fetch and hand to browsers (contract: REPLICATE_OUTPUT_HOSTS). A prediction
names its output, and anyone who can make a prediction say something (a compromised or emulated
provider, a replayed body) could otherwise make us fetch our own network and store it as a "video".

Allowed, and nothing else, redirects included:
- `https` on Replicate's delivery hosts (replicate.delivery and its subdomains), port 443, when the
  name does not resolve to a private, loopback or otherwise internal address;
- the host:port of REPLICATE_BASE_URL when that is not Replicate's own API (a local or test stand-in);
- the hosts of REPLICATE_OUTPUT_HOSTS (`host` = its scheme's default port, or `host:port`).
The last two are named by the operator, so their addresses are theirs to choose (e.g. loopback).
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

DELIVERY_DOMAIN = "replicate.delivery"
REPLICATE_API_HOSTS = frozenset({"api.replicate.com"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class UnsafeOutputUrl(ValueError):
    """An output URL we will not fetch or serve."""


def _endpoint(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, or None for anything else."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        return None
    return scheme, host, port or _DEFAULT_PORTS[scheme]


class OutputPolicy:
    def __init__(self, replicate_base_url: str, extra_hosts: str = ""):
        base = _endpoint(replicate_base_url)
        self.named: set[tuple[str, int | None]] = set()
        if base and base[1] not in REPLICATE_API_HOSTS:
            self.named.add((base[1], base[2]))
        for entry in filter(None, (e.strip().lower() for e in extra_hosts.split(","))):
            host, _, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
            self.named.add((host, int(port)) if port else (entry, None))

    def _is_named(self, scheme: str, host: str, port: int) -> bool:
        return (host, port) in self.named or ((host, None) in self.named and port == _DEFAULT_PORTS[scheme])

    def allowed(self, url: str | None) -> bool:
        """May this URL be fetched or served at all (by its scheme, host and port; no DNS)?"""
        endpoint = _endpoint(url or "")
        if endpoint is None:
            return False
        scheme, host, port = endpoint
        delivery = host == DELIVERY_DOMAIN or host.endswith("." + DELIVERY_DOMAIN)
        return (scheme == "https" and delivery and port == 443) or self._is_named(scheme, host, port)

    def check_fetch(self, url: str, resolve=socket.getaddrinfo) -> None:
        """Raise UnsafeOutputUrl unless we may connect to `url` now: allowed, and a host that is not
        named by the operator must resolve to public addresses only."""
        if not self.allowed(url):
            raise UnsafeOutputUrl(f"output URL not on an allowed host: {url[:200]!r}")
        scheme, host, port = _endpoint(url)
        if self._is_named(scheme, host, port):
            return
        check_public_host(host, port, resolve)


def check_public_host(host: str, port: int, resolve=socket.getaddrinfo, *, allow_loopback: bool = False) -> None:
    """Raise UnsafeOutputUrl unless every address `host` resolves to is public (global unicast);
    loopback too when `allow_loopback`. The one SSRF guard of the service: the video copy's fetches
    and the deliveries of users' webhooks (shared/push.py) both go through it."""
    try:
        addresses = {info[4][0] for info in resolve(host, port, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError) as exc:
        raise UnsafeOutputUrl(f"cannot resolve {host}: {exc}") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if allow_loopback and ip.is_loopback:
            continue
        if not ip.is_global or ip.is_multicast:
            raise UnsafeOutputUrl(f"{host} resolves to a non-public address ({address})")


def endpoint(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL without credentials, or None for anything else."""
    return _endpoint(url)


@lru_cache(maxsize=8)
def policy(replicate_base_url: str, extra_hosts: str) -> OutputPolicy:
    return OutputPolicy(replicate_base_url, extra_hosts)


def policy_for(settings) -> OutputPolicy:
    return policy(settings.replicate_base_url, settings.replicate_output_hosts)
