#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: oci_hook
short_description: Install or remove the OCI hook that fixes C(/.krun_config.json) at every container start
version_added: 0.1.0
description:
  - Writes a hook JSON (schema 1.0.0, stage C(createRuntime), C(when.always)) that runs the hook program with
    O(python) into every hooks directory podman and CRI-O on the host read - C(hooks_dir) from
    C(containers.conf) with its drop-ins and from C(crio.conf), else podman's built-in
    C(/usr/share/containers/oci/hooks.d) - or into O(hooks_dirs).
  - With O(add_hooks_dir), also writes a C(containers.conf) drop-in that keeps the directories already in
    effect and adds that one, and places the hook JSON there too.
  - podman re-reads hook files at every container start and one invalid file makes every start fail. So the
    hook JSON is checked with podman's rules before it is placed, the existing hook files of each target
    directory are checked first (any invalid one fails the task and nothing is changed), and each file is
    replaced atomically, the program (O(program_content)) before the hook JSON that names it.
  - O(state=absent) removes the drop-in (only if this module wrote it), then the hook JSON, then O(program).
author: Fleetfix crun maintainers (@fleetfix)
extends_documentation_fragment:
  - fleetfix.crun.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  state:
    description: Whether the hook is installed.
    type: str
    choices: [present, absent]
    default: present
  program:
    description: Where the hook program is installed on the host.
    type: path
    default: /usr/local/libexec/fleetfix-krun-hook
  program_content:
    description:
      - The hook program itself. When given, it is written to O(program) (mode C(0755)) before any hook JSON,
        The C(fleetfix.crun.hook) role passes C(roles/hook/files/fleetfix-krun-hook) here, so the whole
        installation is one module run.
      - When not given, O(program) must already be installed.
    type: str
  python:
    description: The Python interpreter that runs the hook program (standard library only).
    type: path
    default: /usr/bin/python3
  name:
    description: File name of the hook JSON in each hooks directory.
    type: str
    default: 50-fleetfix-krun.json
  hooks_dirs:
    description: Hooks directories to use instead of the ones discovered.
    type: list
    elements: path
    default: []
  add_hooks_dir:
    description:
      - A hooks directory to add to podman's C(hooks_dir) through a C(containers.conf) drop-in, for hosts whose
        podman reads no directory you want to use. Empty for none.
      - Like every hooks directory the hook goes into, it and every directory above it must belong to root and be
        writable by no one else (podman runs as root every hook named there); otherwise nothing is changed and
        the module fails naming the directory.
    type: str
    default: ""
  dropin:
    description: The C(containers.conf) drop-in written for O(add_hooks_dir) (and removed with O(state=absent)).
    type: path
    default: /etc/containers/containers.conf.d/50-fleetfix-hooks-dir.conf
seealso:
  - module: fleetfix.crun.krun_config
"""

EXAMPLES = r"""
- name: Install the hook where podman and CRI-O read hooks
  fleetfix.crun.oci_hook:
    program: /usr/local/libexec/fleetfix-krun-hook
    program_content: "{{ lookup('ansible.builtin.file', 'fleetfix-krun-hook', rstrip=false) }}"

- name: Also make podman read /etc/containers/oci/hooks.d and put the hook there
  fleetfix.crun.oci_hook:
    add_hooks_dir: /etc/containers/oci/hooks.d

- name: Remove the hook and the drop-in
  fleetfix.crun.oci_hook:
    state: absent
    add_hooks_dir: /etc/containers/oci/hooks.d
"""

RETURN = r"""
hooks_dirs:
  description: The directories the hook JSON was placed in (or removed from).
  returned: always
  type: list
  elements: str
  sample: ["/usr/share/containers/oci/hooks.d"]
discovered:
  description: The hooks directories podman and CRI-O read, and the file that set each.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/usr/share/containers/oci/hooks.d", "source": "podman default"}]
