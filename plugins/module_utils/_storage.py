# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Find /.krun_config.json in container storage, and fix its mode without following symlinks.

Container storage belongs to someone else: the rootfs to the image's author, a rootless user's
whole tree to that user. The rules of docs/security.md hold here, through _hostfs: every path is
walked without following a symlink in any component, a component owned by neither root nor the
storage's owner is refused, the file itself is looked at through an O_PATH handle (a device or
FIFO under the name is never opened), and only a regular, single-link file owned by the
storage's owner has its mode changed. A rootless user's configuration and storage are read and
changed by a child running as that user. The scan costs one lstat per layer that has no config
file, so it grows with the number of layers, never with the size of any container's filesystem.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import grp
import os
import stat

from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as advisories
from ansible_collections.fleetfix.crun.plugins.module_utils import _conf as conf
from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs

CONFIG_NAME = advisories.CONFIG_NAME
DEFAULT_GRAPHROOT = "/var/lib/containers/storage"
ROOTLESS_GRAPHROOT = ".local/share/containers/storage"
STORAGE_CONF = ("/usr/share/containers/storage.conf", "/etc/containers/storage.conf")
STORAGE_CONF_DROPINS = ("/usr/share/containers/storage.conf.d", "/etc/containers/storage.conf.d")
DEFAULT_RUNROOT = "/run/containers/storage"
# driver -> (directory of layers under a store, path of a layer's rootfs inside its directory), as
# containers/storage's drivers lay them out: overlay <home>/<id>/diff (drivers/overlay), vfs
# <home>/dir/<id> (drivers/vfs), btrfs <home>/subvolumes/<id> (drivers/btrfs Get), aufs
# <home>/diff/<id> (drivers/aufs), where <home> is <store>/<driver>.
LAYER_LAYOUTS = (("overlay", "overlay", "diff"), ("vfs", "vfs/dir", ""), ("btrfs", "btrfs/subvolumes", ""),
                 ("aufs", "aufs/diff", ""))
SCANNED_DRIVERS = tuple(layout[0] for layout in LAYER_LAYOUTS)
# containers/storage keeps each driver's records beside its layers: <store>/<driver>-containers,
# <driver>-images and <driver>-layers (store.go load()); a name of that shape with another driver
# (zfs keeps its layers in datasets mounted only while in use) means layers this scan cannot see.
RECORD_SUFFIXES = ("-layers", "-images", "-containers")
# containers.go newContainerStore: containers created volatile (podman run --rm, Quadlet) are kept
# in volatile-containers.json beside containers.json, or under the runroot with transient_store.
CONTAINER_RECORDS = ("containers.json", "volatile-containers.json")
MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_CONTAINERS_JSON_BYTES = 64 * 1024 * 1024
# Each user's child has this long, whatever the number of users: a FUSE file system she serves
# can stall any lstat below it, and that costs her scan alone (one error), never the host's.
USER_SCAN_SECONDS = 60
# What a scan keeps and returns is bounded whatever a storage holds (docs/security.md,
# Availability): each list is cut at its limit, the counts stay exact, and the result's "listed"
# states the limits and what each left out. Per file in an image layer, IMAGES_LISTED images
# (images_total counts them); per image, NAMES_LISTED names and containers (with their totals).
IMAGES_LISTED = 5
NAMES_LISTED = 5
USER_LISTED = 500  # files one user's child returns (her files for root to mend come first)
HOST_LISTED = 2000  # files one scan returns
HOST_LISTED_ERRORS = 200  # errors, and places not examined, one scan (or one user's child) returns

OK = "ok"
UNREADABLE = "unreadable_by_user"
SUSPICIOUS = "suspicious"
STATUSES = (OK, UNREADABLE, SUSPICIOUS)
# What an owner-only file does (or did, before a fix) to the containers that use it:
ENV_LOST = "env_lost"  # its container runs as a non-root user (or as a user not known): env lost now
IMAGE_LAYER = "image_layer"  # a layer no container owns, i.e. an image's: every non-root container from it
ROOT_ONLY = "root_only"  # its container runs as root, which reads the file: nothing lost; tidied anyway
IMPACTS = (ENV_LOST, IMAGE_LAYER, ROOT_ONLY)
BREAKING_IMPACTS = (ENV_LOST, IMAGE_LAYER)
REFUSED = "refused"  # the count of files left alone, each with its reason: they need a person
REFUSED_BREAKING = "refused_breaking"  # of those, the owner-only ones that break a container

display = hostfs.display


