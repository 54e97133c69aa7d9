"""Dump-directory file operations for netdumpd, confined to the dump directory.

Every path is opened relative to a directory descriptor, one component at a
time, with O_NOFOLLOW: no absolute path, no "..", and no symlink (planted by
anyone) can make the server create or write a file outside the dump directory.
Names and the index scheme are upstream netdumpd's (markjdb/netdumpd
netdumpd.c: read_index, open_info_file, open_client_files, write_index).
"""
import errno
import os
import stat

MAX_DUMPS = 1024  # netdumpd.c MAX_DUMPS: saved dumps per host per directory
MAXPATHLEN = 1024  # FreeBSD sys/param.h; the longest herald path netdumpd takes

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


def _open_info(dir_fd, dirname, host, idx, log):
    name = "info.%s.%d" % (host, idx)
    try:
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600,
                       dir_fd=dir_fd)
    except OSError as e:
        if e.errno != errno.EEXIST:
            log.error('openat("%s/%s"): %s\n' % (dirname, name, e.strerror))
        return -1


def create_dump_files(dir_fd, dirname, host, log, who):
    """Pick the next index and create info.<host>.<N> and vmcore.<host>.<N>.

    Returns (index, info_fd, core_fd) or None (reasons are logged)."""
    idx = read_index(dir_fd, host, log, who)
    fd = -1
    if idx >= 0:
        fd = _open_info(dir_fd, dirname, host, idx, log)
        if fd < 0:
            log.error("Incorrect bounds file for client %s\n" % who)
            idx = -1
    if idx < 0:
        for idx in range(MAX_DUMPS):
            fd = _open_info(dir_fd, dirname, host, idx, log)
            if fd >= 0:
                break
        else:
            log.error("No free index for client %s\n" % who)
            return None
    info_name = "info.%s.%d" % (host, idx)
    core_name = "vmcore.%s.%d" % (host, idx)
    try:
        # Opened without O_TRUNC, checked, then truncated: a planted hard link
        # to some other file is refused before anything is cut.
        cfd = os.open(core_name, os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, 0o600,
                      dir_fd=dir_fd)
        try:
            _check_regular(cfd, core_name)
            os.ftruncate(cfd, 0)
        except BaseException:
            os.close(cfd)
            raise
    except OSError as e:
        os.close(fd)
        try:
            os.unlink(info_name, dir_fd=dir_fd)
        except OSError:
            pass
        log.error("openat(%s/%s): %s\n" % (dirname, core_name, e.strerror))
        return None
    return idx, fd, cfd


def open_key_file(dir_fd, name):
    """Create key.<host>.<N> (mode 0400) for writing; OSError on failure."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, 0o400, dir_fd=dir_fd)
    try:
        _check_regular(fd, name)
        os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def rename(dir_fd, old, new):
    """Rename a file within one directory (a symlink at new is replaced, never followed)."""
    os.rename(old, new, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def replace_symlink(dir_fd, link, target):
    """Make link -> target (a basename) in dir_fd, replacing an old link or file."""
    try:
        os.unlink(link, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    os.symlink(target, link, dir_fd=dir_fd)