document:
  description: The hook JSON.
  returned: always
  type: dict
  sample:
    version: 1.0.0
    hook:
      path: /usr/bin/python3
      args: ["python3", "-I", "-S", "/usr/local/libexec/fleetfix-krun-hook"]
      timeout: 10
    when: {"always": true}
    stages: ["createRuntime"]
changed_paths:
  description: Files written or removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["/usr/share/containers/oci/hooks.d/50-fleetfix-krun.json"]
invalid_hooks:
  description: Existing hook files podman would refuse, each with the reason. When not empty the module failed.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/usr/share/containers/oci/hooks.d/broken.json", "problem": "stages must be a non-empty list"}]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.fleetfix.crun.plugins.module_utils import _hooks as hooks


def _unique(paths):
    seen = []
    for path in paths:
        if path and path not in seen:
            seen.append(path)
    return seen


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            program=dict(type="path", default="/usr/local/libexec/fleetfix-krun-hook"),
            program_content=dict(type="str", no_log=False),
            python=dict(type="path", default="/usr/bin/python3"),
            name=dict(type="str", default="50-fleetfix-krun.json"),
            hooks_dirs=dict(type="list", elements="path", default=[]),
            add_hooks_dir=dict(type="str", default=""),
            dropin=dict(type="path", default="/etc/containers/containers.conf.d/50-fleetfix-hooks-dir.conf"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    for option in ("program", "python", "add_hooks_dir", "dropin"):
        if params[option] and not params[option].startswith("/"):
            module.fail_json(msg="%s must be an absolute path, got %r" % (option, params[option]))
    if "/" in params["name"] or not params["name"].endswith(".json"):
        module.fail_json(msg="name must be a file name ending in .json, got %r" % params["name"])

    discovered, errors = hooks.hooks_dirs(skip_dropin=params["dropin"])
    targets = _unique((params["hooks_dirs"] or [d["path"] for d in discovered]) + [params["add_hooks_dir"]])
    document = hooks.hook_document(params["python"], params["program"])
    result = dict(changed=False, hooks_dirs=targets, discovered=discovered, document=document, changed_paths=[],
                  invalid_hooks=[], config_errors=errors)
    unsafe = [(directory, hooks.unsafe_hooks_dir(directory)) for directory in targets]
    unsafe = [(directory, why) for directory, why in unsafe if why]
    if unsafe and params["state"] == "present":
        module.fail_json(msg="nothing changed: refusing hooks directories that are not root's alone: %s"
                         % "; ".join(why for _directory, why in unsafe), **result)

    try:
        if params["state"] == "absent":
            changes, diff = hooks.uninstall(targets, params["name"], params["dropin"], module.check_mode,
                                            params["program"])
        else:
            bad = hooks.problems(document)
            if params["program_content"] is None and not module.check_mode and not os.path.isfile(params["program"]):
                bad.append("the hook program %s is not installed" % params["program"])
            if bad:
                module.fail_json(msg="refusing to install an invalid hook: %s" % "; ".join(bad), **result)
            invalid = [{"path": path, "problem": problem} for directory in targets
                       for path, problem in hooks.invalid_hook_files(directory, params["name"])]
            if invalid:
                result["invalid_hooks"] = invalid
                module.fail_json(msg="nothing changed: podman refuses every container start while these hook files "
                                     "are invalid; fix or remove them first: %s"
                                     % "; ".join("%s (%s)" % (i["path"], i["problem"]) for i in invalid), **result)
            dropin_dirs = _unique([d["path"] for d in discovered] + [params["add_hooks_dir"]])
            program = None if params["program_content"] is None else (params["program"], params["program_content"])
            changes, diff = hooks.install(targets, params["name"], document,
                                          params["dropin"] if params["add_hooks_dir"] else None, dropin_dirs,
                                          module.check_mode, program)
    except (IOError, OSError) as exc:
        module.fail_json(msg="could not update the hook files: %s" % to_native(exc), **result)

    result.update(changed=bool(changes), changed_paths=changes)
    if module._diff and changes:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
