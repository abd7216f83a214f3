# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A throwaway container that proves the fix works under the host's real runtime and hook setup.

Two kinds, and the result says which ran:

- symptom: where a krun entry point can start the krun handler, a non-root krun container with a
  marker variable (``-e FLEETFIX_CANARY=...``) must print it: the seed's symptom itself, tested
  through the host's crun, libkrun, hooks and podman configuration.
- file mode: elsewhere (no krun entry point, or libkrun cannot be loaded), the image holds an
  owner-only /.krun_config.json (the state an affected crun leaves) that a non-root container with
  crun's normal handler must be able to read.

The image holds only mount points (and that file); the host's own /usr (and /bin, /lib... where
they are real directories) are bound read-only, so it needs no registry and no image on the host.
It runs with podman's normal configuration (no --hooks-dir): the hook must be where podman reads
hooks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import io
import json
import os
import tarfile

from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as advisories
from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
CONFIG_NAME = advisories.CONFIG_NAME
MARKER = "FLEETFIX_CANARY"
SYMPTOM, FILE_MODE = "symptom", "file mode"


def _tar_entry(tar, name, kind, mode=0o755, linkname=None, data=None):
    info = tarfile.TarInfo(name)
    info.type, info.mode = kind, mode
    if linkname:
        info.linkname = linkname
    if data is not None:
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def image_tar(config, system_dirs=SYSTEM_DIRS):
    """The canary rootfs: mount points (or the host's usr-merge symlinks) and, unless ``config`` is
    None, the owner-only config."""
    buffer = io.BytesIO()
    binds = []
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _tar_entry(tar, "tmp", tarfile.DIRTYPE, 0o1777)
        for directory in system_dirs:
            name = directory.lstrip("/")
            if os.path.islink(directory):
                _tar_entry(tar, name, tarfile.SYMTYPE, 0o777, linkname=os.readlink(directory))
            elif os.path.isdir(directory):
                _tar_entry(tar, name, tarfile.DIRTYPE)
                binds.append(directory)
        if config is not None:
            _tar_entry(tar, CONFIG_NAME, tarfile.REGTYPE, 0o700, data=config)
    return buffer.getvalue(), binds


def _run_image(runner, podman, image, tar, argv_before_image, command, timeout):
    rc, _out, err = runner([podman, "import", "--quiet", "-", image], timeout, stdin=tar)
    if rc != 0:
        return None, "podman import of the canary image failed: %s" % err.strip()
    try:
        return runner(argv_before_image + [image] + command, timeout), None
    finally:
        runner([podman, "rmi", "--force", image], timeout)


def _volumes(binds):
    argv = []
    for directory in binds:
        argv += ["--volume", "%s:%s:ro" % (directory, directory)]
    return argv


def symptom_canary(runner, podman, krun, uid, image, timeout):
    """The result, or None when the krun handler cannot start here (then the file-mode canary runs)."""
    marker = binascii.hexlify(os.urandom(8)).decode()
    tar, binds = image_tar(None)
    argv = [podman, "run", "--rm", "--network", "none", "--runtime", krun, "--user", "%d:%d" % (uid, uid),
            "--env", "%s=%s" % (MARKER, marker)] + _volumes(binds)
    ran, problem = _run_image(runner, podman, image, tar, argv, [os.path.realpath(hostfs.which("env"))], timeout)
    if problem:
        return {"status": "failed", "kind": SYMPTOM, "reason": problem}
    rc, out, err = ran
    if rc != 0 and "libkrun" in err:
        return None
    if rc == 0 and "%s=%s" % (MARKER, marker) in out.splitlines():
        return {"status": "passed", "kind": SYMPTOM,
                "reason": "a krun container running as uid %d (%s) received its environment" % (uid, krun)}
    return {"status": "failed", "kind": SYMPTOM,
            "reason": "a krun container running as uid %d (%s) started without its environment: %s did not "
                      "arrive (exit %d: %s), the symptom of crun issue 1685"
                      % (uid, krun, MARKER, rc, (err.strip() or out.strip() or "no output")[:300])}


def canary(runner, uid=1234, image="localhost/fleetfix-canary:latest", timeout=120, krun=None):
    """Return {"status": passed|failed|skipped, "kind": symptom|file mode|None, "reason": str}.

    With ``krun`` (a krun entry point), the symptom canary runs; where that handler cannot start
    (libkrun missing), the file-mode canary runs instead and its reason says so.
    """
    podman, cat = hostfs.which("podman"), hostfs.which("cat")
    if not podman:
        return {"status": "skipped", "kind": None, "reason": "podman is not installed"}
    fallback = ""
    if krun:
        result = symptom_canary(runner, podman, krun, uid, image, timeout)
        if result is not None:
            return result
        fallback = "the krun handler cannot start here (%s: libkrun not loadable), so the file mode was tested: " % krun
    config = json.dumps({"process": {"user": {"uid": uid, "gid": uid}, "env": ["container=oci"]}}).encode()
    tar, binds = image_tar(config)
    argv = [podman, "run", "--rm", "--network", "none", "--user", "%d:%d" % (uid, uid)] + _volumes(binds)
    ran, problem = _run_image(runner, podman, image, tar, argv, [os.path.realpath(cat), "/" + CONFIG_NAME], timeout)
    if problem:
        return {"status": "failed", "kind": FILE_MODE, "reason": problem}
    rc, out, err = ran
    if rc == 0 and out.encode() == config:
        return {"status": "passed", "kind": FILE_MODE,
                "reason": "%sa container running as uid %d read its owner-only %s" % (fallback, uid, CONFIG_NAME)}
    return {"status": "failed", "kind": FILE_MODE,
            "reason": "%sa container running as uid %d could not read its %s (exit %d: %s): the hook is not where "
                      "podman reads hooks, or did not run"
                      % (fallback, uid, CONFIG_NAME, rc, (err.strip() or out.strip())[:300])}
