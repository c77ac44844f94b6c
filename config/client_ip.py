"""Which address a request came from, for every rate limit and lockout (one rule, one setting).

`TRUSTED_PROXY_COUNT` says how many reverse proxies of ours stand in front of the web server. With
none (the default), the client is the socket peer and `X-Forwarded-For` is ignored: anyone can send
that header, so trusting it lets a client pick a fresh address per request. With N proxies, each
appends the address it received the request from, so the client is the N-th entry from the right;
entries further left were written by the client and mean nothing.

django-ipware was weighed for this: its `proxy_count` counts the hops differently (the last proxy's
own address is expected inside the header, which nginx's `$proxy_add_x_forwarded_for` never writes)
and, without one, it picks the first public address in the header, which a client controls. The rule
we need is the few lines below, tested for both deployments.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

# How much of an IPv6 address names one client: a home or a phone gets a whole /64, so counting
# single addresses would give each client 2^64 budgets. django-ratelimit masks the same way.
IPV6_CLIENT_PREFIX = 64


def client_ip(request: HttpRequest) -> str:
    """The client's address as our outermost trusted proxy saw it (the peer's address without one)."""
    peer = str(request.META.get("REMOTE_ADDR", ""))
    depth = int(settings.TRUSTED_PROXY_COUNT)
    if depth <= 0:
        return peer
    hops = [hop.strip() for hop in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) < depth:
        # The request skipped a proxy (or one is misconfigured): count it against the peer, which
        # is a proxy of ours, rather than against an address nobody vouches for.
        return peer
    candidate = hops[-depth]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


def client_key(request: HttpRequest) -> str:
    """`client_ip`, with an IPv6 address reduced to its /64: the key a rate limit counts under."""
    address = client_ip(request)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False).network_address)
    return str(parsed)
