#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: host_audit
short_description: One host's verdict on the crun krun advisories, from its cruns and its container storage
version_added: 0.1.0
description:
  - Does in one module run what M(fleetfix.crun.crun_info) and M(fleetfix.crun.krun_config) (with
    O(fleetfix.crun.krun_config#module:state=audited)) do, and judges the host from both, so a fleet audit
    costs one round trip per host.
  - A host is C(affected) when a crun on it can run the krun handler in an affected version, or when its
    container storage holds a C(.krun_config.json) that other users cannot read, whatever crun runs now.
  - Returns the verdict as the host fact C(ansible_facts.fleetfix_crun) and, unless O(facts_file) is empty, writes it as
    JSON to a local facts file, so C(ansible_local.fleetfix_crun) has it on later runs.
  - Changes nothing but O(facts_file), and that only when its content differs.
author: Fleetfix crun maintainers (@fleetfix)
extends_documentation_fragment:
  - fleetfix.crun.attributes
  - fleetfix.crun.attributes.HOST_ROOT
  - fleetfix.crun.attributes.DISCOVERY
  - fleetfix.crun.attributes.STORAGE
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Shows the facts file before and after.
options:
  facts_file:
    description:
      - Where to write the verdict as a local facts file, on the managed host itself (not under O(root)).
        Empty to write nothing.
    type: str
    default: /etc/ansible/facts.d/fleetfix_crun.fact
  check_upgrade:
    description:
      - Also ask the host's package manager, from its current cache (never refreshing it), whether it offers a
        fixed crun for the crun packages below the fixed version; the answer is RV(upgrade).
      - The remediate role sets this, so a host where nothing is offered needs no extra round trip for
        the upgrade role. Ignored when O(root) is not C(/).
      - The query may take up to a minute (apt without a binary cache parses every package list); when the
        package manager does not answer, RV(upgrade.checked) is false and the audit goes on.
      - With O(remediation), only the packages its plan could upgrade are asked about - under O(remediation.strategy)
        C(auto) or C(hook), those of a crun an advisory binds to a newer crun or a libkrun advisory affects, so that
        a crun the plan never upgrades (Debian's 1.8.1 without the krun handler) costs no query. Nothing needed, no
        query, and no package manager code compiled.
    type: bool
    default: false
  remediation:
    description:
      - The remediation's settings as they apply to this host; when given, the result has RV(plan), what the
        C(fleetfix.crun.remediate) role does here and why. The remediate role passes its own, the upgrade role's and
        the hook role's variables (C(remediate_strategy), C(upgrade_*), C(hook_*)), so Ansible's variable precedence
        decides them; the defaults below are those roles' defaults.
      - Set O(check_upgrade) with it, or the plan cannot know that no fixed crun is offered and leaves the upgrade
        pending.
    type: dict
    suboptions:
      strategy:
        description: C(remediate_strategy).
        type: str
        choices: [auto, upgrade, hook, upgrade_and_hook]
        default: auto
      canary:
        description: C(remediate_canary).
        type: bool
        default: false
      upgrade:
        description: The upgrade role's settings.
        type: dict
        default: {}
        suboptions:
          update_cache:
            description: C(upgrade_update_cache); a refresh may bring a fixed version, so the upgrade stays pending.
            type: bool
            default: true
          packages:
            description: C(upgrade_packages).
            type: list
            elements: str
            default: []
          version:
            description: C(upgrade_version).
            type: str
            default: ""
          package_file:
            description: C(upgrade_package_file).
            type: str
            default: ""
          libkrun:
            description: C(upgrade_libkrun).
            type: bool
            default: true
      hook:
        description: The hook role's settings.
        type: dict
        default: {}
        suboptions:
          program_path:
            description: C(hook_program_path).
            type: str
            default: /usr/local/libexec/fleetfix-krun-hook
          program_sha256:
            description:
              - The SHA-256 of the hook program the hook role ships. Without it the hook cannot be seen to be in
                place, and a host that wants the hook has it pending.
            type: str
          python:
            description: C(hook_python).
            type: str
            default: /usr/bin/python3
          json_name:
            description: C(hook_json_name).
            type: str
            default: 50-fleetfix-krun.json
          dirs:
            description: C(hook_dirs).
            type: list
            elements: str
            default: []
          add_hooks_dir:
            description: C(hook_add_hooks_dir).
            type: str
            default: ""
seealso:
  - module: fleetfix.crun.crun_info
  - module: fleetfix.crun.krun_config
"""

EXAMPLES = r"""
- name: Audit this host and remember the verdict in its local facts
  fleetfix.crun.host_audit:

- name: Audit without writing anything
  fleetfix.crun.host_audit:
    facts_file: ""

- name: Act on the verdict
  ansible.builtin.debug:
    msg: "{{ ansible_facts.fleetfix_crun.summary }}"
  when: ansible_facts.fleetfix_crun.affected
"""

RETURN = r"""
ansible_facts:
  description: The verdict as host facts.
  returned: always
  type: dict
  contains:
    fleetfix_crun:
      description: The host report, with the keys described below.
      type: dict
      sample: {"status": "affected", "affected": true}
audited_at:
  description:
    - When the audit ran, in UTC (ISO 8601). Kept out of O(facts_file), so an unchanged verdict leaves the file as it
      is; the fact (and so a fact cache, and the rows a run publishes) carries it, and the report uses it to flag
      stale verdicts.
  returned: always
  type: str
  sample: "2026-12-04T10:55:00Z"
report_version:
  description: Version of this report's layout.
  returned: always
  type: int
  sample: 1
fixable:
  description:
    - Whether the host is affected by something the remediate role fixes - an affected crun (upgrade, hook) or
      owner-only files the sweep may change. The remediate role fails a host only while this stays true.
  returned: always
  type: bool
  sample: true
needs_person:
  description:
    - What remediation leaves to a person - a libkrun no fixed version is offered for (known with O(check_upgrade);
      without it, an affected libkrun is named with what the remediation would do), files the integrity rules
      leave alone.
  returned: always
  type: list
  elements: str
  sample: ["libkrun-env-escapes: upgrade libkrun to 1.18.1 or newer: no fixed version offered (the package cache offers
           libkrun 1.17.4-1.fc42) (neither a crun upgrade nor the hook helps)"]
status:
  description: The worst advisory status on the host, C(affected), C(unknown), C(fixed) or C(not_applicable).
  returned: always
  type: str
  sample: affected
affected:
  description: Whether the host is affected by any advisory.
  returned: always
  type: bool
  sample: true
summary:
  description: One line a person can read, with the reasons for anything affected or unknown.
  returned: always
  type: str
  sample: "affected | crun-1685 affected: crun 1.20 with +LIBKRUN (krun entry point /usr/bin/krun); fixed in 1.21"
why:
  description:
    - The reasons for the status, clause by clause, as the fleet report shows them - an advisory's first clause
      with its id and status, each further one with its id, then what storage holds beyond the verdicts. Built from
      the same verdicts as RV(summary); reports render it and never cut the summary apart.
  returned: always
  type: list
  elements: str
  sample: ["crun-1685 affected: crun 1.20 with +LIBKRUN (krun entry point /usr/bin/krun)", "crun-1685: fixed in 1.21"]
advisories:
  description: One verdict per advisory, merged over every crun and the storage evidence, each with C(id), C(status),
    C(reason) and C(clauses) as in RV(fleetfix.crun.crun_info#module:advisories).
  returned: always
  type: list
  elements: dict
  sample:
    - id: crun-1685
      status: affected
      reason: >-
        2 .krun_config.json file(s) in container storage cannot be read by other users; crun opens it
        O_TRUNC and keeps the old mode, so upgrading crun does not fix them
      clauses:
        - 2 .krun_config.json file(s) in container storage cannot be read by other users
        - crun opens it O_TRUNC and keeps the old mode, so upgrading crun does not fix them
    - {"id": "CVE-2025-24965", "status": "fixed", "reason": "crun 1.21 is at or above the fixed version 1.20"}
runtimes:
  description: Every crun found, as RV(fleetfix.crun.crun_info#module:runtimes).
  returned: always
  type: list
  elements: dict
  sample:
    - path: /usr/bin/crun
      realpath: /usr/bin/crun
      version: "1.21"
      commit: 10269840aa07fb7e6b7e1acff6198692d8ff5c88
      features: ["+SYSTEMD", "+SELINUX", "+APPARMOR", "+CAP", "+SECCOMP", "+EBPF", "+CRIU", "+WASM:wasmedge", "+YAJL"]
      libkrun: null
      krun_entrypoints: []
      problem: null
      package: {"manager": "dpkg", "name": "crun", "version": "1.21-1", "upstream_version": "1.21"}
      advisories:
        - {"id": "crun-1685", "status": "fixed", "reason": "crun 1.21 is at or above the fixed version 1.21"}
libkrun:
  description: The libkrun library found on the host, or null.
  returned: always
  type: str
  sample: null
files:
  description:
    - The C(.krun_config.json) files that are not C(ok), as RV(fleetfix.crun.krun_config#module:files).
    - Cut at the limits in RV(listed); RV(counts) always cover every file.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /var/lib/containers/storage/overlay/3f1c/diff/.krun_config.json
      kind: file
      mode: "0700"
      uid: 0
      gid: 0
      process_uid: 1234
      status: unreadable_by_user
      impact: env_lost
      container_id: 9e2d
      container_name: webapp
      layer: 3f1c
      driver: overlay
      storage_root: /var/lib/containers/storage
      storage_owner: root
      changed: false
counts:
  description: File counts by status, as RV(fleetfix.crun.krun_config#module:counts).
  returned: always
  type: dict
  sample: {"total": 3, "ok": 1, "unreadable_by_user": 2, "suspicious": 0, "changed": 0, "env_lost": 1,
           "image_layer": 1, "root_only": 0}
hooks:
  description: The fleetfix hook JSON files that podman or CRI-O would run; any makes crun-1685 C(mitigated).
  returned: always
  type: list
  elements: str
  sample: ["/usr/share/containers/oci/hooks.d/50-fleetfix-krun.json"]
hook_files:
  description:
    - The hooks of RV(hooks) with checksums of the JSON and of the program it runs, and the program's mode,
      which tell whether each is exactly what the hook role writes.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /usr/share/containers/oci/hooks.d/50-fleetfix-krun.json
      dir: /usr/share/containers/oci/hooks.d
      sha256: 4f7c0c6d0c1b7bd3a4e08f7f6b1c7a0d4b5b6e1c3a2f9d8e7c6b5a4f3e2d1c0b
      program: /usr/local/libexec/fleetfix-krun-hook
      program_sha256: 0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c
      program_mode: "0755"
hooks_dirs:
  description: Every hooks directory podman and CRI-O read on the host.
  returned: always
  type: list
  elements: str
  sample: ["/usr/share/containers/oci/hooks.d"]
upgrade:
  description: What the package manager's cache offers, with O(check_upgrade) only.
  returned: when O(check_upgrade) is true and O(root) is C(/)
  type: dict
  contains:
    checked:
      description: Whether the package manager answered; when false, nothing is known about what it offers.
      type: bool
    needed:
      description: The crun packages below the fixed version, with their installed version (with O(remediation),
        those its plan could upgrade).
      type: dict
    manager:
      description: The package manager asked.
      type: str
    offered:
      description: Every version offered for the first of RV(upgrade.needed).
      type: list
      elements: str
    fixed_offered:
      description: The newest offered version at or above the fixed one, or null.
      type: str
    libkrun:
      description: The libkrun packages an affected libkrun advisory asks to upgrade - C(name), C(path),
        C(installed), C(minimum), C(advisories), C(offered) and C(fixed_offered) (the version the upgrade would
        install, or null).
      type: list
      elements: dict
    libkrun_unowned:
      description: Paths of such libkruns that no package owns.
      type: list
      elements: str
    error:
      description: Why the package manager could not be asked, or null.
      type: str
  sample: {"checked": true, "needed": {"crun": "1.20-1"}, "manager": "apt", "offered": ["1.20-1"],
           "fixed_offered": null, "libkrun": [], "libkrun_unowned": [], "error": null}
storage_roots:
  description:
    - The stores scanned, as containers/storage uses them - each graphroot (C(source) C(default), C(storage.conf),
      C(rootless), C(crio.conf) or C(storage_roots)), each C(imagestore) and each C(additionalimagestores) entry
      - with the runroot whose records count when C(transient) (transient_store) is set.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/var/lib/containers/storage", "owner": "root", "source": "default", "containers": 12,
            "runroot": "/run/containers/storage", "transient": false, "records_from": null}]
listed:
  description: The limits RV(files), RV(errors) and the places in RV(coverage) are cut at, and what each cut left out,
      as RV(fleetfix.crun.krun_config#module:listed).
  returned: always
  type: dict
  sample: {"limits": {"user_files": 500, "files": 2000, "errors": 200, "not_examined": 200},
           "omitted": {"files": 0, "errors": 0, "not_examined": 0}}
coverage:
  description:
    - Whether everything that could change the verdict was examined. C(not_examined) names each place the host's
      tools use that the audit could not look at, with why (a storage driver it has no layout for, an additional
      layer store, a runtime binary someone other than root controls, which is never run as root).
    - While anything is not examined, or RV(errors) is not empty, no crun advisory reads C(fixed) or
      C(not_applicable); it is C(unknown), naming what was not seen.
  returned: always
  type: dict
  sample: {"complete": false, "not_examined": [{"path": "/var/lib/containers/storage/zfs",
           "why": "storage driver zfs: its layers are not examined (this audit reads overlay, vfs, btrfs, aufs layers)"}]}
plan:
  description:
    - What the C(fleetfix.crun.remediate) role does on this host and why, with O(remediation) only; it is not
      written to the facts file.
    - C(upgrade), C(hook), C(sweep) and C(canary) each have C(wanted) and C(clauses), the reasons, each a dict with
      C(text), C(advisories) (the advisory ids it answers) and C(evidence) (what on the host shows it).
    - C(upgrade.known_none) - the audit's package check shows that nothing fixed is offered and the settings ask for
      no refresh or chosen version, so the upgrade role is not run.
    - C(hook.in_place) - this exact hook is already in every hooks directory the host reads.
      C(hook.if_no_fixed_crun) - the hook is installed if the upgrade role finds no fixed crun.
    - C(pending) - the clauses of what is left to do; empty when the host is done after its audit.
  returned: when O(remediation) is given
  type: dict
  sample: {"strategy": "auto", "pending": [{"text": "1 owner-only file to fix", "advisories": ["crun-1685"],
           "evidence": []}],
           "upgrade": {"wanted": false, "known_none": true, "clauses": []},
           "hook": {"wanted": true, "if_no_fixed_crun": false, "in_place": true, "clauses": [
             {"text": "the hook is already installed and is kept", "advisories": ["crun-1685"],
              "evidence": ["/usr/share/containers/oci/hooks.d/50-fleetfix-krun.json"]}]},
           "sweep": {"wanted": true, "clauses": [{"text": "1 owner-only file to fix", "advisories": ["crun-1685"],
                                                  "evidence": []}]},
           "canary": {"wanted": false, "clauses": []}}
errors:
  description: What could not be read, with the reason; the audit went on without it, and the verdict says so.
  returned: always
  type: list
  elements: dict
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.fleetfix.crun.plugins.module_utils._audit import audit
from ansible_collections.fleetfix.crun.plugins.module_utils._hostfs import module_runner
from ansible_collections.fleetfix.crun.plugins.module_utils._files import write_json_atomically
from ansible_collections.fleetfix.crun.plugins.module_utils._params import (
    DISCOVERY_SPEC, HOST_ROOT_SPEC, REMEDIATION_SPEC, STORAGE_SPEC, argument_spec, problem)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            HOST_ROOT_SPEC, DISCOVERY_SPEC, STORAGE_SPEC,
            facts_file=dict(type="str", default="/etc/ansible/facts.d/fleetfix_crun.fact"),
            check_upgrade=dict(type="bool", default=False),
            remediation=dict(type="dict", options=REMEDIATION_SPEC),
        ),
        supports_check_mode=True,
    )
    bad = problem(module.params)
    if bad:
        module.fail_json(msg=bad)
    report = audit(module_runner(module), root=module.params["root"], paths=module.params["paths"],
                   timeout=module.params["timeout"],
                   extra_roots=module.params["storage_roots"], check_upgrade=module.params["check_upgrade"],
                   remediation=module.params["remediation"])
    result = dict(report, changed=False, ansible_facts={"fleetfix_crun": report})
    facts_file = module.params["facts_file"]
    if facts_file:
        try:
            # What the package cache offers and when the audit ran are not part of the verdict; keeping
            # them out keeps the file stable, so an unchanged host is not reported as changed.
            verdict = dict((key, value) for key, value in report.items() if key not in ("upgrade", "audited_at", "plan"))
            changed, before, after = write_json_atomically(facts_file, verdict, module.check_mode, mode=0o600)
        except (IOError, OSError) as exc:
            module.fail_json(msg="could not write facts file %s: %s" % (facts_file, to_native(exc)), **result)
        result["changed"] = changed
        if module._diff and changed:
            result["diff"] = {"before_header": facts_file, "after_header": facts_file,
                              "before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
