"""The esp32 stand-in socket module (host_tests/esp32_standin/socket.py)
checked against ports/esp32/modsocket.c of MicroPython v1.28.0 on the unix
port: address forms, errors, what allocates, the peer-closed state, polling
(host_tests/mp/esp32_standin_checks.py, one test per check)."""
import os

import pytest

from conftest import HERE, run_micropython
from netutil import free_udp_port

CHECKS = ["module_names", "getaddrinfo_forms", "getaddrinfo_ipv6_has_no_address", "getaddrinfo_errors",
          "sendto_address_forms", "connect_int_port_allocates", "connected_socket_filters_sources",
          "recvfrom_form", "readinto_write_stream_semantics", "zero_length_datagram_peer_closed",
          "setsockopt_ignores_level", "two_sockets_share_a_port_with_reuseaddr", "poll_readiness"]


@pytest.fixture(scope="module")
def results():
    ports = ",".join(str(free_udp_port()) for _ in range(30))
    r = run_micropython(["mp/esp32_standin_checks.py", ports], extra_paths=[os.path.join(HERE, "esp32_standin")],
                        timeout=120)
    assert "DONE" in r.stdout, r.stdout + r.stderr
    out = {}
    for ln in r.stdout.splitlines():
        if ln.startswith("PASS ") or ln.startswith("FAIL "):
            name = ln[5:].split(":")[0]
            out[name] = ln
    return out


@pytest.mark.parametrize("name", CHECKS)
def test_standin_follows_modsocket(results, name):
    assert results.get(name) == "PASS " + name, results.get(name)


def test_every_check_is_listed(results):
    assert sorted(results) == sorted(CHECKS)
