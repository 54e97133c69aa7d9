# struct sockaddr_un for the MicroPython unix port, whose socket.connect() takes
# the raw address bytes (used by the SPI and register link stubs).
_AF_UNIX_LINUX = 1  # sa_family of struct sockaddr_un on Linux (little-endian u16)


def unix_sockaddr(path):
    """The sockaddr_un bytes for a unix socket path."""
    p = path.encode() if isinstance(path, str) else path
    a = bytearray(2 + len(p) + 1)
    a[0] = _AF_UNIX_LINUX
    a[2 : 2 + len(p)] = p
    return a
