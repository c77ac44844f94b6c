"""config.client_ip: the client's address, trusting X-Forwarded-For only as deep as our own proxies."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from config.client_ip import client_ip, client_key


def _request(peer: str, forwarded: str | None = None) -> Any:
    meta: dict[str, Any] = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


@pytest.mark.parametrize(
    ("depth", "peer", "forwarded", "client"),
    [
        # Direct: the header is the client's own words.
        (0, "198.51.100.7", None, "198.51.100.7"),
        (0, "198.51.100.7", "203.0.113.1", "198.51.100.7"),
        # One proxy (nginx's $proxy_add_x_forwarded_for appends the address it saw).
        (1, "10.0.0.2", "198.51.100.7", "198.51.100.7"),
        (1, "10.0.0.2", "203.0.113.1, 198.51.100.7", "198.51.100.7"),
        (1, "10.0.0.2", " 203.0.113.1 ,198.51.100.7 ", "198.51.100.7"),
        # Two proxies: the outer one appended the client, the inner one appended the outer one.
        (2, "10.0.0.3", "203.0.113.1, 198.51.100.7, 10.0.0.2", "198.51.100.7"),
        # Fewer entries than proxies, or garbage where the client belongs: the peer (a proxy of ours).
        (1, "10.0.0.2", None, "10.0.0.2"),
        (1, "10.0.0.2", "", "10.0.0.2"),
        (2, "10.0.0.3", "198.51.100.7", "10.0.0.3"),
        (1, "10.0.0.2", "198.51.100.7, unknown", "10.0.0.2"),
        (1, "10.0.0.2", "2001:db8::7", "2001:db8::7"),
    ],
)
def test_client_ip_trusts_the_header_only_as_deep_as_the_configured_proxies(
    settings: Any, depth: int, peer: str, forwarded: str | None, client: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = depth
    assert client_ip(_request(peer, forwarded)) == client


def test_an_ipv6_client_is_keyed_by_its_64(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_key(_request("2001:db8:1:2:aaaa::1")) == client_key(_request("2001:db8:1:2:ffff::9"))
    assert client_key(_request("2001:db8:1:2::1")) == "2001:db8:1:2::"
    assert client_key(_request("2001:db8:1:3::1")) != client_key(_request("2001:db8:1:2::1"))
    assert client_key(_request("198.51.100.7")) == "198.51.100.7"
