# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Find every crun on a host, ask each for its version, and evaluate the advisories."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import posixpath
import re
import stat
import struct

from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as advisories
from ansible_collections.fleetfix.crun.plugins.module_utils import _conf as conf
from ansible_collections.fleetfix.crun.plugins.module_utils import _elf as elf
from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs
from ansible_collections.fleetfix.crun.plugins.module_utils import _package_db as package_db

STANDARD_DIRS = (
    "/usr/local/bin", "/usr/local/sbin", "/usr/bin", "/usr/sbin", "/bin", "/sbin",
    "/usr/libexec/crun", "/usr/libexec/podman", "/usr/lib/cri-o-runc/sbin",
)
RUNTIME_NAMES = ("crun", "krun", "crun-krun")
# crun picks its krun handler from the name it was started under (fill_handler_from_argv0).
KRUN_NAMES = ("krun", "crun-krun")
# crun dlopens libkrun by soname (krun.c libkrun_load): the plain flavour, then the SEV one, and
# from 1.27 also the AWS Nitro one. No crun loads libkrun-tdx.so.1, so finding it means nothing.
LIBKRUN = advisories.LIBKRUN_PLAIN
LIBKRUN_SEV = advisories.LIBKRUN_SEV
LIBKRUN_AWSNITRO = "libkrun-awsnitro.so.1"
AWSNITRO_SINCE = (1, 27, 0)
# glibc's system search path, which the loader tries after /etc/ld.so.cache, as `ld.so --help`
# prints it: Debian's multiarch build (/lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib,
# /usr/lib) and Fedora's and RHEL's (/lib64, /usr/lib64). ld.so.conf itself is never read by the
# loader, only by ldconfig, which writes the cache: a directory listed there counts through the
# cache alone (glibc elf/dl-load.c _dl_map_object, elf/dl-cache.c).
SYSTEM_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
               "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib")
LD_CACHE = "/etc/ld.so.cache"
LD_CACHE_LIMIT = 64 * 1024 * 1024
_LD_CACHE_MAGIC = b"glibc-ld.so.cache1.1"
# ld.so.cache entry flags (glibc sysdeps/generic/ldconfig.h): the libc6 ELF type, and the
# architecture a 64-bit library was built for, by the e_machine of the program that loads it.
_FLAG_ELF_LIBC6 = 0x0003
_ARCH_FLAGS = {62: 0x0300, 183: 0x0a00}  # x86-64, AArch64


def _is_executable_file(root, path):
    st = hostfs.stat_followed(root, path)
    return st is not None and stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def configured_runtime_paths(root):
    """Paths of every OCI runtime the host's container tools are configured to run, whatever its
    name; plus parse errors. conmon starts the runtime with the path as argv[0], so a path whose
    name is krun selects crun's krun handler (crun fill_handler_from_argv0).

    podman (containers/common pkg/config): ``[engine] runtime``, a path or the name of an
    ``[engine.runtimes]`` entry, and every entry of that table (a list of paths, the first that
    exists is used). CRI-O (pkg/config): each ``[crio.runtime.runtimes.NAME]`` runs its
    ``runtime_path``, else NAME looked up in $PATH.
    """
    paths, errors = [], []
    loaded, errs = conf.layered(root, *conf.containers_conf_sources(root))
    errors.extend(errs)
    for _path, tables in loaded:
        default = tables.get(("engine",), {}).get("runtime")
        if isinstance(default, str) and default.startswith("/"):
            paths.append(default)
        for _name, candidates in tables.get(("engine", "runtimes"), {}).items():
            if isinstance(candidates, list):
                paths.extend(c for c in candidates if isinstance(c, str) and c.startswith("/"))
    loaded, errs = conf.layered(root, conf.CRIO_CONF, conf.CRIO_CONF_DROPINS)
    errors.extend(errs)
    for _path, tables in loaded:
        for table, values in tables.items():
            if table[:3] != ("crio", "runtime", "runtimes") or len(table) != 4:
                continue
            runtime_path = values.get("runtime_path")
            if isinstance(runtime_path, str) and runtime_path.startswith("/"):
                paths.append(runtime_path)
            elif "/" not in table[3]:
                paths.extend(posixpath.join(d, table[3]) for d in STANDARD_DIRS)
    return paths, errors


