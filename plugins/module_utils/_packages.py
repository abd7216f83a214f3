# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ask the host's package manager for a fixed crun, and install it.

One adapter per package manager (Apt, Dnf, Yum, Zypper): the versions the configured repositories
offer, and the commands that refresh the cache, install a package, a pinned version or a package
file, and go back to a version. Who owns a file, and its installed version, is the package
database's (_package_db: Dpkg, Rpm), which an audit reads without compiling this module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import stat
import tempfile

from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as advisories
from ansible_collections.fleetfix.crun.plugins.module_utils import _crun
from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs
from ansible_collections.fleetfix.crun.plugins.module_utils import _package_db as package_db

# Asking for the versions offered parses every package list when apt keeps no binary cache (about
# 1 s of CPU per host); on a busy host that takes far longer than a crun --version may.
OFFERED_TIMEOUT = 60
_LOCK_PATTERNS = (
    re.compile(r"Could not get lock|Unable to acquire the dpkg frontend lock|dpkg was interrupted"),
    re.compile(r"Waiting for process with pid|another copy is running|Existing lock", re.I),
    re.compile(r"System management is locked", re.I),
    re.compile(r"already locked by", re.I),  # dnf with exit_on_lock
    re.compile(r"can't create transaction lock", re.I),  # rpm's own lock, held by any rpm client
)
# dnf and yum wait for another instance's lock for ever unless told not to.
_DNF_NO_WAIT = "--setopt=exit_on_lock=True"
# zypper ends a failure with this; the reason is on an earlier line.
_GENERIC_LINES = ("Please see the above error message for a hint.",)
_REASON_LINE = re.compile(r"error|fail|problem|lock|not found|signature|refused|abort|denied|nothing provides", re.I)


class PackageError(Exception):
    pass


class Manager(object):
    """One package manager on the host (``tool``: the path of its binary): the versions its
    repositories offer, and the commands that refresh its cache, install and go back to a version.
    ``database`` is the package database it works on (_package_db)."""

    name = binary = database = None
    separator = "="
    # exit codes of a refresh that found nothing to refresh
    nothing_to_refresh = ()

    def __init__(self, tool):
        self.tool = tool

    def available_versions(self, name, timeout, runner):
        """Every version of ``name`` that the package manager would install (newest first where
        known). Only binary packages for this host's architecture (or architecture-independent
        ones) count: a source package, another architecture's build or a version pinned away is
        offered by no repository in the sense that matters here."""
        raise NotImplementedError

    def update_argv(self):
        raise NotImplementedError

    def update_cache(self, timeout, runner):
        rc, out, err = runner(self.update_argv(), timeout)
        if rc in self.nothing_to_refresh:
            return
        _check(rc, out + "\n" + err, "refreshing the %s package cache" % self.name)

    def file_version_argv(self, path):
        return ["rpm", "-qp", "--qf", "%{VERSION}-%{RELEASE}", path]

    def package_file_version(self, path, timeout, runner):
        """The version inside an offline package file."""
        rc, out, err = runner(self.file_version_argv(path), timeout)
        _check(rc, err, "reading the version of %s" % path)
        return out.strip()

    def targets(self, packages, package_file=None):
        """What one transaction installs: ``packages`` is a list of (name, version or None for the
        newest), ``package_file`` a package file to install with them."""
        targets = [package_file if package_file.startswith("/") else "./" + package_file] if package_file else []
        return targets + ["%s%s%s" % (name, self.separator, version) if version else name
                          for name, version in packages]

    def install_argv(self, packages, package_file=None):
        raise NotImplementedError

    def install(self, packages, package_file, timeout, runner):
        rc, out, err = runner(self.install_argv(packages, package_file), timeout)
        what = ([package_file] if package_file else []) + ["%s %s" % (n, v) if v else n for n, v in packages]
        _check(rc, out + "\n" + err, "installing %s" % ", ".join(what))

    def downgrade_argv(self, name, version):
        """The command that installs exactly ``version`` of ``name``, older than what is installed."""
        raise NotImplementedError