def _merged_tables(root, tables, files, dropins, owners=None):
    """Some tables of a layered config, later files overriding earlier keys: ({table: dict}, errors)."""
    merged = dict((table, {}) for table in tables)
    loaded, errors = conf.layered(root, files, dropins, owners)
    for _path, found in loaded:
        for table in tables:
            section = found.get(table, {})
            if isinstance(section, dict):
                merged[table].update(section)
    return merged, errors


def _merged_table(root, table, files, dropins, owners=None):
    """One table of a layered config, later files overriding earlier keys; plus parse errors."""
    merged, errors = _merged_tables(root, (table,), files, dropins, owners)
    return merged[table], errors


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
    """(name, uid, gid, home) of every non-root account with a home, from the root's /etc/passwd."""
    try:
        data = hostfs.read_file(root, "/etc/passwd", hostfs.CONFIG_LIMIT * 16, owners=(hostfs.ROOT_UID,))
    except OSError:
        return []
    users = []
    for line in (data or b"").decode("utf-8", "surrogateescape").splitlines():
        fields = line.split(":")
        if len(fields) < 7 or not fields[2].isdigit() or not fields[3].isdigit():
            continue
        name, uid, gid, home = fields[0], int(fields[2]), int(fields[3]), fields[5].rstrip("/")
        if uid != 0 and home.startswith("/") and home:
            # the home as the user's own tools reach it: links only root controls are followed
            users.append((name, uid, gid, hostfs.resolve_root_links(root, home)))
    return users


def _groups(root, name, gid):
    if not hostfs.HostRoot.of(root).is_host:
        return [gid]
    try:
        return os.getgrouplist(name, gid)
    except (KeyError, OSError):
        return [gid] + [g.gr_gid for g in grp.getgrall() if name in g.gr_mem]


def _entry(path, owner, source, runroot=None, transient=False, records_from=None):
    """One store to scan. Its containers' records are those of the graphroot ``records_from``
    (itself when None) and, with ``transient`` (transient_store), of ``runroot``."""
    return {"path": path, "owner": owner, "source": source, "containers": 0, "runroot": runroot,
            "transient": transient, "records_from": records_from}


def _paths(value):
    return [item for item in value if isinstance(item, str) and item.startswith("/")] if isinstance(value, list) else []


def stores_of(tables, owner, graphroot_default, runroot_default, source_default, expand=lambda path: path):
    """(store entries, not examined) of one storage.conf, as containers/storage builds its store
    from it (types/options.go ReloadConfigurationFile, store.go load()): the graphroot (with the
    runroot when transient_store keeps container records there), the imagestore, whose images
    and layers live apart from the containers, and every additionalimagestores entry, read-only
    image stores whose layers any container may use. additionallayerstores are served by a
    program (for example a lazy-pulling FUSE file system), not stored: they are named as not
    examined."""
    storage, options = tables.get(("storage",), {}), tables.get(("storage", "options"), {})
    chosen = _text(storage, "graphroot")
    graphroot = expand(chosen or graphroot_default)
    runroot = expand(_text(storage, "runroot") or runroot_default)
    transient = storage.get("transient_store") is True
    entries = [_entry(graphroot, owner, source_default if not chosen else "storage.conf", runroot, transient)]
    imagestore = _text(storage, "imagestore")
    if imagestore and expand(imagestore) != graphroot:
        entries.append(_entry(expand(imagestore), owner, "imagestore", runroot, transient, records_from=graphroot))
    for path in [expand(p) for p in _paths(options.get("additionalimagestores"))]:
        if path not in [e["path"] for e in entries]:
            entries.append(_entry(path, owner, "additionalimagestores", runroot, transient, records_from=graphroot))
    not_examined = [{"path": display(path), "why": "an additional layer store (additionallayerstores) is served by "
                     "a program, not stored: its layers are not examined"}
                    for path in _paths(options.get("additionallayerstores"))]
    return entries, not_examined


def storage_roots(root, extra_roots=()):
    """The stores root's own tools use, and the extra graphroots asked for:
    (list of entries, not examined, config errors, the system rootless_storage_path or None).

    Rootless users' stores come from their own storage.conf, read as each user by scan().
    """
    override = os.environ.get("CONTAINERS_STORAGE_CONF")
    if override and hostfs.HostRoot.of(root).is_host:
        sources = ((override,), ())  # podman reads only this file then
    else:
        sources = (STORAGE_CONF, STORAGE_CONF_DROPINS)
    tables, errors = _merged_tables(root, (("storage",), ("storage", "options")), *sources)
    found, not_examined = stores_of(tables, "root", DEFAULT_GRAPHROOT, DEFAULT_RUNROOT, "default")
    crio_conf, errs = _merged_table(root, ("crio",), conf.CRIO_CONF, conf.CRIO_CONF_DROPINS)
    errors.extend(errs)
    if _text(crio_conf, "root"):
        # CRI-O's own store: its runroot and transient setting come from crio.conf ([crio] runroot)
        found.append(_entry(crio_conf["root"], "root", "crio.conf", _text(crio_conf, "runroot") or DEFAULT_RUNROOT))
    found.extend(_entry(path, None, "storage_roots") for path in extra_roots)
    return found, not_examined, errors, _text(tables[("storage",)], "rootless_storage_path")


