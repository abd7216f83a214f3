# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A throwaway container that proves the fix works under the host's real runtime and hook setup.

Its image holds only an owner-only /.krun_config.json (the state an affected crun leaves) and
mount points; the host's own /usr (and /bin, /lib... where they are real directories) are bound
read-only, so it needs no registry and no image on the host. It runs as a non-root user with
podman's normal configuration (no --hooks-dir): if the hook is where podman reads hooks, that user
can read the file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os
import tarfile

from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
CONFIG_NAME = ".krun_config.json"


def _tar_entry(tar, name, kind, mode=0o755, linkname=None, data=None):
    info = tarfile.TarInfo(name)
    info.type, info.mode = kind, mode
    if linkname:
        info.linkname = linkname
    if data is not None:
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def image_tar(config, system_dirs=SYSTEM_DIRS):
    """The canary rootfs: mount points (or the host's usr-merge symlinks) and the owner-only config."""
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
        _tar_entry(tar, CONFIG_NAME, tarfile.REGTYPE, 0o700, data=config)
    return buffer.getvalue(), binds


def canary(runner, uid=1234, image="localhost/fleetfix-canary:latest", timeout=120):
    """Return {"status": passed|failed|skipped, "reason": str}."""
    podman, cat = hostfs.which("podman"), hostfs.which("cat")
    if not podman:
        return {"status": "skipped", "reason": "podman is not installed"}
    config = json.dumps({"process": {"user": {"uid": uid, "gid": uid}, "env": ["container=oci"]}}).encode()
    tar, binds = image_tar(config)
    rc, _out, err = runner([podman, "import", "--quiet", "-", image], timeout, stdin=tar)
    if rc != 0:
        return {"status": "failed", "reason": "podman import of the canary image failed: %s" % err.strip()}
    try:
        argv = [podman, "run", "--rm", "--network", "none", "--user", "%d:%d" % (uid, uid)]
        for directory in binds:
            argv += ["--volume", "%s:%s:ro" % (directory, directory)]
        rc, out, err = runner(argv + [image, os.path.realpath(cat), "/" + CONFIG_NAME], timeout)
    finally:
        runner([podman, "rmi", "--force", image], timeout)
    if rc == 0 and out.encode() == config:
        return {"status": "passed", "reason": "a container running as uid %d read its owner-only %s" % (uid, CONFIG_NAME)}
    return {"status": "failed",
            "reason": "a container running as uid %d could not read its %s (exit %d: %s): the hook is not where "
                      "podman reads hooks, or did not run" % (uid, CONFIG_NAME, rc, (err.strip() or out.strip())[:300])}
