# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host access: the filesystem root, safe path walking, bounded reads, doing a user's work as that
user, and the command runner every external command goes through.

Everything under a user's home and in a container rootfs belongs to someone else, and this code
runs as root. The rules (docs/security.md):

- A path is walked one component at a time from a directory descriptor with O_NOFOLLOW, so no
  symlink is followed in any component; a component owned by neither root nor the owner of the
  tree being walked is refused (systemd-tmpfiles' "unsafe path transition").
- The last component is opened with O_PATH (no open of a device, FIFO or socket ever happens),
  fstat'ed, and only a regular file is read (bounded) or has its mode changed, through that same
  handle (/proc/self/fd/N names exactly the inode that was checked).
- A rootless user's configuration and storage are read and changed by a forked child running
  with that user's effective uid, gid and groups and a clean environment: the kernel then decides
  what may be read or changed, exactly as it would for the user, while the child's real and saved
  uid stay root's, so that she cannot signal or trace it.
- Errors name the path (escaped) and a reason; never the content of what was read.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import posixpath
import select
import shutil
import signal
import stat
import threading
import time

CONFIG_LIMIT = 1024 * 1024
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_PATH = getattr(os, "O_PATH", 0o10000000)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_PATH_FLAGS = _O_PATH | os.O_NOFOLLOW | _CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | _CLOEXEC
ROOT_UID = 0
# Where a host's tools live when the module's PATH (often a bare one under sudo or ssh) misses them.
SYSTEM_BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
MAX_SYMLINK_HOPS = 40


class UnsafePath(OSError):
    """A path that is refused: a symlink in a component, an untrusted owner, not a regular file, too big."""

    def __init__(self, path, reason, error=errno.EPERM):
        OSError.__init__(self, error, reason)
        self.path = path
        self.reason = reason

    def __str__(self):
        return "%s: %s" % (display(self.path), self.reason)


def display(path):
    """A path (or readlink target) that survives JSON and a terminal: undecodable bytes and
    control characters shown as escapes, at most 512 characters."""
    if isinstance(path, str) and path.isascii() and path.isprintable() and len(path) <= 512:
        return path  # the common case, nothing to escape
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= 512 else text[:509] + "..."


def describe(exc):
    """The reason of an OSError without any content: its strerror, or the refusal's reason."""
    if isinstance(exc, UnsafePath):
        return exc.reason
    return getattr(exc, "strerror", None) or exc.__class__.__name__


class HostRoot:
    """The filesystem root the host's files are read under: ``/``, or a mounted image or snapshot."""

    def __init__(self, path="/"):
        self.path = os.path.abspath(path or "/")

    @classmethod
    def of(cls, root):
        return root if isinstance(root, HostRoot) else cls(root)

    @property
    def is_host(self):
        return self.path == "/"

    def join(self, path):
        """The real path of an absolute host path under this root."""
        return path if self.is_host else os.path.join(self.path, path.lstrip("/"))

    def unjoin(self, full):
        """The host path of a real path under this root."""
        return full if self.is_host else "/" + os.path.relpath(full, self.path)

    def resolve(self, path):
        """Resolve symlinks in host ``path`` as seen from inside this root; None on a loop.

        Absolute link targets are taken relative to the root, so nothing outside it is consulted.
        """
        if self.is_host:
            return os.path.realpath(path)
        pending = [p for p in path.split("/") if p]
        resolved, hops = "/", 0
        while pending:
            part = pending.pop(0)
            if part == ".":
                continue
            if part == "..":
                resolved = posixpath.dirname(resolved)
                continue
            candidate = posixpath.join(resolved, part)
            full = self.join(candidate)
            if os.path.islink(full):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    return None
                target = os.readlink(full)
                if target.startswith("/"):
                    resolved = "/"
                pending = [p for p in target.split("/") if p] + pending
                continue
            resolved = candidate
        return resolved

    def __repr__(self):
        return "HostRoot(%r)" % self.path


class Ids:
    """A set of uids given as single ids and ranges: a user's own uid and subordinate ids."""

    def __init__(self, ids=(), ranges=()):
        self.ids = frozenset(ids)
        self.ranges = tuple((int(start), int(count)) for start, count in ranges)

    def __contains__(self, uid):
        return uid in self.ids or any(start <= uid < start + count for start, count in self.ranges)

    def __repr__(self):
        return "Ids(%r, %r)" % (sorted(self.ids), list(self.ranges))


def _components(path):
    return [part for part in path.split("/") if part and part != "."]


def _check_owner(full, st, owners):
    if owners is not None and st.st_uid not in owners:
        raise UnsafePath(full, "unsafe path: owned by uid %d, not by root or the owner of this tree" % st.st_uid)


def _only_root_writes(st):
    """Only root can change what this names: root owns it and nobody else may write it, or it is a
    sticky directory (such as /tmp), where nobody but root may rename or remove root's entries,
    and each entry on the way is checked in turn."""
    if st.st_uid != ROOT_UID:
        return False
    return not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX)


