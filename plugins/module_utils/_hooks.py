# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The OCI hook that fixes /.krun_config.json at every container start: where it goes, what it says.

podman and CRI-O re-read every hook file at each container start, and one invalid file makes
every container start fail. So the hook JSON is validated with podman's own rules before it is
placed, existing files are checked first, and each file is replaced atomically.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import glob
import hashlib
import json
import os
import posixpath
import re
import stat

from ansible_collections.fleetfix.crun.plugins.module_utils import _conf as conf
from ansible_collections.fleetfix.crun.plugins.module_utils import _files as files
from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs

# What Debian's and upstream podman read when containers.conf sets no hooks_dir (and CRI-O too).
DEFAULT_HOOKS_DIRS = ("/usr/share/containers/oci/hooks.d",)
KNOWN_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
STAGE = "createRuntime"
PROGRAM_NAME = "fleetfix-krun-hook"
HOOK_TIMEOUT = 10
# Marks the containers.conf drop-in as ours, so removing it never removes someone else's file.
DROPIN_MARKER = "# Managed by fleetfix.crun (role fleetfix.crun.hook): adds the krun hook's directory."


def _configured(root, files_, dropins, table, skip=None):
    """hooks_dir from a layered config (the last file that sets it wins), its source, errors."""
    found, source = None, None
    loaded, errors = conf.layered(root, files_, dropins)
    for path, tables in loaded:
        if skip and path == skip:
            continue
        value = tables.get(table, {}).get("hooks_dir")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            found, source = value, path
    return found, source, errors


def hooks_dirs(root="/", skip_dropin=None):
    """Every hooks directory podman and CRI-O read on this host: (list of dicts, errors)."""
    root = hostfs.HostRoot.of(root)
    dirs, errors = [], []
    main_files, dropins = conf.containers_conf_sources(root)
    podman, source, errs = _configured(root, main_files, dropins, ("engine",), skip_dropin)
    errors.extend(errs)
    for path in podman or DEFAULT_HOOKS_DIRS:
        dirs.append({"path": path, "source": source or "podman default"})
    crio, source, errs = _configured(root, conf.CRIO_CONF, conf.CRIO_CONF_DROPINS, ("crio", "runtime"))
    errors.extend(errs)
    for path in crio or []:
        dirs.append({"path": path, "source": source})
    unique, seen = [], set()
    for entry in dirs:
        if entry["path"] not in seen:
            seen.add(entry["path"])
            unique.append(entry)
    return unique, errors


def hook_document(python, program):
    """The hook JSON: run the program with the host's python, isolated, at createRuntime."""
    return {
        "version": "1.0.0",
        "hook": {"path": python, "args": [os.path.basename(python), "-I", "-S", program], "timeout": HOOK_TIMEOUT},
        "when": {"always": True},
        "stages": [STAGE],
    }


def problems(document, check_paths=True):
    """What podman would reject in a hook document (pkg/hooks 1.0.0 rules); [] when valid."""
    found = []
    if not isinstance(document, dict):
        return ["not a JSON object"]
    # Never a value of the document in a message: a hook file may name what it should not.
    if document.get("version") != "1.0.0":
        found.append("version must be \"1.0.0\"")
    hook = document.get("hook")
    if not isinstance(hook, dict) or not isinstance(hook.get("path"), str) or not hook.get("path"):
        found.append("hook.path is required")
    else:
        if not hook["path"].startswith("/"):
            found.append("hook.path must be absolute")
        elif check_paths and not os.access(hook["path"], os.X_OK):
            found.append("hook.path does not exist or is not executable")
        args = hook.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            found.append("hook.args must be a list of strings")
        timeout = hook.get("timeout")
        if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1):
            found.append("hook.timeout must be a positive integer")
    when = document.get("when")
    if not isinstance(when, dict) or not any(when.get(k) for k in ("always", "annotations", "commands",
                                                                   "hasBindMounts")):
        found.append("when must set at least one of always, annotations, commands, hasBindMounts")
    else:
        patterns = list((when.get("annotations") or {}).items()) if isinstance(when.get("annotations"), dict) else []
        patterns = [p for pair in patterns for p in pair] + list(when.get("commands") or [])
        for pattern in patterns:
            try:
                re.compile(pattern)
            except (re.error, TypeError):
                found.append("when holds an invalid regular expression")
    stages = document.get("stages")
    if not isinstance(stages, list) or not stages:
        found.append("stages must be a non-empty list")
    else:
        if any(stage not in KNOWN_STAGES for stage in stages):
            found.append("unknown stage")
    return found


def installed_hooks(root="/", dirs=None):
    """Hook JSON files, in directories podman or CRI-O read, that run our hook program at createRuntime.

    A file counts only when podman would accept it and the program and interpreter it names exist,
    so a half-removed or broken installation is not mistaken for a mitigation. Each is reported with
    the checksums that tell whether it is exactly what the hook role would write.
    """
    root = hostfs.HostRoot.of(root)
    found = []
    for entry in hooks_dirs(root)[0] if dirs is None else dirs:
        try:
            names = [n for n in hostfs.list_followed(root, entry["path"]) if n.endswith(".json") and n[0] != "."]
        except OSError:
            continue
        for name in names:
            try:
                raw = _read_hook_file(posixpath.join(entry["path"], name), root)[0]
                document = json.loads(raw.decode("utf-8"))
                args = document["hook"]["args"]
                program = next(a for a in args if os.path.basename(a) == PROGRAM_NAME)
            except (IOError, OSError, ValueError, KeyError, TypeError, StopIteration):
                continue
            if problems(document, check_paths=False) or STAGE not in document["stages"]:
                continue
            if not all(_present(root, p, executable=p == document["hook"]["path"])
                       for p in (document["hook"]["path"], program)):
                continue
            try:
                data, st = _read_hook_file(program, root)
            except (IOError, OSError):
                continue
            program_sha256, program_mode = hashlib.sha256(data).hexdigest(), "%04o" % (st.st_mode & 0o7777)
            found.append({"path": posixpath.join(entry["path"], name), "dir": entry["path"],
                          "sha256": hashlib.sha256(raw).hexdigest(), "program": program,
                          "program_sha256": program_sha256, "program_mode": program_mode})
    return found