def candidate_paths(root, extra_paths, search_path):
    """(every path that may be a crun, in the order a user would expect to see them; the set of
    those that only the configuration names, which may be another runtime; parse errors)."""
    dirs = []
    for directory in list(search_path) + list(STANDARD_DIRS):
        if directory and directory.startswith("/") and directory not in dirs:
            dirs.append(directory)
    candidates = list(extra_paths)
    candidates.extend(posixpath.join(d, name) for name in RUNTIME_NAMES for d in dirs)
    named = set(posixpath.normpath(path) for path in candidates)
    configured, errors = configured_runtime_paths(root)
    candidates.extend(configured)
    seen, unique = set(), []
    for path in candidates:
        path = posixpath.normpath(path)
        if path not in seen:
            seen.add(path)
            unique.append(path)
    return unique, set(unique) - named, errors


def group_by_binary(root, candidates):
    """Group existing candidates by the binary they resolve to.

    Returns a list of ``{"path", "realpath", "krun_entrypoints"}``; ``path`` prefers a name that
    is not a krun entry point, since that is how an operator knows the binary.
    """
    groups = {}
    order = []
    seen = set()
    directories = {}
    for path in candidates:
        # /bin/krun and /usr/bin/krun are one entry point on a merged-/usr system: resolve the
        # directory, keep the name (crun picks its handler by the name).
        parent = posixpath.dirname(path)
        if parent not in directories:
            directories[parent] = root.resolve(parent)
        directory = directories[parent]
        if directory is None:
            continue
        path = posixpath.join(directory, posixpath.basename(path))
        if path in seen:
            continue
        seen.add(path)
        # the directory is resolved, so only the name itself may be a link: most candidates are
        # missing, and one lstat says so
        if not os.path.lexists(root.join(path)):
            continue
        real = root.resolve(path)
        if real is None or not _is_executable_file(root, real):
            continue
        group = groups.get(real)
        if group is None:
            group = groups[real] = {"path": path, "realpath": real, "krun_entrypoints": []}
            order.append(real)
        if posixpath.basename(path) in KRUN_NAMES:
            if path not in group["krun_entrypoints"]:
                group["krun_entrypoints"].append(path)
        elif posixpath.basename(group["path"]) in KRUN_NAMES:
            group["path"] = path
    return [groups[real] for real in order]


def parse_version_output(text):
    """Parse ``crun --version``; fields that are absent are None."""
    parsed = {"version_string": None, "version": None, "commit": None, "features": None}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("crun version") and parsed["version_string"] is None:
            parsed["version_string"] = line[len("crun version"):].strip()
            parsed["version"] = advisories.parse_version(parsed["version_string"])
        elif line.startswith("commit:"):
            parsed["commit"] = line.split(":", 1)[1].strip() or None
        elif line.startswith("+"):
            parsed["features"] = [tag for tag in line.split() if tag.startswith("+")]
    return parsed


def query_version(root, realpath, timeout, runner):
    """Run ``--version``; return (parsed, problem, another program). ``problem`` explains a failed
    or odd run; the last is True when the program answered (exit 0) but not as crun."""
    empty = parse_version_output("")
    try:
        rc, out, err = runner([root.join(realpath), "--version"], timeout)
    except hostfs.CommandTimeout as exc:
        return empty, "%s --version %s" % (realpath, exc), False
    except OSError as exc:
        return empty, "%s --version could not run: %s" % (realpath, exc.strerror or exc), False
    parsed = parse_version_output(out)
    if rc != 0:
        detail = (err.strip() or out.strip() or "no output").splitlines()[0][:200]
        return parsed, "%s --version exited %d: %s" % (realpath, rc, detail), False
    if parsed["version"] is None:
        first = (out.strip() or "no output").splitlines()[0][:200]
        return parsed, "%s --version printed no crun version: %r" % (realpath, first), True
    return parsed, None, False


