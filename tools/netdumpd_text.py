"""Text that netdumpd writes about a client: made safe for files and terminals,
and sizes in binary units.

Everything a client sends (KDH strings, herald paths, ELF notes) is untrusted:
a newline could forge an info-file line ("Dump complete"), an escape sequence
could rewrite a terminal showing the log. clean() replaces every C0/C1 control
character (Unicode category Cc), DEL and the bidirectional overrides with "?".
"""

# Unicode bidirectional formatting characters (UAX #9, section 2): they reorder
# what a terminal or editor shows ("Trojan Source", CVE-2021-42574)
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_MAX_LEN = 4096  # characters kept of one client string


def _bad(c):
    o = ord(c)
    return o < 0x20 or 0x7F <= o <= 0x9F or c in _BIDI


def clean(text, keep_newlines=False, limit=_MAX_LEN):
    """text (str or bytes, decoded as UTF-8 with replacement) with control
    characters as "?"; newlines and tabs kept only if keep_newlines; at most
    limit characters (then "...")."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", "replace")
    cut = len(text) > limit
    text = text[:limit]
    out = "".join("?" if _bad(c) and not (keep_newlines and c in "\n\t") else c for c in text)
    return out + "..." if cut else out


def size(n):
    """A byte count for people: '512 B', '260 KiB', '4.5 MiB', '1.2 GiB'."""
    if n < 1024:
        return "%d B" % n
    for unit, shift in (("KiB", 10), ("MiB", 20), ("GiB", 30), ("TiB", 40)):
        if n < 1 << (shift + 10) or unit == "TiB":
            v = n / float(1 << shift)
            return ("%d %s" % (v, unit)) if v == int(v) or v >= 100 else ("%.1f %s" % (v, unit))
    return "%d B" % n
