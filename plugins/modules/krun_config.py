#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: krun_config
short_description: Find and fix the C(/.krun_config.json) files that crun's krun handler left in container storage
version_added: 0.1.0
description:
  - crun 1.7.1 to 1.20 write C(/.krun_config.json) into a container's rootfs with mode C(0700), so the
    microVM cannot read it as a non-root container user and the container loses its environment
    (containers/crun issue 1685). Fixed crun versions open the existing file with C(O_TRUNC) and keep its
    mode, so containers created before an upgrade stay broken until the file is fixed.
  - Looks for the file at the top of every layer of every container storage on the host, rootful
    (graphroot from C(storage.conf), default C(/var/lib/containers/storage)), CRI-O's (C(crio.conf)),
    rootless storage of every user with a home directory (honouring the user's own C(storage.conf)) and
    O(storage_roots). Supports the C(overlay) and C(vfs) drivers. It never walks a container's filesystem;
    the cost is one look-up per layer.
  - Maps each file to its container (id and name from the storage's C(containers.json)).
  - With O(state=fixed) sets O(mode) on every regular file that other users cannot read, through a
    descriptor opened with C(O_NOFOLLOW). A symlink or any other non-regular file is reported as
    C(suspicious) (the CVE-2025-24965 pattern) and never followed or changed.
author: Fleetfix crun maintainers (@fleetfix)
extends_documentation_fragment:
  - fleetfix.crun.attributes
  - fleetfix.crun.attributes.HOST_ROOT
  - fleetfix.crun.attributes.STORAGE
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  state:
    description:
      - V(audited) only reports.
      - V(fixed) sets O(mode) on each regular file that other users cannot read.
    type: str
    choices: [audited, fixed]
    default: audited
  mode:
    description:
      - The mode to give a file that other users cannot read, as an octal string. It must let others read the
        file and must not let group or others write it. The default is what crun 1.21 and later write.
    type: str
    default: "0444"
notes:
  - Image layers are scanned too. A file in an image layer (left there by C(podman commit) of an affected
    container) reaches every container made from that image, so it is reported with RV(files[].container_id=null)
    and fixed like any other.
  - A running container sees the new mode at once; it needs no restart to read the file, but the microVM
    of a container that already started without its environment only gets it at its next start.
seealso:
  - module: fleetfix.crun.crun_info
  - module: fleetfix.crun.host_audit
"""

EXAMPLES = r"""
- name: Report every .krun_config.json in container storage
  fleetfix.crun.krun_config:
  register: krun_files

- name: Fix the files that non-root containers cannot read (see the changes with --diff)
  fleetfix.crun.krun_config:
    state: fixed

- name: Also fix a storage that is not configured in storage.conf
  fleetfix.crun.krun_config:
    state: fixed
    storage_roots:
      - /srv/containers/storage
"""

RETURN = r"""
files:
  description: Every C(.krun_config.json) found, one item each, up to the limits in RV(listed).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file, as seen from inside O(root).
      type: str
      sample: /var/lib/containers/storage/overlay/3f1c.../diff/.krun_config.json
    storage_root:
      description: The graphroot it was found in.
      type: str
      sample: /var/lib/containers/storage
    storage_owner:
      description: The user whose storage it is (C(root) for rootful storage), or null for O(storage_roots).
      type: str
      sample: root
    driver:
      description: The storage driver, C(overlay) or C(vfs).
      type: str
      sample: overlay
    layer:
      description: The layer that holds the file.
      type: str
      sample: 3f1c0b6a9d7e4c2f8a1b5e6d7c8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f
    container_id:
      description: The container whose layer it is, or null for an image layer.
      type: str
      sample: 9e2d4c6b8a0f1e3d5c7b9a1f3e5d7c9b1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d
    container_name:
      description: The container's first name, when known.
      type: str
      sample: webapp
    kind:
      description: C(file), C(symlink) or C(other) (directory, FIFO, socket, device).
      type: str
      sample: file
    target:
      description: Where a symlink points. Shown, never followed.
      type: str
      returned: when RV(files[].kind=symlink)
      sample: /etc/shadow
    mode:
      description: The file's mode now - after this run, or in check mode as it still is (RV(files[].mode_after) is
        what the fix would make of it; RV(files[].status) too stays the current one).
      type: str
      sample: "0444"
    mode_before:
      description: The mode before this run changed it (or, in check mode, would change it).
      type: str
      returned: when RV(files[].changed=true)
      sample: "0700"
    mode_after:
      description: The mode this run gave the file (or, in check mode, would give it).
      type: str
      returned: when RV(files[].changed=true)
      sample: "0444"
    uid:
      description: The file's owner on the host.
      type: int
      sample: 0
    gid:
      description: The file's group on the host.
      type: int
      sample: 0
    process_uid:
      description: C(process.user.uid) from the file itself (the container's user), or null when unreadable.
      type: int
      sample: 1234
    status:
      description: C(ok), C(unreadable_by_user) (the bug) or C(suspicious) (not a regular file).
      type: str
      sample: unreadable_by_user
    impact:
      description:
        - For a file that is (or was, before this run fixed it) owner-only, what it does to its containers -
          C(env_lost) (the container runs as a non-root user, or its user cannot be read - its environment is
          lost now), C(image_layer) (no container owns the layer - every non-root container started from
          that image loses its environment), C(root_only) (the container runs as root, which reads the file -
          nothing is lost; the file is fixed anyway, since an image committed from it would carry it).
        - null for other files.
      type: str
      sample: env_lost
    images:
      description:
        - For a file in a layer no container owns, the images whose layers include it - each with C(id),
          C(names), C(digest) and the C(containers) here that use it. A rebuild of each image is the only cure
          for other hosts - C(podman save) and C(podman push) export the layer as it was recorded.
        - At most 5 images, each with at most 5 names and 5 containers; C(images_total), C(names_total) and
          C(containers_total) count them all (a base layer under a thousand images stays one short record).
      type: list
      elements: dict
      returned: when RV(files[].container_id) is null
      sample: [{"id": "4f7c...", "names": ["localhost/app:1"], "names_total": 1, "digest": "sha256:9a1e...",
                "containers": ["web"], "containers_total": 1}]
    images_total:
      description: How many images include the file's layer.
      type: int
      returned: when RV(files[].container_id) is null
      sample: 1
    changed:
      description: Whether this run changed (or in check mode would change) the file's mode.
      type: bool
      sample: false
    error:
      description: Why the file's mode could not be fixed; the module then fails after the whole scan.
      type: str
      returned: when fixing this file failed
      sample: "could not fix mode: Read-only file system"
counts:
  description:
    - How many files have each status, how many there are and how many changed.
    - C(refused) counts the files left alone, each with its reason in C(error) (several hard links where root would
      change them, another user's file in someone's storage). They are findings, never a failure of the module;
      a person decides about them. C(refused_breaking) counts those of them that are owner-only and break a
      container (C(env_lost) or C(image_layer)).
    - The counts cover every file found, also when RV(files) is cut at its limit (RV(listed)).
  returned: always
  type: dict
  sample: {"total": 3, "ok": 1, "unreadable_by_user": 1, "suspicious": 1, "changed": 0, "env_lost": 1,
           "image_layer": 0, "root_only": 0, "refused": 0, "refused_breaking": 0}
listed:
  description:
    - What one scan returns is bounded whatever the storage holds - C(limits) states the bounds (files per user,
      files, errors and places not examined per host) and C(omitted) how many of each were left out. A user's
      child returns her files for root to mend first, then changed files, then those that break a container.
    - A cut list never changes a verdict - RV(counts) cover every file and any error keeps the verdict from
      reading C(fixed).
  returned: always
  type: dict
  sample: {"limits": {"user_files": 500, "files": 2000, "errors": 200, "not_examined": 200},
           "omitted": {"files": 0, "errors": 0, "not_examined": 0}}
storage_roots:
  description:
    - The stores scanned (graphroots, C(imagestore), C(additionalimagestores) entries), who owns each, where it
      came from and how many containers it holds.
  returned: always
  type: list
  elements: dict
  sample:
    - {"path": "/var/lib/containers/storage", "owner": "root", "source": "default", "containers": 12}
    - {"path": "/home/alice/.local/share/containers/storage", "owner": "alice", "source": "rootless", "containers": 2}
not_examined:
  description:
    - Places the host's container tools use that the scan could not look at, with why - a storage driver it has
      no layout for (zfs), an additional layer store. Together with RV(errors), what the scan did not see.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/var/lib/containers/storage/zfs",
            "why": "storage driver zfs: its layers are not examined (this audit reads overlay, vfs, btrfs, aufs layers)"}]