def ld_cache(root):
    """[(flags, soname, path)] of the root's /etc/ld.so.cache (format 1.1, read safely and bounded),
    in the order the loader searches it; [] when there is none or it is not one glibc would use
    (the loader ignores such a cache and goes on with its system directories)."""
    try:
        data = hostfs.read_file(root, LD_CACHE, LD_CACHE_LIMIT, owners=(hostfs.ROOT_UID,))
    except OSError:
        return []
    start = (data or b"").find(_LD_CACHE_MAGIC)
    if start < 0:
        return []
    entries = []
    try:
        count, = struct.unpack_from("<I", data, start + 20)
        for index in range(count):
            flags, key, value = struct.unpack_from("<iII", data, start + 48 + 24 * index)
            name = data[start + key:data.index(b"\x00", start + key)].decode("utf-8", "replace")
            path = data[start + value:data.index(b"\x00", start + value)].decode("utf-8", "replace")
            entries.append((flags, name, path))
    except (struct.error, ValueError):
        return []
    return entries


def _binary(root, realpath):
    """(its own search directories: DT_RPATH when it has no DT_RUNPATH, else DT_RUNPATH, with
    $ORIGIN expanded; its e_machine or None). An unreadable or non-ELF binary gives ([], None)."""
    try:
        data = hostfs.read_file(root, realpath, elf.MAX_ELF_BYTES, head=True)
        if data is None:
            return [], None
        rpath, runpath = elf.search_paths(data)
        machine = elf.machine(data)
    except (IOError, OSError, elf.NotElf):
        return [], None
    origin = posixpath.dirname(realpath)
    dirs = []
    for entry in runpath or rpath:
        entry = entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
        if entry.startswith("/"):
            dirs.append(posixpath.normpath(entry))
    return dirs, machine


def loader_dirs(root, realpath, system_dirs):
    """Where the dynamic loader looks for a library crun dlopen()s, but for ld.so.cache: the
    executable's DT_RPATH (when it has no DT_RUNPATH), else its DT_RUNPATH, with $ORIGIN expanded;
    then ``system_dirs``. (LD_LIBRARY_PATH does not count: conmon starts the runtime with an almost
    empty environment.) An unreadable or non-ELF binary contributes nothing."""
    dirs = _binary(root, realpath)[0]
    return dirs + [d for d in system_dirs if d not in dirs]


_VERSIONED_LIBKRUN = re.compile(r"^libkrun(?:-[a-z]+)?\.so\.(\d+\.\d+\.\d+)$")


def libkrun_version(root, path, managers, timeout, runner):
    """(version, owning package) of the libkrun at ``path``. The version comes from the versioned
    file its soname link points to (libkrun.so.1 -> libkrun.so.1.11.1), else from the package that
    owns it; None when neither tells. The package (or None) is what an upgrade of libkrun installs."""
    real = root.resolve(path) or path
    owner = package_db.owner(root, list(dict.fromkeys([real, path])), managers, timeout, runner)
    versioned = _VERSIONED_LIBKRUN.match(posixpath.basename(real))
    if versioned:
        return advisories.parse_version(versioned.group(1)), owner
    return (advisories.parse_version(owner["version"]) if owner else None), owner


