#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary
short_description: Prove that a non-root container can read its C(/.krun_config.json) on this host
version_added: 0.1.0
description:
  - Imports a throwaway image whose only file is an owner-only (C(0700)) C(/.krun_config.json) - the state an
    affected crun leaves - and runs it with podman's normal configuration as a non-root user, with the host's
    C(/usr) and friends bound read-only, to C(cat) that file. Removes the image afterwards.
  - With the hook of M(fleetfix.crun.oci_hook) where podman reads hooks, the file is made readable before the
    container starts and the canary passes. This proves the part a unit test cannot - the host's real runtime,
    hooks directory and hook program working together.
  - Fails when the container cannot read the file. Skips (without failing) when podman is not installed, and in
    check mode.
  - With O(krun) (a krun entry point, for example the first of the audit's C(krun_entrypoints)), it tests the
    symptom itself instead - a non-root container started with that runtime and a marker variable
    (C(-e FLEETFIX_CANARY=...)) must receive it - where that handler can start; where it cannot (libkrun not
    loadable), it falls back to the file-mode canary above and says so. RV(kind) tells which ran.
author: Fleetfix crun maintainers (@fleetfix)
extends_documentation_fragment:
  - fleetfix.crun.attributes
attributes:
  check_mode:
    support: partial
    details: Does nothing in check mode and returns RV(status=skipped), since it starts a container.
  diff_mode:
    support: none
options:
  uid:
    description: The non-root user id the container runs as.
    type: int
    default: 1234
  image:
    description: Name for the throwaway image.
    type: str
    default: localhost/fleetfix-canary:latest
  timeout:
    description: Seconds each podman command may take.
    type: int
    default: 120
  krun:
    description:
      - A krun entry point (C(krun), C(crun-krun)) to run the symptom canary with, as C(podman --runtime).
      - Omit it to run the file-mode canary with crun's normal handler.
    type: path
"""

EXAMPLES = r"""
- name: Check that the hook works under podman's real configuration
  fleetfix.crun.canary:
  register: canary

- name: Check that a non-root krun container gets its environment
  fleetfix.crun.canary:
    krun: /usr/bin/krun
  register: canary
"""

RETURN = r"""
status:
  description: C(passed), C(failed) or C(skipped).
  returned: always
  type: str
  sample: passed
kind:
  description: Which canary ran - C(symptom) (a krun container's environment), C(file mode) (a non-root
    container reading an owner-only config), or null when skipped.
  returned: always
  type: str
  sample: symptom
reason:
  description: What happened, in words.
  returned: always
  type: str
  sample: "a container running as uid 1234 read its owner-only .krun_config.json"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetfix.crun.plugins.module_utils._canary import canary
from ansible_collections.fleetfix.crun.plugins.module_utils._hostfs import module_runner
from ansible_collections.fleetfix.crun.plugins.module_utils._params import problem


def main():
    module = AnsibleModule(
        argument_spec=dict(
            uid=dict(type="int", default=1234),
            image=dict(type="str", default="localhost/fleetfix-canary:latest"),
            timeout=dict(type="int", default=120),
            krun=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    bad = problem(module.params)
    if module.params["uid"] < 1:
        bad = "uid must be a non-root user id (1 or more), got %d" % module.params["uid"]
    if bad:
        module.fail_json(msg=bad)
    if module.check_mode:
        module.exit_json(changed=False, status="skipped", kind=None, reason="check mode: the canary starts a container")
    result = canary(module_runner(module), uid=module.params["uid"], image=module.params["image"],
                    timeout=module.params["timeout"], krun=module.params["krun"])
    if result["status"] == "failed":
        module.fail_json(msg="canary failed: %s" % result["reason"], changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
