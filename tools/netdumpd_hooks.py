"""The -i handler program of netdumpd, run after each dump: at most `limit`
at once (the rest wait in a bounded queue), each in its own process group,
killed with its children after `timeout` seconds or at shutdown.

Arguments as upstream (markjdb/netdumpd cap_handler.c): reason (success,
timeout, error), client IP, host, info file, core file; then ours: the
status the info file ends in (complete, incomplete, refused). Empty
environment, cwd = the dump directory."""
import collections
import os
import signal
import subprocess
import time

MAX_QUEUED = 1024  # handler runs waiting for a free slot; more are dropped with a log line
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL


def describe(rc):
    """'exited with status N' / 'killed by signal N' for a Popen returncode."""
    if rc >= 0:
        return "exited with status %d" % rc
    try:
        name = " (%s)" % signal.Signals(-rc).name
    except ValueError:
        name = ""
    return "killed by signal %d%s" % (-rc, name)


class Hooks:
    """Runs the handler program; poll() from the event loop reaps, times out and starts."""

    def __init__(self, program, cwd, log, limit=4, timeout=3600.0):
        self.program = program
        self.cwd = cwd
        self.log = log
        self.limit = limit
        self.timeout = timeout
        self.queue = collections.deque()
        self.running = []  # [Popen, deadline, killed_at or None]

    @property
    def busy(self):
        """True while a handler runs or waits."""
        return bool(self.running or self.queue)

    def submit(self, args):
        """Run the handler with args (a list of str) now, or when a slot is free."""
        if len(self.queue) >= MAX_QUEUED:
            self.log.error("Handler not run for %s: %d runs already waiting\n" % (args[3], MAX_QUEUED))
            return
        self.queue.append(args)
        self.poll()

    def _start(self, args):
        try:
            p = subprocess.Popen([self.program] + list(args), env={}, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                 close_fds=True, start_new_session=True)
        except OSError as e:
            self.log.error("netdump_cap_handler(): %s\n" % e.strerror)
            return
        self.running.append([p, time.monotonic() + self.timeout, None])

    def _kill(self, entry, sig):
        try:
            os.killpg(entry[0].pid, sig)  # its own process group: children go too
        except OSError:
            pass
        if entry[2] is None:
            entry[2] = time.monotonic()

    def poll(self):
        """Reap ended handlers, kill overdue ones, start waiting ones."""
        now = time.monotonic()
        for entry in list(self.running):
            p, deadline, killed = entry
            rc = p.poll()
            if rc is not None:
                self.running.remove(entry)
                if rc == 0:
                    self.log.info("Process %d exited with status 0\n" % p.pid)
                else:
                    self.log.warning("Process %d %s\n" % (p.pid, describe(rc)))
                continue
            if killed is None and now >= deadline:
                self.log.warning("Process %d still running after %g s: killing it\n" % (p.pid, self.timeout))
                self._kill(entry, signal.SIGTERM)
            elif killed is not None and now - killed >= KILL_GRACE:
                self._kill(entry, signal.SIGKILL)
        while self.queue and len(self.running) < self.limit:
            self._start(self.queue.popleft())

    def shutdown(self, grace):
        """Give running and waiting handlers `grace` seconds, then kill what is left."""
        end = time.monotonic() + grace
        while self.busy and time.monotonic() < end:
            self.poll()
            time.sleep(0.02)
        for args in self.queue:
            self.log.warning("Handler not run for %s: shutting down\n" % args[3])
        self.queue.clear()
        for entry in self.running:
            self.log.warning("Process %d still running at shutdown: killing it\n" % entry[0].pid)
            self._kill(entry, signal.SIGTERM)
        end = time.monotonic() + KILL_GRACE
        while self.running and time.monotonic() < end:
            self.poll()
            time.sleep(0.02)
        for entry in self.running:
            self._kill(entry, signal.SIGKILL)
            entry[0].wait()
        self.poll()
