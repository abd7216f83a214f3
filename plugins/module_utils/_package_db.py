# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The package databases, one adapter each (Dpkg, Rpm): which installed package owns a file, and
its version; and which installed packages are below their fix.

What the package managers on top of them offer and install (apt, dnf, yum, zypper) is _packages;
an audit needs only this module, and a remediation's audit compiles that one only for a package
below its fix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import stat

from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as advisories
from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs

RPM_DB_DIRS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_INFO = "/var/lib/dpkg/info"
# dpkg's status file holds every installed package (a few MB on a large host).
DPKG_STATUS_LIMIT = 256 * 1024 * 1024


class Database(object):
    """One package database and its query client (``tool``: the client's path): who owns a file."""

    name = client = None

    def __init__(self, tool):
        self.tool = tool

    @classmethod
    def here(cls, root):
        """Whether this database is under ``root``."""
        raise NotImplementedError

    def owner(self, root, path, timeout, runner):
        """(name, version) of the installed package that owns host ``path``, or None."""
        raise NotImplementedError


class Dpkg(Database):
    name, client = "dpkg", "dpkg-query"

    @classmethod
    def here(cls, root):
        return hostfs.stat_followed(root, DPKG_STATUS) is not None

    def owner(self, root, path, timeout, runner):
        fast = _dpkg_owner_from_files(root, path)
        if fast:
            return fast
        admindir = root.join(posixpath.dirname(DPKG_STATUS))
        rc, out, _err = runner([self.tool, "--admindir", admindir, "-S", path], timeout)
        if rc != 0:
            return None
        for line in out.splitlines():
            names, sep, owned = line.partition(": ")
            if sep and owned.strip() == path and not line.startswith("diversion"):
                name = names.split(",")[0].strip()
                rc, version, _err = runner([self.tool, "--admindir", admindir, "-W", "-f", "${Version}", name], timeout)
                return (name.split(":")[0], version.strip()) if rc == 0 and version.strip() else None
        return None


class Rpm(Database):
    name, client = "rpm", "rpm"

    @classmethod
    def here(cls, root):
        return any(stat.S_ISDIR(getattr(hostfs.stat_followed(root, d), "st_mode", 0)) for d in RPM_DB_DIRS)

    def owner(self, root, path, timeout, runner):
        rc, out, _err = runner([self.tool, "--root", root.path, "-qf", "--qf",
                                "%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n", path], timeout)
        if rc != 0 or "\t" not in out:
            return None
        name, version = out.splitlines()[0].split("\t", 1)
        if version.startswith("0:"):
            version = version[2:]
        return name, version


DATABASES = (Dpkg, Rpm)


def present(root):
    """The package databases under root that this host has a query client for."""
    found = []
    for cls in DATABASES:
        tool = hostfs.which(cls.client)
        if tool and cls.here(root):
            found.append(cls(tool))
    return found


def owner(root, paths, databases, timeout, runner):
    """Which installed package owns the first of ``paths`` any of ``databases`` knows; or None."""
    for database in databases:
        for path in paths:
            try:
                found = database.owner(root, path, timeout, runner)
            except (hostfs.CommandTimeout, OSError):
                found = None
            if found:
                name, version = found
                return {"manager": database.name, "name": name, "version": version,
                        "upstream_version": advisories.format_version(advisories.parse_version(version))}
    return None


def needs_upgrade(runtimes):
    """Owned packages of crun binaries below the fixed version: {name: installed version}."""
    fixed = advisories.get_advisory(advisories.FILE_MODE_ADVISORY)["fixed"]
    needed = {}
    for runtime in runtimes:
        package = runtime.get("package")
        version = advisories.parse_version(runtime.get("version") or (package or {}).get("version"))
        if package and version is not None and version < fixed:
            needed[package["name"]] = package["version"]
    return needed


