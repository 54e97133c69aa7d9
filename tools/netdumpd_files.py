"""Dump-directory file operations for netdumpd, confined to the dump directory.

Every path is opened relative to a directory descriptor, one component at a
time, with O_NOFOLLOW: no absolute path, no "..", and no symlink (planted by
anyone) can make the server create or write a file outside the dump directory.
Names and the index scheme are upstream netdumpd's (markjdb/netdumpd
netdumpd.c: read_index, open_info_file, open_client_files, write_index), but
dump files are created exclusively and renamed without replacing: an existing
file is never truncated or overwritten, whatever bounds.<host> says.
"""
import errno
import os
import stat

MAX_DUMPS = 1024  # netdumpd.c MAX_DUMPS: saved dumps per host per directory
MAXPATHLEN = 1024  # FreeBSD sys/param.h; the longest herald path netdumpd takes
CORE_SUFFIXES = ("", ".gz", ".zst")  # netdumpd.c handle_kdh suffixes[] (none, gzip, zstd)

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
# O_NONBLOCK: opening a planted FIFO must fail or return at once, never block the server
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC


class PathError(Exception):
    """A path that cannot be used inside the dump directory."""


def split_relative(path):
    """Components of a relative path ('.' and empty parts dropped); PathError
    for an absolute path, a '..' component or a NUL."""
    if "\0" in path:
        raise PathError("NUL in path")
    if path.startswith("/"):
        raise PathError("absolute path")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathError("'..' in path")
    return parts


def open_subdir(root_fd, path):
    """Open an existing directory below root_fd without following symlinks.

    Returns (fd, display) where display is the path as used in file names
    ("." for the dump directory itself). Raises PathError or OSError."""
    parts = split_relative(path)
    fd = os.open(".", _DIR_FLAGS, dir_fd=root_fd)
    try:
        for p in parts:
            nfd = os.open(p, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd, ("/".join(parts) or ".")


def _check_regular(fd, name):
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        raise OSError(errno.EPERM, "not a plain file", name)


def read_index(dir_fd, host, log, who):
    """The index saved in bounds.<host> (creating it empty), or -1."""
    name = "bounds." + host
    try:
        fd = os.open(name, os.O_RDONLY | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, 0o600, dir_fd=dir_fd)
    except OSError as e:
        log.error("openat(%s): %s\n" % (name, e.strerror))
        return -1
    try:
        _check_regular(fd, name)
        data = os.read(fd, 15)  # fgets() into a 16-byte buffer
    except OSError as e:
        log.error("Failed to read bound for client %s: %s\n" % (who, e.strerror))
        return -1
    finally:
        os.close(fd)
    if not data:
        log.info("Empty bounds file for client %s\n" % who)
        return -1
    text = data.split(b"\n")[0].decode("ascii", "replace")
    digits = text.strip()
    if not digits.isdigit() or int(digits) > 0x7FFFFFFF:
        log.error("Invalid bound for client %s: '%s'\n" % (who, text))
        return -1
    return int(digits)


def write_index(dir_fd, host, index, log):
    """Store index + 1 in bounds.<host>; errors are logged and ignored."""
    name = "bounds." + host
    try:
        # no O_TRUNC: a planted hard link is refused before anything is cut
        fd = os.open(name, os.O_WRONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, dir_fd=dir_fd)
    except OSError as e:
        log.error("openat(%s): %s\n" % (name, e.strerror))
        return
    try:
        _check_regular(fd, name)
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % (index + 1))
    except OSError as e:
        log.error("write(%s): %s\n" % (name, e.strerror))
    finally:
        os.close(fd)


def _exists(dir_fd, name):
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _taken(dir_fd, host, idx):
    # any file of dump <idx> already there: its core under any name, its key
    for base in ("vmcore", "vmcore_encrypted"):
        for suffix in CORE_SUFFIXES:
            if _exists(dir_fd, "%s.%s.%d%s" % (base, host, idx, suffix)):
                return True
    return _exists(dir_fd, "key.%s.%d" % (host, idx))


def _create(dir_fd, name, mode=0o600):
    # O_EXCL: an existing file (or a planted symlink) is never opened, let alone cut
    return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, mode,
                   dir_fd=dir_fd)