def _read_process_uid(data):
    try:
        config = hostfs.load_json(data, "")
        uid = config["process"]["user"]["uid"]
    except (OSError, KeyError, TypeError):
        return None
    return uid if isinstance(uid, int) and not isinstance(uid, bool) else None


def _refusal(st, owners):
    """Why a regular file may not be read or changed here, or None (docs/security.md, Integrity).

    ``owners`` None: rootful storage, root's alone, where only root and image content put files, so
    a file of any uid (an image built as USER 1000 leaves 1000:1000) is changed through its checked
    handle. A file with several links is changed only by a process acting as its own non-root
    owner (a user's child on her own file: the kernel lets it change nothing else); root never
    changes a file that other names may share."""
    acting_as_owner = st.st_uid != hostfs.ROOT_UID and st.st_uid == os.geteuid()
    if st.st_nlink != 1 and not acting_as_owner:
        return "has %d hard links: not read or changed" % st.st_nlink
    if owners is not None and st.st_uid not in owners:
        return "owned by uid %d, not by the storage's owner: not read or changed" % st.st_uid
    return None


class Sweep(object):
    """What a scan does to an owner-only file it finds: nothing (``fix`` false), or give it
    ``mode`` (in ``check_mode``, only say that it would). It travels as one value through the
    scan, into each user's child."""

    __slots__ = ("fix", "mode", "check_mode")

    def __init__(self, fix=False, mode=advisories.FIXED_MODE, check_mode=False):
        self.fix, self.mode, self.check_mode = fix, mode, check_mode

    def __repr__(self):
        return "Sweep(fix=%r, mode=0%o, check_mode=%r)" % (self.fix, self.mode, self.check_mode)


AUDIT = Sweep()


