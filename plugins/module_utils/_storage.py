# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Find /.krun_config.json in container storage, and fix its mode without following symlinks.

The rootfs is user-controlled: the file may be a symlink planted to reach a host file
(CVE-2025-24965). Nothing here follows one. The scan looks at one path per layer, so its cost
grows with the number of layers, never with the size of any container's filesystem.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import stat

from ansible_collections.fleetfix.crun.plugins.module_utils import _conf as conf
from ansible_collections.fleetfix.crun.plugins.module_utils._crun import resolve

CONFIG_NAME = ".krun_config.json"
DEFAULT_GRAPHROOT = "/var/lib/containers/storage"
ROOTLESS_GRAPHROOT = ".local/share/containers/storage"
STORAGE_CONF = ("/usr/share/containers/storage.conf", "/etc/containers/storage.conf")
STORAGE_CONF_DROPINS = ("/usr/share/containers/storage.conf.d", "/etc/containers/storage.conf.d")
# driver -> (directory of layers under the graphroot, path of a layer's rootfs inside its directory)
LAYER_LAYOUTS = (("overlay", "overlay", "diff"), ("vfs", "vfs/dir", ""))
MAX_CONFIG_BYTES = 4 * 1024 * 1024

OK = "ok"
UNREADABLE = "unreadable_by_user"
SUSPICIOUS = "suspicious"
STATUSES = (OK, UNREADABLE, SUSPICIOUS)

# O_NONBLOCK: a FIFO planted under the name must not hang the scan.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)


def display(path):
    """A path that survives JSON: undecodable bytes shown as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _merged_table(root, table, files, dropins):
    """One table of a layered config, later files overriding earlier keys; plus parse errors."""
    merged = {}
    loaded, errors = conf.layered(root, files, dropins)
    for _path, tables in loaded:
        merged.update(tables.get(table, {}))
    return merged, errors


def _text(table, key):
    value = table.get(key)
    return value if isinstance(value, str) and value else None


def _expand_home(path, home, user, uid):
    path = path.replace("$HOME", home).replace("${HOME}", home)
    path = path.replace("$USER", user).replace("${USER}", user).replace("$UID", str(uid)).replace("${UID}", str(uid))
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    return path


def _users(root):
    try:
        with open(conf.rooted(root, "/etc/passwd"), "rb") as handle:
            lines = handle.read().decode("utf-8", "surrogateescape").splitlines()
    except (IOError, OSError):
        return []
    users = []
    for line in lines:
        fields = line.split(":")
        if len(fields) < 7 or not fields[2].isdigit():
            continue
        name, uid, home = fields[0], int(fields[2]), fields[5]
        if uid != 0 and home.startswith("/") and home != "/":
            users.append((name, uid, home))
    return users


def storage_roots(root, extra_roots=()):
    """The container storage graphroots to scan; returns (list of dicts, config errors)."""
    found, errors = [], []

    def add(path, owner, source):
        if path and os.path.isdir(conf.rooted(root, path)):
            found.append({"path": path, "owner": owner, "source": source, "containers": 0})

    override = os.environ.get("CONTAINERS_STORAGE_CONF")
    if override and (not root or root == "/"):
        sources = ((override,), ())  # podman reads only this file then
    else:
        sources = (STORAGE_CONF, STORAGE_CONF_DROPINS)
    storage_conf, errs = _merged_table(root, ("storage",), *sources)
    errors.extend(errs)
    graphroot = _text(storage_conf, "graphroot")
    add(graphroot or DEFAULT_GRAPHROOT, "root", "storage.conf" if graphroot else "default")
    crio_conf, errs = _merged_table(root, ("crio",), conf.CRIO_CONF, conf.CRIO_CONF_DROPINS)
    errors.extend(errs)
    add(_text(crio_conf, "root"), "root", "crio.conf")
    for user, uid, home in _users(root):
        home = home.rstrip("/")
        own_conf, errs = _merged_table(root, ("storage",), (home + "/.config/containers/storage.conf",), ())
        errors.extend(errs)
        chosen = _text(own_conf, "graphroot") or _text(storage_conf, "rootless_storage_path") \
            or home + "/" + ROOTLESS_GRAPHROOT
        add(_expand_home(chosen, home, user, uid), user, "rootless")
    for path in extra_roots:
        add(path, None, "storage_roots")
    unique, seen = [], set()
    for entry in found:
        key = resolve(root, entry["path"])
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique, errors


def _containers_by_layer(graphroot_full, driver, errors):
    path = os.path.join(graphroot_full, "%s-containers" % driver, "containers.json")
    try:
        with open(path, "rb") as handle:
            records = json.loads(handle.read().decode("utf-8", "replace"))
    except (IOError, OSError) as exc:
        if exc.errno != errno.ENOENT:
            errors.append({"path": display(path), "error": exc.strerror or str(exc)})
        return {}, 0
    except ValueError as exc:
        errors.append({"path": display(path), "error": "malformed containers.json: %s" % exc})
        return {}, 0
    if not isinstance(records, list):
        errors.append({"path": display(path), "error": "malformed containers.json: not a list"})
        return {}, 0
    by_layer = {}
    for record in records:
        if isinstance(record, dict) and isinstance(record.get("layer"), str):
            names = record.get("names") if isinstance(record.get("names"), list) else []
            by_layer[record["layer"]] = (record.get("id"), names[0] if names else None)
    return by_layer, len(records)


def _read_process_uid(fd, size):
    if size > MAX_CONFIG_BYTES:
        return None
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    try:
        config = json.loads(b"".join(chunks).decode("utf-8"))
        uid = config["process"]["user"]["uid"]
    except (ValueError, KeyError, TypeError):
        return None
    return uid if isinstance(uid, int) and not isinstance(uid, bool) else None


def inspect_file(path):
    """Describe one .krun_config.json without following it; None when there is none."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    record = {"kind": "other", "mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
              "process_uid": None, "status": SUSPICIOUS}
    if stat.S_ISLNK(st.st_mode):
        record["kind"] = "symlink"
        record["target"] = display(os.readlink(path))
        return record
    if not stat.S_ISREG(st.st_mode):
        return record
    record["kind"] = "file"
    record["status"] = OK if st.st_mode & stat.S_IROTH else UNREADABLE
    fd = _open_regular(path, st)
    if fd is None:
        record["kind"], record["status"] = "other", SUSPICIOUS  # swapped between lstat and open
        return record
    try:
        record["process_uid"] = _read_process_uid(fd, st.st_size)
    finally:
        os.close(fd)
    return record