def in_place(report, program, program_sha256, python, name, hooks_dirs=(), add_hooks_dir=""):
    """Whether the audit ``report`` shows this exact hook (the program whose bytes have
    ``program_sha256``, its mode, the JSON text) in every hooks directory the host reads, so
    installing it again would change nothing. Directories given explicitly (``hooks_dirs``,
    ``add_hooks_dir``) are the installer's to check, and a program not named by its digest cannot
    be compared: never in place."""
    if hooks_dirs or add_hooks_dir or not program_sha256:
        return False
    dirs = report.get("hooks_dirs")
    if not dirs:
        return False
    expected = {
        "sha256": hashlib.sha256(files.json_text(hook_document(python, program)).encode("utf-8")).hexdigest(),
        "program": program,
        "program_sha256": program_sha256,
        "program_mode": "0755",
    }
    installed = dict((h["path"], h) for h in report.get("hook_files", []))
    for directory in dirs:
        found = installed.get(os.path.join(directory, name))
        if found is None or any(found.get(key) != value for key, value in expected.items()):
            return False
    return True


MAX_HOOK_FILE_BYTES = 1024 * 1024


def _present(root, path, executable):
    """Whether the program or file a hook names is there for podman (root) to run or read."""
    st = hostfs.stat_followed(root, path)
    return st is not None and stat.S_ISREG(st.st_mode) and (not executable or bool(st.st_mode & 0o111))


def _read_hook_file(path, root="/"):
    """(bytes, stat) of hook file or program ``path`` (a host path), as podman reads it: a link
    followed (the directory is root's, checked before anything is installed), inside ``root``,
    never outside; never a FIFO or device; bounded."""
    data = hostfs.read_followed(root, path, MAX_HOOK_FILE_BYTES)
    st = hostfs.stat_followed(root, path)
    if data is None or st is None:
        raise hostfs.UnsafePath(path, "does not exist", errno.ENOENT)
    return data, st


def unsafe_hooks_dir(path):
    """Why the hook must not go into hooks directory ``path``, or None: podman runs as root every
    hook a file there names, so the directory and every one above it must be root's alone."""
    problem = hostfs.not_root_controlled("/", path, missing_ok=True)
    return problem and "%s (podman would run as root any hook another user put there)" % problem


def invalid_hook_files(directory, ignore_name):
    """Existing hook files in directory that podman would refuse: [(path, problem)]."""
    bad = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        if os.path.basename(path) == ignore_name:
            continue
        try:
            document = json.loads(_read_hook_file(path)[0].decode("utf-8"))
        except (IOError, OSError) as exc:
            bad.append((path, "unreadable: %s" % hostfs.describe(exc)))
            continue
        except ValueError:
            bad.append((path, "not JSON"))
            continue
        found = problems(document)
        if found:
            bad.append((path, "; ".join(found)))
    return bad


def dropin_text(dirs):
    return "%s\n[engine]\nhooks_dir = [%s]\n" % (DROPIN_MARKER, ", ".join(json.dumps(d) for d in dirs))


def install(dirs, name, document, dropin=None, dropin_dirs=None, check_mode=False, program=None):
    """Place the program (``(path, content)``, if given), then the hook JSON in every directory,
    then (if asked) the containers.conf drop-in: a reader never finds a hook whose program is missing.

    Returns (changes, diffs): changes lists each path that changed.
    """
    text = files.json_text(document)
    changes, before, after = [], [], []
    if program:
        path, content = program
        changed, old, new = files.write_atomically(path, content, check_mode, mode=0o755)
        if changed:
            changes.append(path)
            before.append("# %s\n%s" % (path, old))
            after.append("# %s\n%s" % (path, new))
        elif not check_mode and os.stat(path).st_mode & 0o7777 != 0o755:
            os.chmod(path, 0o755)
            changes.append(path)
    for directory in dirs:
        path = os.path.join(directory, name)
        changed, old, new = files.write_atomically(path, text, check_mode)
        if changed:
            changes.append(path)
            before.append("# %s\n%s" % (path, old))
            after.append("# %s\n%s" % (path, new))
    if dropin:
        changed, old, new = files.write_atomically(dropin, dropin_text(dropin_dirs), check_mode)
        if changed:
            changes.append(dropin)
            before.append("# %s\n%s" % (dropin, old))
            after.append("# %s\n%s" % (dropin, new))
    return changes, {"before": "".join(before), "after": "".join(after)}


def uninstall(dirs, name, dropin=None, check_mode=False, program=None):
    """Remove the drop-in (if it is ours), then the hook JSON from every directory, then the program."""
    changes, before = [], []
    if dropin and files.read_text(dropin).startswith(DROPIN_MARKER):
        changed, old = files.remove(dropin, check_mode)
        if changed:
            changes.append(dropin)
            before.append("# %s\n%s" % (dropin, old))
    for directory in dirs:
        path = os.path.join(directory, name)
        changed, old = files.remove(path, check_mode)
        if changed:
            changes.append(path)
            before.append("# %s\n%s" % (path, old))
    if program:
        changed, _old = files.remove(program, check_mode)
        if changed:
            changes.append(program)
            before.append("# %s (hook program)\n" % program)
    return changes, {"before": "".join(before), "after": ""}
