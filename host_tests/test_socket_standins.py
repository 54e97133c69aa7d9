"""The socket-module stand-ins checked on the unix port against MicroPython
v1.28.0: host_tests/esp32_standin/socket.py against ports/esp32/modsocket.c,
host_tests/lwip_standin/socket.py against extmod/modlwip.c (address forms,
errors, what allocates, esp32's peer-closed state, SO_REUSEADDR, polling;
host_tests/mp/standin_checks.py, one test per check)."""
import os

import pytest

from conftest import HERE, run_micropython
from netutil import free_udp_port

BOTH = ["connected_socket_filters_sources", "recvfrom_form", "readinto_write_stream_semantics",
        "setsockopt_ignores_level", "two_sockets_share_a_port_with_reuseaddr", "poll_readiness"]
CHECKS = {
    "esp32": ["module_names", "getaddrinfo_forms", "getaddrinfo_ipv6_has_no_address", "getaddrinfo_errors",
              "sendto_address_forms", "connect_int_port_allocates", "zero_length_datagram_peer_closed"],
    "lwip": ["module_names", "getaddrinfo_forms", "address_forms", "zero_length_datagram"],
}
CASES = [(m, "both_" + c) for m in CHECKS for c in BOTH] + [(m, m + "_" + c) for m in CHECKS for c in CHECKS[m]]
_results = {}


def results(module):
    if module not in _results:
        ports = ",".join(str(free_udp_port()) for _ in range(30))
        r = run_micropython(["mp/standin_checks.py", ports], extra_paths=[os.path.join(HERE, module + "_standin")],
                            timeout=120)
        assert "DONE" in r.stdout, r.stdout + r.stderr
        out = {}
        for ln in r.stdout.splitlines():
            if ln.startswith("PASS ") or ln.startswith("FAIL "):
                out[ln[5:].split(":")[0]] = ln
        _results[module] = out
    return _results[module]


@pytest.mark.parametrize("module,name", CASES)
def test_standin_follows_the_port(module, name):
    got = results(module).get(name)
    assert got == "PASS " + name, got


@pytest.mark.parametrize("module", sorted(CHECKS))
def test_every_check_is_listed(module):
    assert sorted(results(module)) == sorted(n for m, n in CASES if m == module)