errors:
  description: Paths that could not be read or fixed, with the reason; the rest of the scan went on.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/home/bob/.local/share/containers/storage/overlay", "error": "Permission denied"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetfix.crun.plugins.module_utils._params import (
    HOST_ROOT_SPEC, STORAGE_SPEC, argument_spec, parse_mode, problem)
from ansible_collections.fleetfix.crun.plugins.module_utils._storage import scan


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            HOST_ROOT_SPEC, STORAGE_SPEC,
            state=dict(type="str", choices=["audited", "fixed"], default="audited"),
            mode=dict(type="str", default="0444"),
        ),
        supports_check_mode=True,
    )
    bad = problem(module.params)
    if bad:
        module.fail_json(msg=bad)
    result = scan(root=module.params["root"], extra_roots=module.params["storage_roots"],
                  fix=module.params["state"] == "fixed", mode=parse_mode(module.params["mode"]),
                  check_mode=module.check_mode)
    changed_files = [f for f in result["files"] if f["changed"]]
    result["changed"] = result["counts"]["changed"] > 0  # the listing may be cut; the counts never are
    if module._diff and changed_files:
        result["diff"] = {
            "before": "".join("%s mode=%s\n" % (f["path"], f["mode_before"]) for f in changed_files),
            "after": "".join("%s mode=%s\n" % (f["path"], f["mode_after"]) for f in changed_files),
        }
    # Files left alone (a hard link root may not change, a file of another user in someone's
    # storage) are findings, reported with their reason, never a failure: ordinary image content
    # must not stop a rollout.
    refused = result["counts"]["refused"]
    if refused:
        result["msg"] = "%d file(s) left alone, each with its reason in files[].error: they need a person" % refused
    module.exit_json(**result)


if __name__ == "__main__":
    main()
