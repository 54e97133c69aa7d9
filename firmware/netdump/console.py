# The panic console: after a fault dump (or when it failed), a tiny prompt on
# the serial console, like DDB's after a panic. Allocation-free: one line
# buffer made at arm time, input read one byte at a time with readinto(),
# words compared byte by byte, output printed as constant strings and ints.
#
#   netdump                     dump the last fault again, same server (not
#                               after a dump whose end alone was unconfirmed:
#                               the server has it; -f forces)
#   netdump -s a.b.c.d[:port]   retarget to another IPv4 server (and herald
#                               port), then dump again (DDB: netdump -s)
#   dump                        same as netdump
#   show                        the last result
#   continue | c                leave the console; the caller goes on
#   reset                       reset the board
#   halt                        stop, idling
#   help | ?                    this list
#
# run(timeout_s, default) waits for input at most timeout_s seconds between
# lines (-1: forever) and returns the chosen action (netdump.fault.ACT_*);
# the default action when the time is up or the input ends. While it runs,
# Ctrl-C is a character (micropython.kbd_intr(-1)) that clears the line, and
# the hardware watchdog is fed between waits of at most _POLL_MS.
import sys

from netdump import debugnet, fault
from netdump.compat import const, ticks_diff, ticks_ms
from netdump.fault import ACT_CONTINUE, ACT_HALT, ACT_RESET
from netdump.feed import feed

try:
    import select
except ImportError:  # pragma: no cover
    import uselect as select

_LINE_CAP = const(96)
_POLL_MS = const(100)  # longest single wait for input (deadline checks between)
_BS = const(8)  # ASCII backspace
_DEL = const(127)  # what most terminals send for backspace
_CTRL_C = const(3)


_HELP = (
    "netdump [-f]              dump again to the same server",
    "netdump -s a.b.c.d[:port] dump again to another server (herald port)",
    "show                      last result",
    "continue                  leave the console",
    "reset                     reset the board",
    "halt                      stop here",
)