def libkrun_flavours(root, realpath, version, cache, system_dirs=SYSTEM_DIRS):
    """{soname: path} of each libkrun flavour this crun would load, in the loader's order: the
    binary's own directories, then the ld.so.cache entries for its architecture, then glibc's
    system directories (elf/dl-load.c _dl_map_object)."""
    sonames = [LIBKRUN, LIBKRUN_SEV] + ([LIBKRUN_AWSNITRO] if version and version >= AWSNITRO_SINCE else [])
    own_dirs, machine = _binary(root, realpath)
    arch = _ARCH_FLAGS.get(machine)
    found = {}
    for soname in sonames:
        candidates = [posixpath.join(directory, soname) for directory in own_dirs]
        candidates += [path for flags, name, path in cache if name == soname and flags & 0xff == _FLAG_ELF_LIBC6
                       and (arch is None or flags & 0xff00 == arch)]
        candidates += [posixpath.join(directory, soname) for directory in system_dirs]
        path = next((c for c in candidates if hostfs.stat_followed(root, c) is not None), None)
        if path:
            found[soname] = path
    return found


def crun_info(runner, root="/", paths=(), timeout=5, search_path=None):
    """Discover every crun under root (a path or a HostRoot) and evaluate the advisories for each."""
    root = hostfs.HostRoot.of(root)
    if search_path is None:
        search_path = os.environ.get("PATH", "").split(os.pathsep)
    candidates, only_configured, errors = candidate_paths(root, paths, search_path)
    cache = ld_cache(root)
    managers = package_db.present(root)
    runtimes, other_runtimes, not_examined = [], [], []
    for group in group_by_binary(root, candidates):
        names = [group["path"]] + group["krun_entrypoints"]
        refusal = hostfs.not_root_controlled(root, group["realpath"])
        if refusal:
            # a binary (or a directory on its way) someone else controls is never run as root
            not_examined.append({"path": hostfs.display(group["realpath"]), "why": "runtime %s: %s: not run as "
                                 "root to ask its version" % (hostfs.display(group["path"]), refusal)})
            continue
        parsed, problem, another_program = query_version(root, group["realpath"], timeout, runner)
        if another_program and all(n in only_configured for n in names):
            # a runtime the configuration names that answers, but not as crun (runc, crun-vm's
            # own binary, kata...): examined, and not a crun
            other_runtimes.append({"path": group["path"], "realpath": group["realpath"]})
            continue
        flavours = libkrun_flavours(root, group["realpath"], parsed["version"], cache)
        lib_version, lib_package = libkrun_version(root, flavours[LIBKRUN], managers, timeout, runner) \
            if LIBKRUN in flavours else (None, None)
        verdicts = advisories.evaluate_runtimes(parsed["version"], parsed["features"], flavours,
                                                group["krun_entrypoints"], lib_version)
        if problem:
            for verdict in verdicts:
                if verdict["status"] == advisories.UNKNOWN:
                    advisories.add_clause(verdict, problem)
        owner_paths = [group["realpath"]] + names
        runtimes.append({
            "path": group["path"],
            "realpath": group["realpath"],
            "version": parsed["version_string"],
            "commit": parsed["commit"],
            "features": parsed["features"] or [],
            "libkrun": flavours.get(LIBKRUN),
            "libkrun_flavours": flavours,
            "libkrun_version": advisories.format_version(lib_version),
            "libkrun_package": lib_package,
            "krun_entrypoints": group["krun_entrypoints"],
            "package": package_db.owner(root, list(dict.fromkeys(owner_paths)), managers, timeout, runner),
            "advisories": verdicts,
            "problem": problem,
        })
    merged = advisories.merge([r["advisories"] for r in runtimes] + [advisories.coverage_verdicts(
        not_examined, [{"path": None, "error": e} for e in errors])])
    libkrun = next((r["libkrun"] for r in runtimes if r["libkrun"]), None)
    return {
        "runtimes": runtimes,
        "other_runtimes": other_runtimes,
        "affected": any(v["status"] == advisories.AFFECTED for v in merged),
        "advisories": merged,
        "libkrun": libkrun,
        "errors": errors,
        "not_examined": not_examined,
    }
