# mp/endpoint_run.py with the esp32 "peer closed" recovery of SocketEndpoint
# switched off, for host_tests/test_endpoint.py to show that it is needed.
# NETDUMP_NOREVIVE: "a" (session socket), "b" (herald socket) or "ab".
import os

from netdump.endpoint import SocketEndpoint


def _nothing(self):
    pass


which = os.getenv("NETDUMP_NOREVIVE") or "ab"
if "a" in which:
    SocketEndpoint._revive_a = _nothing
if "b" in which:
    SocketEndpoint._revive_b = _nothing

from mp import endpoint_run  # noqa: E402,F401  (runs it, with this script's argv)