class Console:
    """The prompt; made by netdump.panic.arm() (see the module comment)."""

    def __init__(self, state, stdin=None, echo=None):  # arm-time
        self.f = state  # the netdump.fault.Fault made by arm()
        self.line = bytearray(_LINE_CAP)
        self.n = 0
        self.b1 = bytearray(1)
        self.port = 0
        self.eof = 0
        if stdin is None:
            stdin = getattr(sys.stdin, "buffer", sys.stdin)
        self._stdin = stdin
        self._rd = getattr(stdin, "readinto", None)
        if echo is None:
            echo = True  # a board's UART, and the virtual board's raw pty, do not echo by themselves
        self.echo = echo
        self._out = getattr(sys.stdout, "buffer", None)
        self._poll = select.poll()
        self._ipoll = None
        try:
            self._poll.register(stdin, select.POLLIN)
        except (OSError, TypeError, ValueError, AttributeError):  # not pollable: waits cannot time out
            self._poll = None
        if self._poll is not None:
            self._ipoll = getattr(self._poll, "ipoll", None)
        if self._ipoll is not None:
            for _ in self._ipoll(0):  # the first ipoll() allocates its result tuple
                break

    # ---- input ---------------------------------------------------------------
    def _ready(self, ms):
        # 1 when stdin has something (or hung up) within ms milliseconds
        if self._ipoll is not None:
            for _ in self._ipoll(ms):
                return 1
            return 0
        if self._poll is None:
            return 1
        return 1 if self._poll.poll(ms) else 0

    def _getc(self):
        # one byte, or -1 at the end of the input
        b = self.b1
        if self._rd is not None:
            r = self._rd(b)
            if not r:
                return -1
            return b[0]
        s = self._stdin.read(1)  # CPython text stdin (tests): allocation is fine
        if not s:
            return -1
        return ord(s)

    def _readline(self, timeout_s):
        # fills self.line[0:self.n]; 1 = a line, 0 = timed out, -1 = end of input
        self.n = 0
        t0 = ticks_ms()
        while True:
            if timeout_s >= 0 and ticks_diff(ticks_ms(), t0) >= timeout_s * 1000:
                return 0
            feed()
            if not self._ready(_POLL_MS):
                continue
            c = self._getc()
            if c < 0:
                return -1
            if c == 13 or c == 10:
                if self.n:
                    print()  # the echoed end of line, or the end of the prompt line
                    return 1
                continue
            if c == _BS or c == _DEL:
                if self.n:
                    self.n -= 1
                    if self.echo:
                        print("\x08 \x08", end="")
                continue
            if c == _CTRL_C:
                self.n = 0
                print("^C")
                continue
            if c < 32 or c > 126 or self.n >= _LINE_CAP:
                continue
            self.line[self.n] = c
            self.n += 1
            if self.echo and self._out is not None:
                self._out.write(self.b1)

    # ---- parsing (indexes into self.line) ---------------------------------------
    def _skip(self, i):
        while i < self.n and self.line[i] == 32:
            i += 1
        return i

    def _word_end(self, i):
        while i < self.n and self.line[i] != 32:
            i += 1
        return i

    def _is(self, i, j, word):
        if j - i != len(word):
            return False
        k = 0
        while k < j - i:
            if self.line[i + k] != word[k]:
                return False
            k += 1
        return True

    def _parse_server(self, i, j):
        # a.b.c.d[:port] in line[i:j] -> 1 (into f.ip4, self.port) or 0
        ip = self.f.ip4
        part = 0
        v = -1
        port = -1
        while i < j:
            c = self.line[i]
            i += 1
            if 48 <= c <= 57:
                if port >= 0:
                    port = port * 10 + c - 48
                    if port > 65535:
                        return 0
                    continue
                v = (0 if v < 0 else v) * 10 + c - 48
                if v > 255:
                    return 0
            elif c == 46 and port < 0:  # '.'
                if v < 0 or part >= 3:
                    return 0
                ip[part] = v
                part += 1
                v = -1
            elif c == 58 and port < 0:  # ':'
                if v < 0 or part != 3:
                    return 0
                port = 0
                ip[3] = v
                part = 4
                v = -2
            else:
                return 0
        if part == 3 and v >= 0:
            ip[3] = v
        elif part != 4 or port <= 0:
            return 0
        self.port = port if port > 0 else 0
        return 1

    # ---- commands --------------------------------------------------------------
    def _netdump(self, i):
        # "netdump [-f] [-s server[:port]]" from line[i:]
        force = 0
        server = 0
        i = self._skip(i)
        while i < self.n:
            j = self._word_end(i)
            if self._is(i, j, b"-f"):
                force = 1
                i = self._skip(j)
                continue
            if not self._is(i, j, b"-s") or server:
                print("usage: netdump [-f] [-s a.b.c.d[:port]]")
                return
            i = self._skip(j)
            j = self._word_end(i)
            if i == j or not self._parse_server(i, j):
                print("netdump: bad server (IPv4 a.b.c.d[:port])")
                return
            server = 1
            i = self._skip(j)
        if not server and not force and self.f.err == debugnet.FIN_UNCONFIRMED:
            # the server has the whole dump: only its ack of FINISHED was missing
            print("netdump: the last dump reached the server (only its end was not confirmed);")
            print("netdump: 'netdump -f' sends it again")
            return
        if server:
            port = self.port
            if port == 0:
                port = self._herald_port()
            err = fault.retarget(self.f.ip4, port)
            if err:
                print("netdump: this endpoint cannot change its server (error", err, end=")\n")
                return
            ip = self.f.ip4
            print("netdump: server ", end="")
            print(ip[0], ip[1], ip[2], ip[3], sep=".", end="")
            print(" port", port)
        fault.retry()

    def _herald_port(self):
        hp = getattr(self.f.ep, "herald_port", None)  # SocketEndpoint and EtherEndpoint keep it
        if isinstance(hp, int):
            return hp
        return 20023  # netdump's herald port (wire.HERALD_PORT)

    def _show(self):
        err = self.f.err
        if err == debugnet.FIN_UNCONFIRMED:
            print("last dump: finished (the server did not confirm the end)")
        elif err:
            print("last dump failed:", debugnet.message(err) if err < 100 else "netdump: error", "(error", err, end=")\n")
        else:
            print("last dump: ok")

    def run(self, timeout_s=-1, default=ACT_CONTINUE):
        """The prompt loop -> the action chosen (default when time is up or input ends)."""
        fault.kbd_off()
        try:
            return self._run(timeout_s, default)
        finally:
            fault.kbd_on()

    def _run(self, timeout_s, default):
        print("netdump: panic console ('help' for commands)")
        while True:
            print("netdump> ", end="")
            r = self._readline(timeout_s)
            if r <= 0:
                print()
                print("netdump: console", "timed out" if r == 0 else "input ended")
                return default
            i = self._skip(0)
            j = self._word_end(i)
            if self._is(i, j, b"netdump") or self._is(i, j, b"dump"):
                self._netdump(j)
            elif self._is(i, j, b"continue") or self._is(i, j, b"c"):
                return ACT_CONTINUE
            elif self._is(i, j, b"reset"):
                return ACT_RESET
            elif self._is(i, j, b"halt"):
                return ACT_HALT
            elif self._is(i, j, b"show"):
                self._show()
            elif self._is(i, j, b"help") or self._is(i, j, b"?"):
                for h in _HELP:
                    print(h)
            else:
                print("unknown command; try help")
