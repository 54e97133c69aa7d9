# SocketEndpoint._window compiled as bytecode: the same source without its
# @micropython.native line, i.e. the window as it was before review finding M1,
# for the tests that show scheduled callbacks running (and allocating) in it.
# Importing this module patches netdump.endpoint.SocketEndpoint in place.
from netdump import endpoint

_HEAD = "    @micropython.native\n    def _window("


def _bytecode_window():
    f = open(endpoint.__file__)
    try:
        src = f.read()
    finally:
        f.close()
    if src.count(_HEAD) != 1:
        raise RuntimeError("endpoint.py: no single native _window to recompile")
    g = {"__name__": "endpoint_bytecode"}
    exec(src.replace(_HEAD, "    def _window("), g)
    return g["SocketEndpoint"]._window


endpoint.SocketEndpoint._window = _bytecode_window()