def inspect_at(layer_fd, full, owners, sweep=AUDIT):
    """Describe (and with ``sweep.fix`` mend) the .krun_config.json in one layer directory; None if there is none."""
    try:
        handle, st = hostfs.open_handle(layer_fd, CONFIG_NAME)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    try:
        record = {"kind": "other", "mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                  "process_uid": None, "status": SUSPICIOUS, "changed": False}
        if stat.S_ISLNK(st.st_mode):
            record["kind"] = "symlink"
            record["target"] = display(os.readlink(CONFIG_NAME, dir_fd=layer_fd))
            return record
        if not stat.S_ISREG(st.st_mode):
            return record  # a device, FIFO, socket or directory: never opened
        record["kind"] = "file"
        record["status"] = OK if st.st_mode & stat.S_IROTH else UNREADABLE
        refusal = _refusal(st, owners)
        if refusal:
            record["error"] = refusal
            return record
        try:
            record["process_uid"] = _read_process_uid(hostfs.read_handle(handle, st, MAX_CONFIG_BYTES, full))
        except OSError:
            pass  # too big or changed: the uid stays unknown; the mode says what matters
        if sweep.fix and record["status"] == UNREADABLE:
            if os.geteuid() not in (hostfs.ROOT_UID, st.st_uid):
                record["needs_root"] = True  # a subordinate id's file: the user cannot chmod it
                return record
            record.update({"changed": True, "mode_before": record["mode"], "mode_after": "%04o" % sweep.mode})
            if not sweep.check_mode:  # check mode reports what is, and what the fix would make of it
                hostfs.chmod_handle(handle, sweep.mode)
                record.update({"mode": record["mode_after"], "status": OK})
        return record
    finally:
        os.close(handle)


def _load_store(graphroot_fd, graphroot, subdir, filename, owners, errors):
    """One of containers/storage's JSON lists (containers.json, images.json, layers.json), read
    safely and bounded; None (with an error for anything but absence) when it cannot be had."""
    full = os.path.join(graphroot, subdir, filename)
    try:
        dir_fd = hostfs.open_below(graphroot_fd, subdir, owners, graphroot)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            errors.append({"path": display(full), "error": hostfs.describe(exc)})
        return None
    try:
        handle, st = hostfs.open_handle(dir_fd, filename)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            errors.append({"path": display(full), "error": hostfs.describe(exc)})
        return None
    finally:
        os.close(dir_fd)
    try:
        if stat.S_ISLNK(st.st_mode):
            raise hostfs.UnsafePath(full, "a symlink: refused")
        records = hostfs.load_json(hostfs.read_handle(handle, st, MAX_CONTAINERS_JSON_BYTES, full), full)
    except OSError as exc:
        errors.append({"path": display(full), "error": "%s: %s" % (filename, hostfs.describe(exc))})
        return None
    finally:
        os.close(handle)
    if not isinstance(records, list):
        errors.append({"path": display(full), "error": "malformed %s: not a list" % filename})
        return None
    return [record for record in records if isinstance(record, dict)]


def _text_field(record, key):
    value = record.get(key)
    return value if isinstance(value, str) else None


def _first_name(record):
    names = record.get("names") if isinstance(record.get("names"), list) else []
    return names[0] if names and isinstance(names[0], str) else None


def _load_store_at(root, base, subdir, filename, owners, errors):
    """_load_store for a store directory given by path (a graphroot or a runroot)."""
    try:
        base_fd = hostfs.open_dir(root, base, owners)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            errors.append({"path": display(os.path.join(base, subdir, filename)), "error": hostfs.describe(exc)})
        return None
    try:
        return _load_store(base_fd, base, subdir, filename, owners, errors)
    finally:
        os.close(base_fd)


def _container_records(root, entry, driver, owners, errors):
    """Every container record of the store's graphroot for one driver: containers.json and
    volatile-containers.json, and with transient_store the runroot's volatile-containers.json
    (containers.go newContainerStore)."""
    graphroot = entry.get("records_from") or entry["path"]
    places = [(graphroot, name) for name in CONTAINER_RECORDS]
    if entry.get("transient") and entry.get("runroot"):
        places.append((entry["runroot"], "volatile-containers.json"))
    records = []
    for base, name in places:
        records.extend(_load_store_at(root, base, "%s-containers" % driver, name, owners, errors) or [])
    return records


def _containers_by_layer(records):
    """({layer: (container id, name)}, {image id: [container names]}, number of containers)."""
    by_layer, by_image = {}, {}
    for record in records:
        if isinstance(record.get("layer"), str):
            # escaped only for the layers that have a config
            by_layer[record["layer"]] = (_text_field(record, "id"), _first_name(record))
        if _text_field(record, "image"):
            by_image.setdefault(record["image"], []).append(_first_name(record) or _text_field(record, "id"))
    return by_layer, by_image, len(records)


def _other_drivers(graphroot_fd, graphroot):
    """Not examined: the layers of each driver this scan has no layout for, found by the
    <driver>-layers, -images or -containers directory containers/storage keeps for it."""
    drivers = set()
    for name in os.listdir(graphroot_fd):
        for suffix in RECORD_SUFFIXES:
            if name.endswith(suffix) and name[:-len(suffix)] and name[:-len(suffix)] not in SCANNED_DRIVERS:
                drivers.add(name[:-len(suffix)])
    return [{"path": display(os.path.join(graphroot, driver)),
             "why": "storage driver %s: its layers are not examined (this audit reads %s layers)"
                    % (display(driver), ", ".join(SCANNED_DRIVERS))} for driver in sorted(drivers)]


def _image(record, containers_by_image):
    image_id = _text_field(record, "id")
    names = record.get("names") if isinstance(record.get("names"), list) else []
    names = [n for n in names if isinstance(n, str)]
    containers = [c for c in containers_by_image.get(image_id, []) if c]
    return {"id": image_id and display(image_id), "names": [display(n) for n in names[:NAMES_LISTED]],
            "names_total": len(names), "digest": _text_field(record, "digest") and display(record["digest"]),
            "containers": [display(c) for c in containers[:NAMES_LISTED]], "containers_total": len(containers)}


def _children_first(nodes, parent, above):
    """Every layer reachable from a bottom layer, each after all the layers above it."""
    order = []
    for start in nodes:
        if parent.get(start) in nodes:
            continue  # not a bottom layer
        stack = [(start, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((child, False) for child in above.get(node, ()))
    return order


def _images_by_layer(graphroot_fd, graphroot, driver, owners, errors, containers_by_image):
    """{layer id: (up to IMAGES_LISTED images, how many images)} for every layer of every image
    (its top layer and the parents below it).

    An owner-only config in an image's layer reaches every container started from that image, on
    any host the image goes to: each image is named with its id, names, digest and the containers
    here that use it. The cost is linear in layers and images: each layer takes its images from
    the layers right above it, keeping IMAGES_LISTED, never one entry per pair of a layer and an
    image (a base layer under a thousand images is one count, not a thousand records). A layer in
    a parent loop (a corrupt layers.json) has only the images whose top layer it is.
    """
    images = _load_store(graphroot_fd, graphroot, "%s-images" % driver, "images.json", owners, errors)
    if not images:
        return {}
    layers = _load_store(graphroot_fd, graphroot, "%s-layers" % driver, "layers.json", owners, errors) or []
    parent = dict((_text_field(layer, "id"), _text_field(layer, "parent")) for layer in layers)
    parent.pop(None, None)
    on_top = {}
    for record in images:
        if _text_field(record, "layer"):
            on_top.setdefault(record["layer"], []).append(_image(record, containers_by_image))
    above = {}
    for layer, below in parent.items():
        if below and below != layer:
            above.setdefault(below, []).append(layer)

    def own(layer):
        images = on_top.get(layer, [])
        return images[:IMAGES_LISTED], len(images)

    nodes = set(parent) | set(on_top)
    by_layer = dict((layer, own(layer)) for layer in nodes)  # a layer in a loop keeps this
    for layer in _children_first(nodes, parent, above):
        listed, total = by_layer[layer]
        for child in above.get(layer, ()):
            child_listed, child_total = by_layer[child]
            total += child_total
            listed.extend(child_listed[:IMAGES_LISTED - len(listed)])
        by_layer[layer] = (listed, total)
    return by_layer


def scan_graphroot(root, entry, owner_uid, sweep=AUDIT, subordinate=()):
    """(records, errors, identity, not examined) of one store; identity is None when it does not exist.

    Directories on the way may belong to root, to ``owner_uid`` or to one of its ``subordinate``
    id ranges; a config file is read or changed only when ``owner_uid`` or a subordinate id owns
    it: a root-owned file in a user's storage may have been moved there by that user, and a chmod
    by root would publish it.
    """
    root = hostfs.HostRoot.of(root)
    owners = hostfs.Ids((hostfs.ROOT_UID, owner_uid), subordinate)
    file_owners = None if owner_uid == hostfs.ROOT_UID else hostfs.Ids((owner_uid,), subordinate)
    records, errors, not_examined = [], [], []
    try:
        graphroot_fd = hostfs.open_dir(root, entry["path"], owners)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            errors.append({"path": display(entry["path"]), "error": hostfs.describe(exc)})
        return records, errors, None, not_examined
    try:
        st = os.fstat(graphroot_fd)
        identity = [st.st_dev, st.st_ino]
        not_examined.extend(_other_drivers(graphroot_fd, entry["path"]))
        for driver, layers_dir, rootfs_subdir in LAYER_LAYOUTS:
            try:
                layers_fd = hostfs.open_below(graphroot_fd, layers_dir, owners, entry["path"])
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    errors.append({"path": display(os.path.join(entry["path"], layers_dir)),
                                   "error": hostfs.describe(exc)})
                continue
            try:
                containers, by_image, count = _containers_by_layer(
                    _container_records(root, entry, driver, owners, errors))
                images = None  # images.json and layers.json are read only when a layer needs them
                entry["containers"] = entry.get("containers", 0) + count
                suffix = "/%s/%s" % (rootfs_subdir, CONFIG_NAME) if rootfs_subdir else "/" + CONFIG_NAME
                for layer in sorted(os.listdir(layers_fd)):
                    relative = layer + suffix
                    host_path = os.path.join(entry["path"], layers_dir, relative)
                    try:
                        # The common case, no file: one lstat. Only a name that exists is walked
                        # safely. Whatever goes wrong in one layer is that layer's error alone.
                        if hostfs.lstat_at(layers_fd, relative) is None:
                            continue
                        record = _inspect_layer(layers_fd, layer, rootfs_subdir, root.join(host_path), owners,
                                                file_owners, sweep)
                    except OSError as exc:
                        errors.append({"path": display(host_path), "error": hostfs.describe(exc)})
                        continue
                    if record is None:
                        continue
                    if record.pop("needs_root", False):
                        record["fix_as_root"] = [layers_dir, layer, rootfs_subdir]
                    container_id, container_name = containers.get(layer, (None, None))
                    record["impact"] = impact(record, container_id)
                    if container_id is None:
                        if images is None:
                            images = _images_by_layer(graphroot_fd, entry["path"], driver, owners, errors, by_image)
                        record["images"], record["images_total"] = images.get(layer, ([], 0))
                    record.update({
                        "path": display(host_path),
                        "storage_root": display(entry["path"]),
                        "storage_owner": entry["owner"] and display(entry["owner"]),
                        "driver": driver,
                        "layer": display(layer),
                        "container_id": container_id and display(container_id),
                        "container_name": container_name and display(container_name),
                    })
                    records.append(record)
            finally:
                os.close(layers_fd)
    finally:
        os.close(graphroot_fd)
    return records, errors, identity, not_examined


def impact(record, container_id):
    """One of IMPACTS for a file that is (or was, before this run fixed it) owner-only; else None."""
    if record["status"] != UNREADABLE and not record.get("mode_before"):
        return None
    if container_id is None:
        return IMAGE_LAYER
    return ROOT_ONLY if record.get("process_uid") == 0 else ENV_LOST


def _inspect_layer(layers_fd, layer, rootfs_subdir, full, owners, file_owners, sweep):
    layer_fd = hostfs.open_below(layers_fd, os.path.join(layer, rootfs_subdir), owners, full)
    try:
        return inspect_at(layer_fd, full, file_owners, sweep)
    finally:
        os.close(layer_fd)


def user_stores(root, name, uid, home, rootless_storage_path):
    """(store entries, not examined, errors) of one rootless user, as containers/storage decides
    them (types/options.go loadStoreOptionsFromConfFile, getRootlessStorageOpts): with a
    storage.conf of her own, everything comes from it (graphroot, else its rootless_storage_path,
    else the default; its runroot, transient_store, imagestore and additional stores); without
    one, the system's rootless_storage_path or the default graphroot, and nothing else of the
    system's file. Read as the user (the caller's business)."""
    def expand(path):
        return _expand_home(path, home, name, uid)

    runroot = "/run/user/%d/containers" % uid  # $XDG_RUNTIME_DIR/containers
    default = home + "/" + ROOTLESS_GRAPHROOT
    tables, errors = _merged_tables(root, (("storage",), ("storage", "options")),
                                    (home + "/.config/containers/storage.conf",), (), (hostfs.ROOT_UID, uid))
    if tables[("storage",)] or tables[("storage", "options")]:
        own_default = _text(tables[("storage",)], "rootless_storage_path") or default
        entries, not_examined = stores_of(tables, name, own_default, runroot, "rootless", expand)
    else:
        entries, not_examined = [_entry(expand(rootless_storage_path or default), name, "rootless", runroot)], []
    return entries, not_examined, errors


def scan_user(root_path, user, graphroot, rootless_storage_path, sweep, subordinate=()):
    """One rootless ``user``'s (name, uid, gid, home) stores, run as that user: the ``graphroot``
    asked for, else those of user_stores(). A stale file owned by one of the user's
    ``subordinate`` ids is marked ``fix_as_root``."""
    name, uid, dummy, home = user
    root = hostfs.HostRoot(root_path)
    if graphroot:
        entries, not_examined, conf_errors = [_entry(graphroot, name, "storage_roots")], [], []
    else:
        entries, not_examined, conf_errors = user_stores(root, name, uid, home, rootless_storage_path)
    result = {"stores": [_store(entry, *scan_graphroot(root, entry, uid, sweep, subordinate))
                         for entry in entries],
              "not_examined": not_examined, "errors": [{"path": None, "error": e} for e in conf_errors]}
    return bounded(result, USER_LISTED)


def _store(entry, records, errors, identity, not_examined):
    return {"entry": entry, "files": records, "counts": tally(records), "errors": errors, "identity": identity,
            "not_examined": not_examined}


def tally(files):
    """scan()'s counts of some files: by status, by impact of those still owner-only, and how many
    there are, changed, left alone (``refused``) and left alone while they break a container."""
    counts = dict((key, 0) for key in STATUSES + IMPACTS + ("total", "changed", REFUSED, REFUSED_BREAKING))
    for record in files:
        counts["total"] += 1
        counts[record["status"]] += 1
        counts["changed"] += bool(record["changed"])
        breaking = record["status"] == UNREADABLE and record.get("impact") in BREAKING_IMPACTS
        if record["status"] == UNREADABLE and record.get("impact") in IMPACTS:
            counts[record["impact"]] += 1
        if record.get("error"):
            counts[REFUSED] += 1
            counts[REFUSED_BREAKING] += breaking
    return counts


def _add(counts, more, sign=1):
    for key, value in more.items():
        counts[key] = counts.get(key, 0) + sign * value


def _listing_order(record):
    """Files that still need root come first, then what changed (the containers to restart), then
    what breaks a container, then the rest: a cut listing keeps what someone acts on."""
    if record.get("fix_as_root"):
        return 0
    if record["changed"]:
        return 1
    if record["status"] == UNREADABLE:
        return 2 if record.get("impact") in BREAKING_IMPACTS else 3
    return 4 if record["status"] == SUSPICIOUS else 5


def bounded(result, files_limit, omitted=None):
    """Cut a scan result's files to ``files_limit`` and its errors and places not examined to
    HOST_LISTED_ERRORS; each store's counts stay those of all its files, and ``omitted`` (added to
    any earlier) says how many of each were left out."""
    omitted = dict(omitted or {"files": 0, "errors": 0, "not_examined": 0})
    ranked = sorted(((_listing_order(r), n, i) for n, store in enumerate(result["stores"])
                     for i, r in enumerate(store["files"])))
    keep = set((n, i) for _order, n, i in ranked[:files_limit])
    omitted["files"] += max(0, len(ranked) - files_limit)
    for kind in ("errors", "not_examined"):
        room = HOST_LISTED_ERRORS
        for holder in [result] + result["stores"]:
            omitted[kind] += max(0, len(holder[kind]) - room)
            holder[kind] = holder[kind][:room]
            room -= len(holder[kind])
    for n, store in enumerate(result["stores"]):
        store["files"] = [r for i, r in enumerate(store["files"]) if (n, i) in keep]
    result["omitted"] = omitted
    return result


def _nothing_to_scan(root, home):
    """True when root can tell, reading only what root alone controls, that an account has no
    rootless storage under its home: the home is missing, or it is a directory that only root can
    write (as is every directory on the way) and holds neither .local nor .config. Accounts such
    as daemon, bin or www-data then cost no child process; anything else is left to the child."""
    try:
        fd = hostfs.open_dir(root, home, owners=(hostfs.ROOT_UID,))
    except OSError as exc:
        return exc.errno == errno.ENOENT  # a refusal (UnsafePath) is EPERM, ELOOP or ENOTDIR
    try:
        if os.fstat(fd).st_mode & 0o022:
            return False
        return all(hostfs.lstat_at(fd, name) is None for name in (".local", ".config"))
    except OSError:
        return False
    finally:
        os.close(fd)


def _scan_as(root, user, graphroot, rootless_storage_path, sweep, as_user, subordinate):
    name, uid, gid, home = user
    nothing = {"stores": [], "not_examined": [], "errors": [], "omitted": {}}
    if graphroot is None and rootless_storage_path is None and _nothing_to_scan(root, home):
        return nothing
    args = (root.path, tuple(user), graphroot, rootless_storage_path, sweep)
    if os.geteuid() != 0:  # no privilege to drop: the kernel already judges every access as ours
        return scan_user(*args)
    ranges = subordinate.get(name, []) + subordinate.get(str(uid), [])
    try:
        result = as_user(uid, gid, _groups(root, name, gid), scan_user, args + (ranges,), USER_SCAN_SECONDS)
    except hostfs.ChildFailed as exc:
        return dict(nothing, errors=[{"path": display(graphroot or home),
                                      "error": "scanning the storage of %s as that user failed: %s"
                                               % (display(name), display(str(exc)))}])
    for store in result["stores"]:
        for record in store["files"]:
            location = record.pop("fix_as_root", None)
            if location:
                _add(store["counts"], tally([record]), -1)
                _fix_as_root(root, store["entry"]["path"], location, uid, ranges, record, sweep)
                _add(store["counts"], tally([record]))
    return result


def _fix_as_root(root, graphroot, location, uid, ranges, record, sweep):
    """Mend one stale file of a user's subordinate id, which the user's child could not chmod.

    Root walks the same safe way (no symlink in any component; directories of root, the user or
    their subordinate ids) and changes only a regular single-link file owned by a subordinate id:
    its content is the user's own (``podman unshare`` reads it), so publishing it leaks nothing
    the user could not read.
    """
    layers_dir, layer, rootfs_subdir = location
    owners = hostfs.Ids((hostfs.ROOT_UID, uid), ranges)
    full = root.join(os.path.join(graphroot, layers_dir, layer, rootfs_subdir, CONFIG_NAME))
    try:
        graphroot_fd = hostfs.open_dir(root, graphroot, owners)
        try:
            layers_fd = hostfs.open_below(graphroot_fd, layers_dir, owners, graphroot)
            try:
                fixed = _inspect_layer(layers_fd, layer, rootfs_subdir, full, owners, hostfs.Ids((), ranges), sweep)
            finally:
                os.close(layers_fd)
        finally:
            os.close(graphroot_fd)
    except OSError as exc:
        record["error"] = hostfs.describe(exc)
        return
    if fixed is None:
        record["error"] = "gone before root could change it"
        return
    for key in ("kind", "mode", "mode_before", "mode_after", "uid", "status", "changed", "error", "process_uid"):
        if key in fixed:
            record[key] = fixed[key]


def subordinate_ids(root):
    """{user name or uid: [(start, count)]} from the root's /etc/subuid (root-owned, read safely)."""
    try:
        data = hostfs.read_file(root, "/etc/subuid", hostfs.CONFIG_LIMIT, owners=(hostfs.ROOT_UID,))
    except OSError:
        return {}
    ranges = {}
    for line in (data or b"").decode("utf-8", "surrogateescape").splitlines():
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
            ranges.setdefault(fields[0], []).append((int(fields[1]), int(fields[2])))
    return ranges


def _owner_of(root, path, users):
    """The user owning an extra storage root, (name, uid, gid, home), or None when root owns it."""
    try:
        st = os.lstat(root.join(path))
    except OSError:
        return None
    if st.st_uid == 0:
        return None
    for user in users:
        if user[1] == st.st_uid:
            return user
    return ("uid %d" % st.st_uid, st.st_uid, st.st_gid, "/")


def _public(entry):
    """A store as the result shows it: every path escaped and bounded (a user's storage.conf chose it)."""
    return {"path": display(entry["path"]), "owner": entry["owner"] and display(entry["owner"]),
            "source": entry["source"], "containers": entry["containers"],
            "runroot": entry["runroot"] and display(entry["runroot"]), "transient": entry["transient"],
            "records_from": entry["records_from"] and display(entry["records_from"])}


def scan(root="/", extra_roots=(), fix=False, mode=advisories.FIXED_MODE, check_mode=False, as_user=hostfs.run_as_user):
    """Scan all storage; with ``fix`` set ``mode`` on every regular file others cannot read.

    ``not_examined`` names every place the host's tools use that this scan could not look at
    (a store's other driver, an additional layer store); with ``errors`` it is what a verdict
    must admit it did not see. ``counts`` cover every file found; ``files``, ``errors`` and
    ``not_examined`` are cut at their limits, stated with what was left out in ``listed``."""
    root = hostfs.HostRoot.of(root)
    sweep = Sweep(fix, mode, check_mode)
    system, not_examined, config_errors, rootless_storage_path = storage_roots(root, extra_roots)
    users = _users(root)
    subordinate = subordinate_ids(root) if users else {}
    whole = {"stores": [], "errors": [{"path": None, "error": e} for e in config_errors],
             "not_examined": not_examined}
    counts, omitted, seen = tally(()), {"files": 0, "errors": 0, "not_examined": 0}, set()

    def take(result):
        whole["errors"].extend(result["errors"])
        whole["not_examined"].extend(result["not_examined"])
        _add(omitted, result.get("omitted", {}))
        for store in result["stores"]:
            whole["errors"].extend(store["errors"])
            whole["not_examined"].extend(store["not_examined"])
            if store["identity"] is None or tuple(store["identity"]) in seen:
                continue
            seen.add(tuple(store["identity"]))
            _add(counts, store["counts"])
            whole["stores"].append(dict(store, errors=[], not_examined=[]))

    for entry in system:
        owner = _owner_of(root, entry["path"], users) if entry["source"] == "storage_roots" else None
        if owner is None:
            store = _store(entry, *scan_graphroot(root, entry, hostfs.ROOT_UID, sweep))
            take({"stores": [store], "not_examined": [], "errors": []})
        else:
            take(_scan_as(root, owner, entry["path"], None, sweep, as_user, subordinate))
    for user in users:
        take(_scan_as(root, user, None, rootless_storage_path, sweep, as_user, subordinate))
    whole = bounded(whole, HOST_LISTED, omitted)
    return {"files": [f for store in whole["stores"] for f in store["files"]], "counts": counts,
            "storage_roots": [_public(store["entry"]) for store in whole["stores"]], "errors": whole["errors"],
            "not_examined": whole["not_examined"],
            "listed": {"limits": {"user_files": USER_LISTED, "files": HOST_LISTED, "errors": HOST_LISTED_ERRORS,
                                  "not_examined": HOST_LISTED_ERRORS}, "omitted": whole["omitted"]}}
