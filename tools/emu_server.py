"""The socket side the chip emulators share (w5500_emu, esp32_emac_emu).

A link listener (a local stream socket; each client connection gets a session
object that speaks the chip's link protocol), an Ethernet datagram socket (one
datagram = one frame without FCS: the NIC side of tools/vnet.py; empty
datagrams carry nothing), and a select loop, optionally in a daemon thread.
Subclasses say what a session is and where a received frame goes.
"""
import json
import logging
import os
import select
import signal
import socket
import sys
import threading

log = logging.getLogger("emu_server")


def parse_address(text):
    """'PATH' (contains '/') -> (AF_UNIX, path); 'HOST:PORT' -> (AF_INET/AF_INET6, (host, port)); loopback only."""
    if "/" in text:
        return socket.AF_UNIX, text
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ValueError("only loopback addresses are allowed: %r" % text)
    if host == "localhost":
        host = "127.0.0.1"
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        num = int(port)
    except ValueError:
        raise ValueError("bad port in %r" % text) from None
    if not 0 <= num <= 65535:
        raise ValueError("port must be 0..65535: %r" % text)
    return fam, (host, num)


def _unlink_stale(fam, addr):
    if fam == socket.AF_UNIX and os.path.exists(addr):
        os.unlink(addr)


class ChipServer:
    """Link listener + Ethernet socket + select loop. Subclasses implement
    new_session(sock) -> an object with on_readable() -> bool and close(),
    frame_in(data), and may override lost_frame(), timeout() and tick()."""

    thread_name = "chip-emu"

    def __init__(self, link_addr, eth_bind=None, eth_peer=None, hello=False):
        fam, addr = parse_address(link_addr)
        _unlink_stale(fam, addr)
        self.link_path = addr if fam == socket.AF_UNIX else None
        self.listener = socket.socket(fam, socket.SOCK_STREAM)
        if fam != socket.AF_UNIX:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(addr)
        self.listener.listen(4)
        self.link_address = self.listener.getsockname()
        self.eth = None
        self.eth_path = None
        self.peer = None
        if eth_bind:
            efam, eaddr = parse_address(eth_bind)
            _unlink_stale(efam, eaddr)
            self.eth_path = eaddr if efam == socket.AF_UNIX else None
            self.eth = socket.socket(efam, socket.SOCK_DGRAM)
            self.eth.bind(eaddr)
            self.eth.setblocking(False)  # a cable never blocks the chip: a full peer queue loses the frame
            self.eth_address = self.eth.getsockname()
        if eth_peer:
            self.peer = parse_address(eth_peer)[1]
        self._fixed_peer = self.peer is not None
        if hello and self.eth is not None and self.peer is not None:
            # an empty datagram announces us to a bridge that answers its last sender (tools/vnet.py)
            self.eth.sendto(b"", self.peer)
        self.clients = {}
        self._stop = False
        self._wake_r, self._wake_w = socket.socketpair()
        self.thread = None

    # ---- what subclasses provide ------------------------------------------------------------
    def new_session(self, sock):
        raise NotImplementedError

    def frame_in(self, data):
        raise NotImplementedError

    def lost_frame(self):
        """A transmitted frame could not be delivered (counted by the subclass)."""

    def timeout(self):
        """Longest wait of the select loop, seconds."""
        return 0.5

    def tick(self):
        """Called after every round of the select loop."""

    # ---- the wire and the loop -----------------------------------------------------------------
    def transmit(self, frame):
        """One frame from the chip onto the cable (to the peer), or counted as lost."""
        if self.eth is None or self.peer is None:
            return
        try:
            self.eth.sendto(frame, self.peer)
        except (BlockingIOError, ConnectionRefusedError, FileNotFoundError):
            self.lost_frame()
        except OSError as e:
            self.lost_frame()
            log.warning("ethernet send to %r failed: %s", self.peer, e)

    def wake(self):
        """Make the select loop run a round now (from another thread)."""
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def serve_forever(self):
        """Run until stop()."""
        while not self._stop:
            rl = [self.listener, self._wake_r] + list(self.clients)
            if self.eth is not None:
                rl.append(self.eth)
            r, _, _ = select.select(rl, [], [], self.timeout())
            for s in r:
                if s is self._wake_r:
                    s.recv(16)
                elif s is self.listener:
                    c, _ = s.accept()
                    self.clients[c] = self.new_session(c)
                elif s is self.eth:
                    for _ in range(64):
                        try:
                            data, src = s.recvfrom(65536)
                        except (BlockingIOError, InterruptedError):
                            break
                        if not data:
                            continue  # empty datagrams carry no frame (hello / separator)
                        if not self._fixed_peer:
                            self.peer = src or self.peer
                        self.frame_in(data)
                else:
                    sess = self.clients[s]
                    try:
                        alive = sess.on_readable()
                    except (BrokenPipeError, ConnectionResetError):
                        alive = False  # the board went away mid-reply (reset, killed): its session ends
                    if not alive:
                        sess.close()
                        del self.clients[s]
            self.tick()

    def start(self):
        """Serve in a daemon thread; returns self."""
        self.thread = threading.Thread(target=self.serve_forever, name=self.thread_name, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """End the loop, close every socket, remove socket files."""
        self._stop = True
        self.wake()
        if self.thread is not None:
            self.thread.join(5)
        for c in list(self.clients):
            self.clients[c].close()
        self.clients.clear()
        self.listener.close()
        if self.eth is not None:
            self.eth.close()
        for p in (self.link_path, self.eth_path):
            if p and os.path.exists(p):
                os.unlink(p)
        self._wake_r.close()
        self._wake_w.close()


def serve_until_signal(srv, stats):
    """Serve srv in this thread until SIGTERM/SIGINT, then print stats() as one JSON line
    on stderr and close it -> exit status 0."""

    def stop(signum, frame):
        srv._stop = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        srv.serve_forever()
    finally:
        sys.stderr.write(json.dumps(stats(), sort_keys=True) + "\n")
        sys.stderr.flush()
        srv.stop()
    return 0
