# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ask the host's package manager for a fixed crun, and install it.

One small adapter per package manager (apt, dnf/yum, zypper): the versions the configured
repositories offer, and the command that installs a package, a pinned version or a package file.
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

MANAGERS = ("apt", "dnf", "yum", "zypper")
# Asking for the versions offered parses every package list when apt keeps no binary cache (about
# 1 s of CPU per host); on a busy host that takes far longer than a crun --version may.
OFFERED_TIMEOUT = 60
# Which package managers can serve a package database.
FOR_DATABASE = {"dpkg": ("apt",), "rpm": ("dnf", "yum", "zypper")}
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


def find_manager(database=None):
    """The first package manager binary present (for the given package database, if known)."""
    for manager in FOR_DATABASE.get(database, MANAGERS):
        path = hostfs.which("apt-get" if manager == "apt" else manager)
        if path:
            return manager, path
    return None, None


def available_versions(manager, tool, name, timeout, runner):
    """Every version of ``name`` that the package manager would install (newest first where known).

    Only binary packages for this host's architecture (or architecture-independent ones) count: a
    source package, another architecture's build or a version pinned away is offered by no
    repository in the sense that matters here.
    """
    if manager == "apt":
        rc, out, err = runner([os.path.join(os.path.dirname(tool), "apt-cache"), "policy", name], timeout)
        _check(rc, err, "apt-cache policy %s" % name)
        return apt_policy_versions(out)
    if manager in ("dnf", "yum"):
        rc, out, err = runner([tool, "-q", _DNF_NO_WAIT, "repoquery", "--available", "--qf",
                               "%{version}-%{release} %{arch}\n", name], timeout)
        _check(rc, err, "%s repoquery %s" % (manager, name))
        return _for_this_arch(line.split() for line in out.splitlines())
    rc, out, err = runner([tool, "--non-interactive", "--no-refresh", "search", "--details", "--match-exact",
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


# apt-cache policy's version table: " *** VERSION PRIORITY" or "     VERSION PRIORITY" for each
# version, then one line per origin indented further: "        PRIORITY ORIGIN".
_APT_VERSION_LINE = re.compile(r"^ (?:\*\*\*|   ) (\S+) (-?\d+)$")
_APT_ORIGIN_LINE = re.compile(r"^ {6,}-?\d+ (.+)$")
_DPKG_STATUS = "/var/lib/dpkg/status"


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
        if origin and current and origin.group(1).strip() != _DPKG_STATUS:
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


def package_file_version(manager, path, timeout, runner):
    """The version inside an offline package file."""
    if manager == "apt":
        argv = ["dpkg-deb", "--field", path, "Version"]
    else:
        argv = ["rpm", "-qp", "--qf", "%{VERSION}-%{RELEASE}", path]
    rc, out, err = runner(argv, timeout)
    _check(rc, err, "reading the version of %s" % path)
    return out.strip()


def update_cache(manager, tool, timeout, runner):
    argv = {"apt": [tool, "update", "-q"], "zypper": [tool, "--non-interactive", "refresh"]}.get(
        manager, [tool, "-q", _DNF_NO_WAIT, "makecache"])
    rc, out, err = runner(argv, timeout)
    if manager == "zypper" and rc == 6:  # no repository enabled: nothing to refresh, nothing offered
        return
    _check(rc, out + "\n" + err, "refreshing the %s package cache" % manager)


def install_argv(manager, tool, names, version=None, package_file=None):
    """The command that installs the fixed package(s)."""
    if package_file:
        targets = [package_file if package_file.startswith("/") else "./" + package_file]
    elif version:
        separator = {"apt": "=", "zypper": "="}.get(manager, "-")
        targets = ["%s%s%s" % (name, separator, version) for name in names]
    else:
        targets = list(names)
    if manager == "apt":
        return [tool, "install", "-y", "-q", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold"] \
            + targets
    if manager == "zypper":
        # a package file is the operator's own choice: zypper would refuse it unless signed
        return [tool, "--non-interactive", "install", "--oldpackage"] \
            + (["--allow-unsigned-rpm"] if package_file else []) + targets
    return [tool, _DNF_NO_WAIT, "install", "-y"] + targets


def downgrade_argv(manager, tool, name, version):
    """The command that installs exactly ``version`` of ``name``, older than what is installed."""
    if manager == "apt":
        return [tool, "install", "-y", "-q", "--allow-downgrades", "--no-install-recommends",
                "-o", "Dpkg::Options::=--force-confold", "%s=%s" % (name, version)]
    if manager == "zypper":
        return [tool, "--non-interactive", "install", "--oldpackage", "%s=%s" % (name, version)]
    return [tool, _DNF_NO_WAIT, "-y", "downgrade", "%s-%s" % (name, version)]


def install(manager, tool, names, version, package_file, timeout, runner):
    rc, out, err = runner(install_argv(manager, tool, names, version, package_file), timeout)
    _check(rc, out + "\n" + err, "installing %s" % (package_file or ", ".join(names)))


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


def manager_for(runtimes):
    """(manager, tool) for the package database that owns the cruns; PackageError when there is none."""
    database = next((r["package"]["manager"] for r in runtimes if r.get("package")), None)
    manager, tool = find_manager(database)
    if manager is None:
        raise PackageError("no supported package manager (apt, dnf, yum, zypper) was found")
    return manager, tool


def offered(runtimes, runner, timeout=OFFERED_TIMEOUT):
    """What the package manager's cache offers for the crun packages that need an upgrade, read-only.

    ``fixed_offered`` is the newest fixed version offered (None when none is); ``checked`` is False
    when the package manager could not be asked, so callers must not rely on the answer.
    """
    needed = needs_upgrade(runtimes)
    answer = {"checked": True, "needed": needed, "manager": None, "offered": [], "fixed_offered": None,
              "error": None}
    if not needed:
        return answer
    try:
        manager, tool = manager_for(runtimes)
    except PackageError as exc:
        return dict(answer, checked=False, error=str(exc))
    try:
        versions = available_versions(manager, tool, sorted(needed)[0], timeout, runner)
    except (PackageError, hostfs.CommandTimeout, OSError) as exc:
        return dict(answer, checked=False, manager=manager, error="%s: %s" % (manager, exc))
    return dict(answer, manager=manager, offered=versions, fixed_offered=best_fixed(versions))


def upgrade(runner, names=(), version=None, package_file=None, update=True, check_mode=False, timeout=300,
            crun_info=_crun.crun_info):
    """Bring crun to at least the fixed version with the host's package manager.

    Returns a result dict; raises PackageError when the package manager fails or is locked.
    ``upgrade_available`` is False (and nothing changes) when the repositories offer no fixed
    version, so the caller can fall back to the hook.
    """
    before = crun_info(runner, timeout=min(timeout, 10))
    needed = needs_upgrade(before["runtimes"])
    fixed = advisories.fixed_version()
    result = {"changed": False, "upgrade_needed": bool(needed), "upgrade_available": True, "fixed_version": fixed,
              "installed_before": needed, "target_version": None, "manager": None, "reason": None,
              "runtimes": before["runtimes"]}
    if not needed:
        result["reason"] = "every crun package is at or above %s" % fixed
        return result
    names = list(names) or sorted(needed)
    manager, tool = manager_for(before["runtimes"])
    result["manager"] = manager
    pinned, copy = None, None
    try:
        if package_file:
            try:
                copy, pinned = pinned_copy(package_file)
            except (IOError, OSError) as exc:
                raise PackageError("cannot read the package file %s: %s" % (package_file, hostfs.describe(exc)))
            offered = [package_file_version(manager, copy, timeout, runner)]
            target = best_fixed(offered)
        else:
            if update and not check_mode:
                update_cache(manager, tool, timeout, runner)
            offered = available_versions(manager, tool, names[0], timeout, runner)
            target = best_fixed(offered, version)
        if target is None:
            result["upgrade_available"] = False
            source = "%s holds" % package_file if package_file else "the configured repositories offer"
            result["reason"] = "%s %s %s; none is %s or newer%s" % (
                source, names[0], ", ".join(offered) or "in no version", fixed,
                " (pinned: %s)" % version if version else "")
            return result
        result.update(target_version=target, changed=True,
                      reason="%s %s -> %s" % (", ".join(names), ", ".join(needed.values()) or "?", target))
        if check_mode:
            return result
        # the same bytes that were inspected: the pinned copy, never the path again
        install(manager, tool, names, None if package_file else target, copy, timeout, runner)
    finally:
        if pinned:
            shutil.rmtree(pinned, ignore_errors=True)
    after = crun_info(runner, timeout=min(timeout, 10))
    result["runtimes"] = after["runtimes"]
    still = needs_upgrade(after["runtimes"])
    if still:
        raise PackageError("the package manager installed %s, but crun is still below %s: %s"
                           % (target, fixed, ", ".join("%s %s" % item for item in sorted(still.items()))))
    return result


def rollback(runner, name="crun", version=None, update=True, check_mode=False, timeout=300, crun_info=_crun.crun_info):
    """Put the crun package back to exactly ``version`` (the rollback of an upgrade), through the same
    adapters as the upgrade. Raises PackageError when that version is not offered or did not land."""
    if not version:
        raise PackageError("a rollback needs the version to go back to")
    before = crun_info(runner, timeout=min(timeout, 10))
    manager, tool = manager_for(before["runtimes"])
    installed = next((r["package"]["version"] for r in before["runtimes"]
                      if r.get("package") and r["package"]["name"] == name), None)
    result = {"changed": False, "manager": manager, "installed_before": {name: installed}, "target_version": version,
              "runtimes": before["runtimes"]}
    if installed == version:
        result["reason"] = "%s %s is installed already" % (name, version)
        return result
    if update and not check_mode:
        update_cache(manager, tool, timeout, runner)
    offered = available_versions(manager, tool, name, timeout, runner)
    if version not in offered:
        raise PackageError("%s %s is not offered by the configured repositories (they offer %s); nothing was changed"
                           % (name, version, ", ".join(offered) or "no version"))
    result.update(changed=True, reason="%s %s -> %s" % (name, installed or "?", version))
    if check_mode:
        return result
    rc, out, err = runner(downgrade_argv(manager, tool, name, version), timeout)
    _check(rc, out + "\n" + err, "going back to %s %s" % (name, version))
    after = crun_info(runner, timeout=min(timeout, 10))
    result["runtimes"] = after["runtimes"]
    now = next((r["package"]["version"] for r in after["runtimes"]
                if r.get("package") and r["package"]["name"] == name), None)
    if now != version:
        raise PackageError("the package manager ran, but %s is at %s, not %s" % (name, now, version))
    return result