def resolve_root_links(root, path):
    """Host ``path`` with the symlinks only root controls resolved, as the tools that follow them
    see it: a root-owned link reached through directories that only root may write (Debian's
    system accounts have homes such as /bin, a link to usr/bin). At the first directory or link
    anyone else controls, ``path`` is returned as given, so the safe walk refuses that link."""
    root = HostRoot.of(root)
    pending, resolved, hops = _components(path), "/", 0
    try:
        if not _only_root_writes(os.lstat(root.path)):
            return path
        while pending:
            part = pending.pop(0)
            if part == "..":
                resolved = posixpath.dirname(resolved)
                continue
            candidate = posixpath.join(resolved, part)
            st = os.lstat(root.join(candidate))
            if stat.S_ISLNK(st.st_mode) and st.st_uid != ROOT_UID:
                return path
            if not stat.S_ISLNK(st.st_mode) and not _only_root_writes(st):
                return path if pending else candidate
            if stat.S_ISLNK(st.st_mode):  # a link's own mode means nothing; its directory's does
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    return path
                target = os.readlink(root.join(candidate))
                if target.startswith("/"):
                    resolved = "/"
                pending = _components(target) + pending
                continue
            resolved = candidate
    except OSError:
        return path  # a missing component: the walk says so itself
    return resolved


def not_root_controlled(root, path, missing_ok=False):
    """Why root must not run the program at host ``path`` (symlinks already resolved), or use the
    directory there, or None: it and every directory on its way below ``root`` must belong to root
    and be writable by no one else, or another user could put her code where root runs it. With
    ``missing_ok``, the part of the path that does not exist yet is root's to create."""
    root = HostRoot.of(root)
    walked = "/"
    for part in _components(path):
        walked = posixpath.join(walked, part)
        try:
            st = os.lstat(root.join(walked))
        except OSError as exc:
            if missing_ok and exc.errno == errno.ENOENT:
                return None
            return "%s: %s" % (display(walked), describe(exc))
        if not _only_root_writes(st):
            return "%s belongs to uid %d or others may write it" % (display(walked), st.st_uid)
    return None


def open_dir(root, path, owners=None):
    """A directory descriptor for host ``path`` under ``root``, walked without following symlinks.

    ``owners``: the uids a directory on the way may belong to (None: any). Raises OSError
    (UnsafePath for a refusal; ENOENT when a component is missing).
    """
    root = HostRoot.of(root)
    fd = os.open(root.path, _DIR_FLAGS)
    try:
        return open_below(fd, path, owners, root.path)
    finally:
        os.close(fd)


def open_below(dir_fd, path, owners=None, base=""):
    """A new directory descriptor for relative ``path`` below ``dir_fd``, one O_NOFOLLOW step at a
    time, each directory owned by one of ``owners``; ``base`` names dir_fd in errors."""
    fd = os.dup(dir_fd)
    walked = base
    try:
        for name in _components(path):
            walked = os.path.join(walked, name)
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePath(walked, "not a directory, or a symlink: refused", exc.errno)
                raise
            os.close(fd)
            fd = child
            _check_owner(walked, os.fstat(fd), owners)
        return fd
    except BaseException:
        os.close(fd)
        raise