class Apt(Manager):
    name, binary, database = "apt", "apt-get", "dpkg"

    def available_versions(self, name, timeout, runner):
        rc, out, err = runner([os.path.join(os.path.dirname(self.tool), "apt-cache"), "policy", name], timeout)
        _check(rc, err, "apt-cache policy %s" % name)
        return apt_policy_versions(out)

    def update_argv(self):
        return [self.tool, "update", "-q"]

    def file_version_argv(self, path):
        return ["dpkg-deb", "--field", path, "Version"]

    def install_argv(self, packages, package_file=None):
        return [self.tool, "install", "-y", "-q", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold"] \
            + self.targets(packages, package_file)

    def downgrade_argv(self, name, version):
        return [self.tool, "install", "-y", "-q", "--allow-downgrades", "--no-install-recommends",
                "-o", "Dpkg::Options::=--force-confold", "%s=%s" % (name, version)]


class Dnf(Manager):
    name, binary, database = "dnf", "dnf", "rpm"
    separator = "-"

    def available_versions(self, name, timeout, runner):
        rc, out, err = runner([self.tool, "-q", _DNF_NO_WAIT, "repoquery", "--available", "--qf",
                               "%{version}-%{release} %{arch}\n", name], timeout)
        _check(rc, err, "%s repoquery %s" % (self.name, name))
        return _for_this_arch(line.split() for line in out.splitlines())

    def update_argv(self):
        return [self.tool, "-q", _DNF_NO_WAIT, "makecache"]

    def install_argv(self, packages, package_file=None):
        return [self.tool, _DNF_NO_WAIT, "install", "-y"] + self.targets(packages, package_file)

    def downgrade_argv(self, name, version):
        return [self.tool, _DNF_NO_WAIT, "-y", "downgrade", "%s-%s" % (name, version)]


class Yum(Dnf):
    name, binary = "yum", "yum"


class Zypper(Manager):
    name, binary, database = "zypper", "zypper", "rpm"
    nothing_to_refresh = (6,)  # no repository enabled: nothing to refresh, nothing offered

    def available_versions(self, name, timeout, runner):
        rc, out, err = runner([self.tool, "--non-interactive", "--no-refresh", "search", "--details", "--match-exact",
                               "--type", "package", name], timeout)
        if rc in (6, 104):  # zypper: no repository enabled, or nothing found
            return []
        _check(rc, out + "\n" + err, "zypper search %s" % name)
        rows = []
        for line in out.splitlines():
            cells = [c.strip() for c in line.split("|")]
            # S | Name | Type | Version | Arch | Repository; the installed package's own row names no
            # repository but "(System Packages)": it is not something a repository offers.
            if len(cells) >= 6 and cells[1] == name and cells[2] == "package" and cells[5] != "(System Packages)":
                rows.append((cells[3], cells[4]))
        return _for_this_arch(rows)

    def update_argv(self):
        return [self.tool, "--non-interactive", "refresh"]

    def install_argv(self, packages, package_file=None):
        # a package file is the operator's own choice: zypper would refuse it unless signed
        return [self.tool, "--non-interactive", "install", "--oldpackage"] \
            + (["--allow-unsigned-rpm"] if package_file else []) + self.targets(packages, package_file)

    def downgrade_argv(self, name, version):
        return [self.tool, "--non-interactive", "install", "--oldpackage", "%s=%s" % (name, version)]


MANAGERS = (Apt, Dnf, Yum, Zypper)


def find_manager(database=None):
    """The first package manager present (for the given package database, if known), or None."""
    for cls in MANAGERS:
        if database in (None, cls.database):
            path = hostfs.which(cls.binary)
            if path:
                return cls(path)
    return None


# apt-cache policy's version table: " *** VERSION PRIORITY" or "     VERSION PRIORITY" for each
# version, then one line per origin indented further: "        PRIORITY ORIGIN".
_APT_VERSION_LINE = re.compile(r"^ (?:\*\*\*|   ) (\S+) (-?\d+)$")
_APT_ORIGIN_LINE = re.compile(r"^ {6,}-?\d+ (.+)$")


def apt_policy_versions(policy):
    """The versions apt would install, from ``apt-cache policy NAME`` (run under the C locale).

    A version counts when its pin priority is not negative and a repository (not only the dpkg
    status file, i.e. the installed copy) carries it. apt-cache policy lists binary packages of
    the native architecture and ``all`` only: deb-src entries and foreign architectures never
    appear in it, unlike in ``apt-cache madison``.
    """
    versions, current = [], None
    for line in policy.splitlines():
        version = _APT_VERSION_LINE.match(line)
        if version:
            current = version.group(1) if int(version.group(2)) >= 0 else None
            continue
        origin = _APT_ORIGIN_LINE.match(line)
        if origin and current and origin.group(1).strip() != package_db.DPKG_STATUS:
            versions.append(current)
            current = None
    return versions


# rpm's name for what ``uname -m`` reports, where the two differ.
_RPM_ARCH = {"armv7l": "armv7hl"}


def _for_this_arch(rows, machine=None):
    """Versions of (version, arch) rows built for this host's architecture or for none (noarch)."""
    machine = machine or os.uname()[4]
    wanted = {_RPM_ARCH.get(machine, machine), "noarch"}
    versions = []
    for row in rows:
        row = list(row)
        if len(row) == 2 and re.match(r"^\d", row[0]) and row[1] in wanted and row[0] not in versions:
            versions.append(row[0])
    return versions


MAX_PACKAGE_FILE_BYTES = 512 * 1024 * 1024


def pinned_copy(path):
    """(copy, directory to remove): the package file at ``path`` opened once, checked to be a regular
    file, and copied into a directory only root can reach. The version is read from the copy and
    the copy is installed, so a file swapped at ``path`` in between (a directory others can write)
    is never what gets installed."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PackageError("the package file %s is not a regular file" % path)
        if st.st_size > MAX_PACKAGE_FILE_BYTES:
            raise PackageError("the package file %s is larger than %d bytes" % (path, MAX_PACKAGE_FILE_BYTES))
        directory = tempfile.mkdtemp(prefix="fleetfix-package-")  # mode 0700, root's
        copy = os.path.join(directory, os.path.basename(path))
        with open(copy, "xb") as out:
            copied = 0
            while copied <= MAX_PACKAGE_FILE_BYTES:
                chunk = os.read(fd, 1024 * 1024)
                if not chunk:
                    break
                out.write(chunk)
                copied += len(chunk)
        if copied > MAX_PACKAGE_FILE_BYTES:
            shutil.rmtree(directory, ignore_errors=True)
            raise PackageError("the package file %s grew past %d bytes" % (path, MAX_PACKAGE_FILE_BYTES))
        return copy, directory
    finally:
        os.close(fd)


def _check(rc, output, what):
    """Raise PackageError for a failed command; ``output`` is all it printed (zypper reports on
    stdout, dnf and apt on stderr). The reason given is its last line that names one."""
    if rc == 0:
        return
    lines = [line.strip() for line in (output or "").splitlines() if line.strip() and line.strip() not in _GENERIC_LINES]
    reasons = [line for line in lines if _REASON_LINE.search(line)]
    detail = (reasons or lines or ["exit code %d" % rc])[-1]
    if any(pattern.search(output or "") for pattern in _LOCK_PATTERNS):
        raise PackageError("the package manager is locked by another process, nothing was changed (%s): %s"
                           % (what, detail))
    raise PackageError("%s failed: %s" % (what, detail))


def best_fixed(versions, pinned=None):
    """The version to install: the pinned one if offered and fixed, else the newest fixed one; or None."""
    fixed = advisories.get_advisory(advisories.FILE_MODE_ADVISORY)["fixed"]
    candidates = [pinned] if pinned else versions
    if pinned and pinned not in versions:
        return None
    good = [v for v in candidates if (advisories.parse_version(v) or (0, 0, 0)) >= fixed]
    return max(good, key=advisories.parse_version) if good else None


def best_libkrun(versions, minimum):
    """The libkrun to install: the newest offered at or above ``minimum`` that the advisory table
    knows (a newer one is judged unknown, and the point is a host that reads fixed); the newest
    above it only when no known one is offered; or None."""
    fixed = [v for v in versions if (advisories.parse_version(v) or (0, 0, 0)) >= minimum]
    known = [v for v in fixed if advisories.parse_version(v) <= advisories.NEWEST_KNOWN_LIBKRUN]
    return max(known or fixed, key=advisories.parse_version) if fixed else None


def libkrun_reason(rows, unowned, source="the configured repositories offer"):
    """What a libkrun upgrade does or cannot do, in words: ``rows`` as in the ``libkrun`` result."""
    parts = []
    for row in rows:
        if row["target_version"]:
            parts.append("%s %s -> %s (fixes %s)" % (row["name"], row["installed"], row["target_version"],
                                                     ", ".join(row["advisories"])))
        else:
            offered = "%s %s" % (row["name"], ", ".join(row["offered"])) if row["offered"] else "no " + row["name"]
            parts.append("upgrade libkrun: no fixed version offered (%s %s; %s or newer fixes %s)"
                         % (source, offered, row["minimum"], ", ".join(row["advisories"])))
    parts += ["upgrade libkrun: %s belongs to no package, so no package manager can (upgrade it by hand)" % path
              for path in unowned]
    return "; ".join(parts) or "no libkrun advisory is affected"


def manager_for(runtimes):
    """The adapter of the package manager for the database that owns the cruns; PackageError when there is none."""
    database = next((r["package"]["manager"] for r in runtimes if r.get("package")), None)
    database = database or next((r["libkrun_package"]["manager"] for r in runtimes if r.get("libkrun_package")), None)
    manager = find_manager(database)
    if manager is None:
        raise PackageError("no supported package manager (%s) was found" % ", ".join(cls.name for cls in MANAGERS))
    return manager


def offered(runtimes, runner, timeout=OFFERED_TIMEOUT):
    """What the package manager's cache offers for the crun and libkrun packages that need an
    upgrade, read-only.

    ``fixed_offered`` is the newest fixed crun offered (None when none is); ``libkrun`` lists the
    libkrun packages an affected libkrun advisory asks to upgrade, each with ``fixed_offered``.
    ``checked`` is False when the package manager could not be asked, so callers must not rely on
    the answer.
    """
    answer = package_db.upgrade_needed(runtimes)
    needed, libkrun = answer["needed"], answer["libkrun"]
    if not needed and not libkrun:
        return answer
    libkrun_needed = package_db.libkrun_needs_upgrade(runtimes)[0]
    try:
        manager = manager_for(runtimes)
    except PackageError as exc:
        return dict(answer, checked=False, error=str(exc))
    try:
        versions = manager.available_versions(sorted(needed)[0], timeout, runner) if needed else []
        for row in libkrun:
            del row["target_version"]  # nothing is installed here: what would be is fixed_offered
            row["offered"] = manager.available_versions(row["name"], timeout, runner)
            row["fixed_offered"] = best_libkrun(row["offered"], libkrun_needed[row["name"]]["minimum"])
    except (PackageError, hostfs.CommandTimeout, OSError) as exc:
        return dict(answer, checked=False, manager=manager.name, error="%s: %s" % (manager.name, exc))
    return dict(answer, manager=manager.name, offered=versions, fixed_offered=best_fixed(versions) if needed else None)


def upgrade(runner, names=(), version=None, package_file=None, update=True, check_mode=False, timeout=300,
            crun_info=_crun.crun_info, libkrun=True):
    """Bring crun to at least the fixed version, and (with ``libkrun``) the libkrun it loads to the
    version its affected libkrun advisories ask for, with the host's package manager, in one
    transaction.

    Returns a result dict; raises PackageError when the package manager fails or is locked.
    ``upgrade_available`` is False (and crun is not changed) when the repositories offer no fixed
    crun, so the caller can fall back to the hook; ``libkrun.available`` is False when a libkrun
    needs an upgrade that nothing offers (no hook helps there: a person must act). A package file
    is crun's; the libkrun then comes from the package lists on the host, which are not refreshed.
    """
    before = crun_info(runner, timeout=min(timeout, 10))
    needed = package_db.needs_upgrade(before["runtimes"])
    fixed = advisories.fixed_version()
    result = {"changed": False, "upgrade_needed": bool(needed), "upgrade_available": True, "fixed_version": fixed,
              "installed_before": needed, "target_version": None, "manager": None, "reason": None,
              "runtimes": before["runtimes"]}
    if not needed:
        result["reason"] = "every crun package is at or above %s" % fixed
    libkrun_needed, unowned = package_db.libkrun_needs_upgrade(before["runtimes"]) if libkrun else ({}, [])
    if not needed and not libkrun_needed:
        result["libkrun"] = _libkrun_result(libkrun, [], unowned)
        return result
    names = list(names) or sorted(needed)
    manager = manager_for(before["runtimes"])
    result["manager"] = manager.name
    pinned, copy, install_file, packages, target, crun_offered = None, None, None, [], None, []
    try:
        if update and not check_mode and not package_file:
            manager.update_cache(timeout, runner)
        if needed and package_file:
            try:
                copy, pinned = pinned_copy(package_file)
            except (IOError, OSError) as exc:
                raise PackageError("cannot read the package file %s: %s" % (package_file, hostfs.describe(exc)))
            crun_offered = [manager.package_file_version(copy, timeout, runner)]
            target = best_fixed(crun_offered)
        elif needed:
            crun_offered = manager.available_versions(names[0], timeout, runner)
            target = best_fixed(crun_offered, version)
        if needed and target is None:
            result["upgrade_available"] = False
            source = "%s holds" % package_file if package_file else "the configured repositories offer"
            result["reason"] = "%s %s %s; none is %s or newer%s" % (
                source, names[0], ", ".join(crun_offered) or "in no version", fixed,
                " (pinned: %s)" % version if version else "")
        elif needed:
            result.update(target_version=target,
                          reason="%s %s -> %s" % (", ".join(names), ", ".join(needed.values()) or "?", target))
            # the same bytes that were inspected: the pinned copy, never the path again
            install_file = copy if package_file else None
            packages += [] if package_file else [(name, target) for name in names]
        rows = package_db.libkrun_rows(libkrun_needed)
        for row in rows:
            row["offered"] = manager.available_versions(row["name"], timeout, runner)
            row["target_version"] = best_libkrun(row["offered"], libkrun_needed[row["name"]]["minimum"])
            packages += [(row["name"], row["target_version"])] if row["target_version"] else []
        result["libkrun"] = _libkrun_result(libkrun, rows, unowned, "the package lists on the host offer"
                                            if package_file or not update else "the configured repositories offer")
        result["changed"] = bool(packages or install_file)
        if check_mode or not result["changed"]:
            return result
        manager.install(packages, install_file, timeout, runner)
    finally:
        if pinned:
            shutil.rmtree(pinned, ignore_errors=True)
    after = crun_info(runner, timeout=min(timeout, 10))
    result["runtimes"] = after["runtimes"]
    still = package_db.needs_upgrade(after["runtimes"])
    if result["target_version"] and still:
        raise PackageError("the package manager installed %s, but crun is still below %s: %s"
                           % (result["target_version"], fixed, ", ".join("%s %s" % item for item in sorted(still.items()))))
    still_libkrun = package_db.libkrun_needs_upgrade(after["runtimes"])[0]
    for row in rows:
        if row["target_version"] and row["name"] in still_libkrun:
            raise PackageError("the package manager installed %s %s, but the libkrun crun loads is still affected "
                               "by %s" % (row["name"], row["target_version"],
                                          ", ".join(still_libkrun[row["name"]]["advisories"])))
    return result


def package_diff(result):
    """The upgrade as a diff of installed package versions (before -> after), for diff mode."""
    before, after = [], []
    if result.get("target_version"):
        for name, installed in sorted(result["installed_before"].items()):
            before.append("%s %s\n" % (name, installed))
            after.append("%s %s\n" % (name, result["target_version"]))
    for row in (result.get("libkrun") or {}).get("packages", []):
        if row["target_version"]:
            before.append("%s %s\n" % (row["name"], row["installed"]))
            after.append("%s %s\n" % (row["name"], row["target_version"]))
    return {"before": "".join(before), "after": "".join(after)}


def _libkrun_result(asked, rows, unowned, source="the configured repositories offer"):
    """The ``libkrun`` part of an upgrade's result."""
    if not asked:
        return {"needed": False, "available": True, "changed": False, "packages": [], "unowned": [],
                "reason": "not asked to upgrade libkrun"}
    return {"needed": bool(rows or unowned), "available": all(row["target_version"] for row in rows) and not unowned,
            "changed": any(row["target_version"] for row in rows), "packages": rows, "unowned": unowned,
            "reason": libkrun_reason(rows, unowned, source)}


def rollback(runner, name="crun", version=None, update=True, check_mode=False, timeout=300, crun_info=_crun.crun_info):
    """Put the crun package back to exactly ``version`` (the rollback of an upgrade), through the same
    adapters as the upgrade. Raises PackageError when that version is not offered or did not land."""
    if not version:
        raise PackageError("a rollback needs the version to go back to")
    before = crun_info(runner, timeout=min(timeout, 10))
    manager = manager_for(before["runtimes"])
    installed = next((r["package"]["version"] for r in before["runtimes"]
                      if r.get("package") and r["package"]["name"] == name), None)
    result = {"changed": False, "manager": manager.name, "installed_before": {name: installed}, "target_version": version,
              "runtimes": before["runtimes"]}
    if installed == version:
        result["reason"] = "%s %s is installed already" % (name, version)
        return result
    if update and not check_mode:
        manager.update_cache(timeout, runner)
    offered = manager.available_versions(name, timeout, runner)
    if version not in offered:
        raise PackageError("%s %s is not offered by the configured repositories (they offer %s); nothing was changed"
                           % (name, version, ", ".join(offered) or "no version"))
    result.update(changed=True, reason="%s %s -> %s" % (name, installed or "?", version))
    if check_mode:
        return result
    rc, out, err = runner(manager.downgrade_argv(name, version), timeout)
    _check(rc, out + "\n" + err, "going back to %s %s" % (name, version))
    after = crun_info(runner, timeout=min(timeout, 10))
    result["runtimes"] = after["runtimes"]
    now = next((r["package"]["version"] for r in after["runtimes"]
                if r.get("package") and r["package"]["name"] == name), None)
    if now != version:
        raise PackageError("the package manager ran, but %s is at %s, not %s" % (name, now, version))
    return result
