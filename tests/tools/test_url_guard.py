"""URL guard: schemes and non-public addresses are refused before any connection."""

from __future__ import annotations

import ipaddress

import pytest

from asearcher.tools import UrlGuard, UrlRefused
from asearcher.tools.url_guard import address_problem, parse_host_ip

REFUSED = [
    "file:///etc/passwd",
    "ftp://example.com/x",
    "gopher://127.0.0.1:70/",
    "javascript:alert(1)",
    "http:///nohost",
    "http://10.0.0.1/",
    "http://10.255.255.255:8080/admin",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://127.0.0.1/",
    "http://127.8.9.10/",
    "http://[::1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",  # IPv4-mapped 169.254.169.254 in hex
    "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
    "http://2130706433/",  # 127.0.0.1 as one integer
    "http://0x7f000001/",
    "http://0177.0.0.1/",  # octal
    "http://127.1/",
    "http://0x7f.1/",
    "http://3232235777/",  # 192.168.1.1
    "http://224.0.0.1/",  # multicast
    "http://100.64.0.1/",  # carrier-grade NAT: not global
    "http://240.0.0.1/",  # reserved
    "https://localhost/",  # resolves to loopback
    "http://[::1",  # cannot be parsed (unclosed IPv6 bracket)
    "http://example.com:99999/",  # port out of range
]


@pytest.mark.parametrize("url", REFUSED)
async def test_guard_refuses(url: str) -> None:
    with pytest.raises(UrlRefused) as e:
        await UrlGuard().acheck(url)
    assert url in str(e.value)  # the model is told which URL was refused


@pytest.mark.parametrize("url", ["http://8.8.8.8/", "https://1.1.1.1:8443/x?y=1", "http://[2606:4700:4700::1111]/"])
async def test_guard_allows_public_addresses(url: str) -> None:
    await UrlGuard().acheck(url)  # IP literals: no DNS lookup, no connection


async def test_allow_hosts_and_allow_private() -> None:
    guard = UrlGuard(allow_hosts=["127.0.0.1", "10.0.0.0/8"])
    await guard.acheck("http://127.0.0.1:8080/page")
    await guard.acheck("http://10.9.8.7/")
    await guard.acheck("http://2130706433/")  # integer form of an allowed address
    with pytest.raises(UrlRefused):
        await guard.acheck("http://127.0.0.2/")
    with pytest.raises(UrlRefused):
        await guard.acheck("http://192.168.0.1/")
    await UrlGuard(allow_private=True).acheck("http://192.168.0.1/")
    with pytest.raises(UrlRefused):  # schemes stay checked even when private hosts are allowed
        await UrlGuard(allow_private=True).acheck("file:///etc/passwd")


def test_parse_host_ip_forms() -> None:
    assert parse_host_ip("2130706433") == ipaddress.ip_address("127.0.0.1")
    assert parse_host_ip("0x7f.1") == ipaddress.ip_address("127.0.0.1")
    assert parse_host_ip("[fe80::1%25eth0]".replace("%25", "%")) == ipaddress.ip_address("fe80::1")
    assert parse_host_ip("example.com") is None
    assert parse_host_ip("1e100.net") is None
    assert address_problem(ipaddress.ip_address("8.8.8.8")) is None
    assert address_problem(ipaddress.ip_address("::ffff:10.0.0.1")).startswith("private")