def libkrun_needs_upgrade(runtimes):
    """(needed, unowned) for the libkrun the cruns load, where a libkrun advisory is affected.

    ``needed`` maps the package that owns such a libkrun to what it needs: ``installed`` (its
    version), ``minimum`` (the lowest libkrun that fixes every affected advisory, a 3-tuple),
    ``advisories`` and ``path``. ``unowned`` lists the paths of such libkruns that no package owns:
    no package manager can upgrade them. (libkrun-env-escapes, which every crun with the handler
    has, asks for the newest fixed libkrun of the table, so a crun upgraded in the same transaction
    asks for nothing more; the check after the upgrade would say so if that changed.)
    """
    needed, unowned = {}, []
    for runtime in runtimes:
        ids = [v["id"] for v in runtime.get("advisories", [])
               if v["id"] in advisories.LIBKRUN_ADVISORY_IDS and v["status"] == advisories.AFFECTED]
        if not ids:
            continue
        minimum = max(advisories.get_advisory(advisory_id)["fixed_libkrun"] for advisory_id in ids)
        package = runtime.get("libkrun_package")
        if not package:
            if runtime.get("libkrun") not in unowned:
                unowned.append(runtime.get("libkrun"))
            continue
        need = needed.setdefault(package["name"], {"installed": package["version"], "minimum": minimum,
                                                   "advisories": [], "path": runtime.get("libkrun")})
        need["minimum"] = max(need["minimum"], minimum)
        need["advisories"] += [advisory_id for advisory_id in ids if advisory_id not in need["advisories"]]
    return needed, unowned


def libkrun_rows(needed):
    """The ``libkrun`` rows of an answer, one per package libkrun_needs_upgrade found, nothing offered yet."""
    return [{"name": name, "path": need["path"], "installed": need["installed"],
             "minimum": advisories.format_version(need["minimum"]), "advisories": need["advisories"],
             "offered": [], "target_version": None} for name, need in sorted(needed.items())]


def upgrade_needed(runtimes):
    """What an upgrade of the installed packages would have to fix, before any package manager is
    asked: the answer of _packages.offered when nothing is ``needed`` and no ``libkrun`` row is,
    so that only an audit that finds a package below its fix compiles the package managers."""
    libkrun_needed, unowned = libkrun_needs_upgrade(runtimes)
    return {"checked": True, "needed": needs_upgrade(runtimes), "manager": None, "offered": [], "fixed_offered": None,
            "libkrun": libkrun_rows(libkrun_needed), "libkrun_unowned": unowned, "error": None}


def _dpkg_owner_from_files(root, path):
    """Owner of path from the file lists of the installed packages whose names hold crun or krun;
    None if unsure (dpkg-query then decides).

    ``dpkg-query -S`` reads every package's file list (about 0.1 s): at fleet scale that was most of
    an audit's cost on the host. Even listing dpkg's info directory (thousands of names) costs
    an audit 2 ms, so the status file names the packages, and only their lists are opened.
    """
    try:
        status = hostfs.read_followed(root, DPKG_STATUS, DPKG_STATUS_LIMIT) or b""
    except (IOError, OSError):
        return None
    wanted = path.encode()
    for fields in _dpkg_stanzas(status, (b"crun", b"krun")):
        name, version = fields.get("Package"), fields.get("Version")
        if not (name and version and fields.get("Status", "").endswith(" installed")):
            continue
        # dpkg names the files of a Multi-Arch: same package with its architecture (libdpkg's
        # pkg_infodb_get_file, pnaw_same): libc6:amd64.list, but crun.list
        if fields.get("Multi-Arch") == "same" and fields.get("Architecture"):
            list_file = "%s:%s.list" % (name, fields["Architecture"])
        else:
            list_file = name + ".list"
        try:
            owned = wanted in (hostfs.read_followed(root, posixpath.join(DPKG_INFO, list_file),
                                                    DPKG_STATUS_LIMIT) or b"").split(b"\n")
        except (IOError, OSError):
            continue
        if owned:
            return name, version
    return None


def _dpkg_stanzas(status, needles):
    """The fields of each stanza of dpkg's status file whose package name holds one of ``needles``,
    in the file's order: found by searching the bytes, so only those stanzas are decoded. Each line
    and each stanza is looked at once, whatever the file holds (an alternate root's is not root's)."""
    starts = set()
    for needle in needles:
        at = status.find(needle)
        while at >= 0:
            line = status.rfind(b"\n", 0, at) + 1
            if status.startswith(b"Package: ", line):
                starts.add(line)
            next_line = status.find(b"\n", at)
            at = status.find(needle, next_line) if next_line >= 0 else -1
    ordered = sorted(starts) + [len(status)]
    for start, following in zip(ordered, ordered[1:]):
        end = status.find(b"\n\n", start, following)
        stanza = status[start:end if end >= 0 else following].decode("utf-8", "replace")
        yield dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" "))