def _try_index(dir_fd, host, idx):
    """(info_fd, core_fd) for dump idx, None if one of its files exists; OSError otherwise."""
    if _taken(dir_fd, host, idx):
        return None
    info_name = "info.%s.%d" % (host, idx)
    try:
        ifd = _create(dir_fd, info_name)
    except FileExistsError:
        return None
    try:
        cfd = _create(dir_fd, "vmcore.%s.%d" % (host, idx))
    except BaseException as e:
        os.close(ifd)
        os.unlink(info_name, dir_fd=dir_fd)
        if isinstance(e, FileExistsError):
            return None
        raise
    return ifd, cfd


def create_dump_files(dir_fd, dirname, host, log, who):
    """Pick the next free index and create info.<host>.<N> and vmcore.<host>.<N>.

    Both are created exclusively, and an index any of whose files (core under
    any of its names, key) exists is skipped: nothing is ever overwritten.
    Returns (index, info_fd, core_fd), or None after one logged line."""
    idx = read_index(dir_fd, host, log, who)
    order = range(MAX_DUMPS)
    if idx >= 0:
        order = [idx] + [i for i in range(MAX_DUMPS) if i != idx]
    first = True
    for i in order:
        try:
            got = _try_index(dir_fd, host, i)
        except OSError as e:
            log.error("Can't create output files for client %s in %s: %s\n" % (who, dirname, e.strerror))
            return None
        if got is not None:
            return (i,) + got
        if first and idx >= 0:
            log.error("Incorrect bounds file for client %s\n" % who)
        first = False
    log.error("No free index for client %s in %s\n" % (who, dirname))
    return None


def open_key_file(dir_fd, name):
    """Create key.<host>.<N> (mode 0400) exclusively for writing; OSError on failure."""
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, 0o400,
                   dir_fd=dir_fd)


def rename(dir_fd, old, new):
    """Rename a file within one directory, never replacing what is at new
    (FileExistsError then): link() then unlink(), or a checked rename() where
    the file system has no hard links."""
    try:
        os.link(old, new, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.EXDEV):
            raise
        if _exists(dir_fd, new):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), new)
        os.rename(old, new, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return
    os.unlink(old, dir_fd=dir_fd)


def replace_symlink(dir_fd, link, target):
    """Point the symlink link at target (a basename) in dir_fd, atomically.

    Only a symlink is replaced: a file or directory of that name is left alone
    (FileExistsError)."""
    try:
        st = os.stat(link, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISLNK(st.st_mode):
        raise FileExistsError(errno.EEXIST, "exists and is not a symlink", link)
    tmp = ".%s.%d.tmp" % (link, os.getpid())
    try:
        os.unlink(tmp, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp, dir_fd=dir_fd)
    os.rename(tmp, link, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def check_writable(dir_fd):
    """Create and remove a probe file in dir_fd; OSError if files cannot be created there."""
    name = ".netdumpd-probe.%d" % os.getpid()
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600, dir_fd=dir_fd)
    os.close(fd)
    os.unlink(name, dir_fd=dir_fd)


class InfoFile:
    """info.<host>.<N>: lines appended to a body that is always followed by one
    status line (complete / incomplete / refused), so the file on disk ends in
    a status whatever happens to the server (rewritten with pwrite + ftruncate)."""

    def __init__(self, fd, status):
        self.fd = fd
        self.body = 0  # bytes of body: the status line starts here
        self.size = 0  # bytes on disk
        self.status = b""
        self.set_status(status)

    def _put(self, data):
        done = 0
        view = memoryview(data)
        while done < len(data):
            done += os.pwrite(self.fd, view[done:], self.body + done)

    def _write(self, text):
        data = text + self.status
        self._put(data)
        self.body += len(text)
        end = self.body + len(self.status)
        if end < self.size:
            os.ftruncate(self.fd, end)
        self.size = end

    def add(self, text):
        """Append text (str, whole lines) before the status line; OSError on failure."""
        self._write(text.encode("utf-8", "replace"))

    def set_status(self, line):
        """Make line (without its newline) the last line; OSError on failure."""
        self.status = (line + "\n").encode("utf-8", "replace")
        self._write(b"")

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