def _open_regular(path, expected=None):
    """Open path for reading only if it is a regular file and not a symlink; else None."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.ENOENT):
            return None
        raise
    st = os.fstat(fd)
    swapped = expected is not None and (st.st_ino, st.st_dev) != (expected.st_ino, expected.st_dev)
    if swapped or not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return fd


def fix_mode(path, mode, check_mode=False):
    """Make a regular file readable by others by setting ``mode``, through an O_NOFOLLOW descriptor.

    Returns the mode before the change, or None when nothing was (or would be) changed: the file
    is gone, not a regular file, a symlink, or already readable by others.
    """
    fd = _open_regular(path)
    if fd is None:
        return None
    try:
        before = stat.S_IMODE(os.fstat(fd).st_mode)
        if before & stat.S_IROTH:
            return None
        if not check_mode:
            os.fchmod(fd, mode)
        return before
    finally:
        os.close(fd)


def scan_storage_root(root, entry, errors):
    """Yield a record for every .krun_config.json at the top of a layer of one graphroot."""
    graphroot_full = conf.rooted(root, entry["path"])
    for driver, layers_dir, rootfs_subdir in LAYER_LAYOUTS:
        layers_full = os.path.join(graphroot_full, layers_dir)
        if not os.path.isdir(layers_full):
            continue
        containers, count = _containers_by_layer(graphroot_full, driver, errors)
        entry["containers"] = entry.get("containers", 0) + count
        try:
            layer_entries = list(os.scandir(layers_full))
        except OSError as exc:
            errors.append({"path": display(layers_full), "error": exc.strerror or str(exc)})
            continue
        for layer in layer_entries:
            path = os.path.join(layer.path, rootfs_subdir, CONFIG_NAME) if rootfs_subdir else \
                os.path.join(layer.path, CONFIG_NAME)
            try:
                record = inspect_file(path)
            except OSError as exc:
                errors.append({"path": display(path), "error": exc.strerror or str(exc)})
                continue
            if record is None:
                continue
            container_id, container_name = containers.get(layer.name, (None, None))
            record.update({
                "path": display(_unrooted(root, path)),
                "storage_root": display(entry["path"]),
                "storage_owner": entry["owner"],
                "driver": driver,
                "layer": display(layer.name),
                "container_id": container_id,
                "container_name": container_name,
                "changed": False,
            })
            yield record, path


def _unrooted(root, path):
    if not root or root == "/":
        return path
    return "/" + os.path.relpath(path, root)


def scan(root="/", extra_roots=(), fix=False, mode=0o444, check_mode=False):
    """Scan all storage; with ``fix`` set ``mode`` on every regular file others cannot read."""
    roots, config_errors = storage_roots(root, extra_roots)
    errors = [{"path": None, "error": e} for e in config_errors]
    files = []
    for entry in roots:
        for record, full_path in scan_storage_root(root, entry, errors):
            if fix and record["status"] == UNREADABLE:
                try:
                    before = fix_mode(full_path, mode, check_mode)
                except OSError as exc:
                    record["error"] = "could not fix mode: %s" % (exc.strerror or exc)
                    before = None
                if before is not None:
                    record.update({"changed": True, "mode_before": "%04o" % before, "mode": "%04o" % mode,
                                   "status": OK})
            files.append(record)
    counts = dict((status, sum(1 for f in files if f["status"] == status)) for status in STATUSES)
    counts["total"] = len(files)
    counts["changed"] = sum(1 for f in files if f["changed"])
    return {"files": files, "counts": counts, "storage_roots": roots, "errors": errors}