def lstat_at(dir_fd, name):
    """lstat of ``name`` in a directory descriptor, or None when it does not exist."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def open_handle(dir_fd, name):
    """(O_PATH descriptor, its stat) of ``name`` itself, a symlink included; nothing is opened for I/O."""
    fd = os.open(name, _PATH_FLAGS, dir_fd=dir_fd)
    try:
        return fd, os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise


def read_handle(handle, st, limit, full, head=False):
    """The bytes of the regular file behind an O_PATH handle, at most ``limit`` of them (with
    ``head``, its first ``limit`` bytes, however large it is)."""
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(full, "not a regular file: refused")
    if st.st_size > limit and not head:
        raise UnsafePath(full, "larger than %d bytes: refused" % limit, errno.EFBIG)
    fd = os.open("/proc/self/fd/%d" % handle, _READ_FLAGS)
    try:
        again = os.fstat(fd)
        if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
            raise UnsafePath(full, "changed while it was read: refused")
        if head:
            chunks, total = [], 0
            while total < limit:
                chunk = os.read(fd, min(1024 * 1024, limit - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            return b"".join(chunks)
        return read_fd(fd, limit, full)
    finally:
        os.close(fd)


def read_fd(fd, limit, full):
    """All the bytes left in an open descriptor, at most ``limit`` of them (UnsafePath past it,
    whatever the file's size said: it may grow, or be a device)."""
    chunks, total = [], 0
    while total <= limit:
        chunk = os.read(fd, min(65536, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise UnsafePath(full, "larger than %d bytes: refused" % limit, errno.EFBIG)
    return b"".join(chunks)


def read_file(root, path, limit=CONFIG_LIMIT, owners=None, head=False):
    """The bytes of regular file ``path`` under ``root``; None when it does not exist.

    No symlink is followed in any component; a FIFO, device or socket under the name is refused
    without being opened; more than ``limit`` bytes is refused (with ``head``, the first ``limit``
    bytes are read instead).
    """
    root = HostRoot.of(root)
    parent, name = os.path.split(path.rstrip("/"))
    full = root.join(path)
    try:
        dir_fd = open_dir(root, parent, owners)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    try:
        try:
            handle, st = open_handle(dir_fd, name)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise
        try:
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(full, "a symlink: refused")
            _check_owner(full, st, owners)
            return read_handle(handle, st, limit, full, head)
        finally:
            os.close(handle)
    finally:
        os.close(dir_fd)


# System files the host's tools read by following symlinks (the dynamic loader, podman's hooks
# directories, dpkg and rpm): read the way those tools see them, but with every symlink resolved
# inside ``root`` (an absolute target is taken relative to it), so that nothing outside an
# alternate root is ever consulted; then read without following anything. Content another user
# controls (a rootfs, a home) is never read this way: see read_file and open_dir.

def resolve_inside(root, path):
    """Host ``path`` with its symlinks resolved inside ``root``; UnsafePath on a loop."""
    root = HostRoot.of(root)
    resolved = root.resolve(path)
    if resolved is None:
        raise UnsafePath(root.join(path), "too many levels of symbolic links: refused", errno.ELOOP)
    return resolved


def stat_followed(root, path):
    """The stat of system file ``path`` as a tool that follows symlinks sees it, inside ``root``;
    None when it does not exist (a dangling link, a loop)."""
    root = HostRoot.of(root)
    try:
        if root.is_host:  # the kernel's own lookup is that tool's: one system call, not one per component
            return os.stat(path)
        return os.lstat(root.join(resolve_inside(root, path)))
    except OSError:
        return None


def read_followed(root, path, limit=CONFIG_LIMIT, owners=None):
    """The bytes of system file ``path`` (symlinks followed inside ``root``), read as read_file
    reads: no FIFO or device, bounded; None when it does not exist."""
    return read_file(root, resolve_inside(root, path), limit, owners)


def list_followed(root, path):
    """Names in system directory ``path`` (symlinks followed inside ``root``); [] when it does not exist."""
    return list_dir(root, resolve_inside(root, path))


def list_dir(root, path, owners=None):
    """Names in directory ``path`` under ``root`` (walked safely); [] when it does not exist."""
    try:
        fd = open_dir(root, path, owners)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return []
        raise
    try:
        return sorted(os.listdir(fd))
    finally:
        os.close(fd)


def chmod_handle(handle, mode):
    """Change the mode of exactly the inode behind an O_PATH handle (fchmod refuses O_PATH)."""
    os.chmod("/proc/self/fd/%d" % handle, mode)


def load_json(data, full):
    """Parse JSON bytes from someone else's file; malformed, too deep or too big is one UnsafePath."""
    try:
        return json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        raise UnsafePath(full, "malformed JSON", errno.EINVAL)
    except RecursionError:
        raise UnsafePath(full, "JSON nested too deeply", errno.EINVAL)
    except MemoryError:
        raise UnsafePath(full, "JSON too large to parse", errno.ENOMEM)


# A user's whole result must fit in this much JSON (her listed files are capped well below it); her
# child may use this much memory; a child that takes longer than its timeout is killed.
RESULT_LIMIT = 64 * 1024 * 1024
CHILD_MEMORY_LIMIT = 1024 * 1024 * 1024
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4


class ChildFailed(Exception):
    pass


def _child_tools():
    """ctypes and resource, imported by the parent before it forks (a child acting for a user may
    not be able to read the standard library) and only when a child is needed: ctypes alone costs
    an audit 3 ms of import. None for what this Python lacks."""
    tools = {"ctypes": None, "resource": None}
    try:
        import ctypes  # pylint: disable=import-outside-toplevel
        tools["ctypes"] = ctypes
    except ImportError:  # pragma: no cover - in every CPython for Linux
        pass
    try:
        import resource  # pylint: disable=import-outside-toplevel
        tools["resource"] = resource
    except ImportError:  # pragma: no cover - in every CPython for Linux
        pass
    return tools


def _prctl(tools, option, value):
    """prctl(2) through libc where ctypes can reach it; the kernel already makes the child
    non-dumpable on its credential change, so without ctypes only the parent-death signal is lost
    (the parent's timeout still ends the child)."""
    try:
        return tools["ctypes"].CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):  # no ctypes, or no libc to load
        return False


def _become(uid, gid, groups, parent, tools):
    """Take the user's authority for every file access while staying out of her reach.

    The effective (and so the file-system) uid and every gid become hers, and the effective
    capabilities go with the effective uid 0, so the kernel judges each open, lstat and chmod
    exactly as it would for her. The real and saved uid stay root's, as logrotate's ``su``
    keeps them: kill(2) lets her signal only a process whose real or saved uid is hers, so she
    can neither stop nor kill it, and ptrace and /proc/PID need all three uids to be hers. The
    child is made non-dumpable and dies with its parent. What this costs: code running in the
    child could take root back; the child runs nothing but this module's own Python over bounded
    data and executes no program (docs/security.md)."""
    os.setgroups(list(groups))
    os.setresgid(gid, gid, gid)
    os.setresuid(ROOT_UID, uid, ROOT_UID)
    _prctl(tools, _PR_SET_DUMPABLE, 0)
    _prctl(tools, _PR_SET_PDEATHSIG, signal.SIGKILL)  # after the credential change, which clears it
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the signal was armed
    try:
        tools["resource"].setrlimit(tools["resource"].RLIMIT_AS, (CHILD_MEMORY_LIMIT, CHILD_MEMORY_LIMIT))
    except (AttributeError, ValueError, OSError):
        pass  # a tighter limit already set stays


def run_as_user(uid, gid, groups, func, args=(), timeout=600):
    """``func(*args)`` in a forked child with the user's authority (_become); its JSON-able result.

    The child starts with an empty environment, umask 077 and cwd ``/``, and at most
    CHILD_MEMORY_LIMIT bytes of memory. Raises ChildFailed with a reason when the child fails,
    dies, runs out of memory or time, or answers more than RESULT_LIMIT bytes.
    """
    try:
        read_end, write_end = os.pipe()
    except OSError as exc:  # out of descriptors: this user's scan fails alone
        raise ChildFailed("could not make a pipe: %s" % describe(exc))
    parent, tools = os.getpid(), _child_tools()
    try:
        pid = os.fork()
    except OSError as exc:  # a user exhausting the process limit: one error, not a traceback
        os.close(read_end)
        os.close(write_end)
        raise ChildFailed("could not start a process: %s" % describe(exc))
    if pid == 0:  # pragma: no cover - the child's exit status and pipe are checked by the parent
        status = 1
        try:
            os.close(read_end)
            _become(uid, gid, groups, parent, tools)
            os.environ.clear()
            os.environ.update({"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "LC_ALL": "C"})
            os.umask(0o077)
            os.chdir("/")
            payload = {"result": func(*args)}
            status = 0
        except BaseException as exc:  # pylint: disable=broad-exception-caught  # reported to the parent
            payload = {"error": "%s: %s" % (exc.__class__.__name__, describe(exc) if isinstance(exc, OSError)
                                            else exc)}
        try:
            data = json.dumps(payload).encode("utf-8")
            view = memoryview(data)
            while view:
                view = view[os.write(write_end, view):]
        finally:
            os._exit(status)
    os.close(write_end)
    chunks, total, deadline = [], 0, time.time() + timeout
    try:
        while True:
            left = deadline - time.time()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                raise ChildFailed("gave up after %ds" % timeout)
            chunk = os.read(read_end, 1024 * 1024)
            if not chunk:
                break
            total += len(chunk)
            if total > RESULT_LIMIT:
                os.kill(pid, signal.SIGKILL)
                raise ChildFailed("result larger than %d bytes" % RESULT_LIMIT)
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _reap(pid)
    try:
        payload = json.loads(b"".join(chunks).decode("utf-8"))
    except ValueError:
        raise ChildFailed("ended without a result")
    if "error" in payload:
        raise ChildFailed(payload["error"])
    return payload["result"]


def _reap(pid):
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except OSError as exc:
            if exc.errno != errno.EINTR:
                return


class CommandTimeout(Exception):
    pass


def which(name, extra_dirs=()):
    """A program on the module's PATH, then in the usual system directories, then ``extra_dirs``."""
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", "")] + list(SYSTEM_BIN_DIRS)
                                                   + list(extra_dirs)))


def module_runner(module):
    """The command runner of a module run: ``run(argv, timeout, stdin=None) -> (rc, stdout, stderr)``.

    Every external command of this collection goes through one, so the module_utils functions take
    it as ``runner`` (tests hand them their own). It runs AnsibleModule.run_command with a C locale
    and no ~ or $ expansion in the arguments, under ``setsid`` so that a hung command and all its
    children can be killed as one process group once ``timeout`` seconds are up; then it raises
    CommandTimeout. A missing or non-executable program raises OSError, as exec would.
    """
    setsid = which("setsid")

    def run(argv, timeout, stdin=None):
        program = argv[0] if "/" in argv[0] else which(argv[0])
        if not program or not os.path.isfile(program) or not os.access(program, os.X_OK):
            raise OSError(errno.ENOENT, "cannot run %s: not found or not executable" % argv[0])
        expired, timers = [], []

        def watch(proc):
            def expire():
                expired.append(True)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    proc.kill()
            timer = threading.Timer(timeout, expire)
            timer.daemon = True
            timer.start()
            timers.append(timer)

        try:
            rc, out, err = module.run_command(
                ([setsid] if setsid else []) + [program] + list(argv[1:]), data=stdin, binary_data=True,
                environ_update={"LANG": "C", "LC_ALL": "C"}, expand_user_and_vars=False,
                before_communicate_callback=watch, handle_exceptions=False, errors="replace")
        finally:
            for timer in timers:
                timer.cancel()
        if expired:
            raise CommandTimeout("timed out after %ss" % timeout)
        return rc, out, err

    return run
