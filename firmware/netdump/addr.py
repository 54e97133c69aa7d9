# Address text: IPv4 and IPv6 addresses, netmasks and MACs between their text
# forms and bytes. One parser for the configuration (config.py) and the
# Ethernet endpoint (ether.py). Arm time only: everything here allocates.
# Characters are read from the text's bytes: on MicroPython indexing or iterating
# a str interns each 1-character string it hands out (a qstr, never freed: the
# armed state would keep them and, on a frozen install, a new qstr pool).


def parse_ipv4(s):
    """Dotted-quad text -> 4 bytes, or None if it is not one."""
    if not isinstance(s, str):
        return None
    parts = s.split(".")
    if len(parts) != 4:
        return None
    out = bytearray(4)
    for i in range(4):
        p = parts[i]
        if not p or len(p) > 3 or not digits(p) or (len(p) > 1 and p.startswith("0")):
            return None
        v = int(p)
        if v > 255:
            return None
        out[i] = v
    return bytes(out)


def parse_ipv6(s):
    """IPv6 text (RFC 4291 section 2.2, with "::" and a dotted tail) -> 16 bytes, or None."""
    if not isinstance(s, str) or ":" not in s or s.count("::") > 1:
        return None
    tail = b""
    if "." in s:  # x:x:x:x:x:x:d.d.d.d
        k = s.rfind(":")
        tail = parse_ipv4(s[k + 1:])
        if tail is None:
            return None
        s = s[:k + 1] + "0:0"  # two placeholder groups, filled from tail below
    if "::" in s:
        head, rest = s.split("::")
        hs = head.split(":") if head else []
        rs = rest.split(":") if rest else []
        if len(hs) + len(rs) > 7:
            return None
        groups = hs + ["0"] * (8 - len(hs) - len(rs)) + rs
    else:
        groups = s.split(":")
        if len(groups) != 8:
            return None
    out = bytearray(16)
    for i in range(8):
        g = groups[i]
        if not g or len(g) > 4:
            return None
        for c in g.encode():
            if not (48 <= c <= 57 or 97 <= c <= 102 or 65 <= c <= 70):  # 0-9 a-f A-F
                return None
        v = int(g, 16)
        out[2 * i] = v >> 8
        out[2 * i + 1] = v & 0xFF
    if tail:
        out[12:16] = tail
    return bytes(out)


def family(s):
    """4 or 6 for an IPv4/IPv6 address text, else 0."""
    if parse_ipv4(s) is not None:
        return 4
    if parse_ipv6(s) is not None:
        return 6
    return 0


def to_bytes(a, v6):
    """An address as bytes (4, or 16 when v6) from its text (an IPv6 %zone is
    ignored) or from a bytes-like of that size; ValueError otherwise."""
    if isinstance(a, str):
        b = parse_ipv6(a.split("%")[0]) if v6 else parse_ipv4(a)
        if b is None:
            raise ValueError("bad %s address: %s" % ("IPv6" if v6 else "IPv4", a))
        return b
    if len(a) != (16 if v6 else 4):
        raise ValueError("address must be %d bytes" % (16 if v6 else 4))
    return bytes(a)


def digits(s):
    """True when s is one or more decimal digits."""
    for c in s.encode():
        if c < 48 or c > 57:  # "0".."9"
            return False
    return len(s) > 0


def prefix_len(netmask, fam):
    """The prefix length of a netmask: an int, "/24", "24", or a dotted IPv4 mask
    ("255.255.255.0"); ValueError with a "netmask: ..." line otherwise."""
    limit = 32 if fam == 4 else 128
    m = netmask
    if isinstance(m, int):
        m = str(m)
    if m.startswith("/"):
        m = m[1:]
    if digits(m):
        n = int(m)
        if 0 < n <= limit:
            return n
        raise ValueError("netmask: prefix length /%s is not in 1..%d" % (m, limit))
    if fam == 6:
        raise ValueError("netmask: %r: an IPv6 netmask is a prefix length such as /64" % (netmask,))
    b = parse_ipv4(m)
    if b is None:
        raise ValueError("netmask: %r is not a dotted netmask or a /prefix" % (netmask,))
    n = 0
    i = 0
    while i < 4 and b[i] == 0xFF:
        n += 8
        i += 1
    if i < 4:
        v = b[i]
        while v & 0x80:
            n += 1
            v = (v << 1) & 0xFF
        if v or b[i + 1:] != bytes(3 - i):
            raise ValueError("netmask: %s is not a contiguous netmask" % netmask)
    if n == 0:
        raise ValueError("netmask: %s is not a contiguous netmask" % netmask)
    return n


def netmask4(netmask):
    """Dotted text of an IPv4 netmask given as prefix_len() takes it ("/24", "24", 24 or dotted)."""
    n = prefix_len(netmask, 4)
    b = bytearray(4)
    for i in range(4):
        k = n - 8 * i
        b[i] = 0 if k <= 0 else (0xFF00 >> min(k, 8)) & 0xFF
    return text(b)


def same_prefix(a, b, plen):
    """1 if addresses a and b (equal-length bytes) share their first plen bits."""
    full = plen >> 3
    for i in range(full):
        if a[i] != b[i]:
            return 0
    rem = plen & 7
    if rem:
        m = (0xFF << (8 - rem)) & 0xFF
        if a[full] & m != b[full] & m:
            return 0
    return 1


def is_link_local6(ip):
    """True for an address in fe80::/10 (RFC 4291 section 2.5.6)."""
    return len(ip) == 16 and ip[0] == 0xFE and ip[1] & 0xC0 == 0x80


def format_mac(mac):
    """aa:bb:cc:dd:ee:ff text of a 6-byte MAC."""
    return ":".join(["%02x" % b for b in mac])


def text(ip):
    """Text of a 4- or 16-byte address (IPv6 with the longest zero run as "::", RFC 5952 section 4.2)."""
    if len(ip) == 4:
        return "%d.%d.%d.%d" % (ip[0], ip[1], ip[2], ip[3])
    groups = ["%x" % ((ip[i] << 8) | ip[i + 1]) for i in range(0, 16, 2)]
    best, best_len, i = -1, 1, 0
    while i < 8:
        if groups[i] == "0":
            j = i
            while j < 8 and groups[j] == "0":
                j += 1
            if j - i > best_len:
                best, best_len = i, j - i
            i = j
        else:
            i += 1
    if best < 0:
        return ":".join(groups)
    return ":".join(groups[:best]) + "::" + ":".join(groups[best + best_len:])
