#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: crun_info
short_description: Find every crun on a host and judge it against the krun advisories
version_added: 0.1.0
description:
  - Finds every C(crun) binary on the host, in C(PATH), the standard locations, C(krun) and C(crun-krun)
    entry points, and the runtimes named in C(containers.conf) (with drop-ins) and C(crio.conf).
  - Runs each distinct binary once with C(--version) under a C locale and a timeout, and reports its version,
    commit and build features, the libkrun library the dynamic linker would find, and the package that owns it.
  - Evaluates advisories C(crun-1685) (owner-only C(/.krun_config.json), fixed in crun 1.21) and
    C(CVE-2025-24965) (config written through a symlink, fixed in crun 1.20) for each binary, with the reason.
  - A binary that hangs, crashes, exits non-zero or prints something that is not crun's version text gets
    status C(unknown) with the reason; the module itself still succeeds.
  - Read-only. It never reports a change.
author: Fleetfix crun maintainers (@fleetfix)
extends_documentation_fragment:
  - fleetfix.crun.attributes
  - fleetfix.crun.attributes.HOST_ROOT
  - fleetfix.crun.attributes.DISCOVERY
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options: {}
notes:
  - C(+LIBKRUN) in the features says the binary was built with the krun handler; the handler can only run
    when libkrun is installed or a C(krun) entry point exists, so both are reported as evidence.
  - libkrun is looked for where that binary's dynamic loader finds it - its C(DT_RPATH) or C(DT_RUNPATH)
    (C($ORIGIN) expanded), then the directories of C(/etc/ld.so.conf) and the defaults - and only in the
    flavours crun loads - C(libkrun.so.1), C(libkrun-sev.so.1) and, from crun 1.27, C(libkrun-awsnitro.so.1);
    never C(libkrun-tdx.so.1). A crun that can load only the SEV flavour is not affected by crun-1685 - SEV
    guests read their configuration from the encrypted disk image.
seealso:
  - module: fleetfix.crun.krun_config
  - module: fleetfix.crun.host_audit
"""

EXAMPLES = r"""
- name: Find every crun on the host
  fleetfix.crun.crun_info:
  register: crun

- name: Show the versions found
  ansible.builtin.debug:
    msg: "{{ crun.runtimes | map(attribute='version') | list }}"

- name: Inspect a mounted image and a crun in an unusual place
  fleetfix.crun.crun_info:
    root: /mnt/image
    paths:
      - /opt/vendor/bin/crun
    timeout: 10
"""

RETURN = r"""
affected:
  description: Whether any crun found is affected by any advisory.
  returned: always
  type: bool
  sample: true
advisories:
  description: One verdict per advisory, merged over every crun found; the worst status wins.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Advisory id.
      type: str
      sample: crun-1685
    status:
      description: One of C(affected), C(fixed), C(not_applicable), C(unknown).
      type: str
      sample: affected
    reason:
      description: The evidence behind the status, as one line (RV(advisories[].clauses) joined with C("; ")).
      type: str
      sample: "crun 1.20 with +LIBKRUN (krun entry point /usr/bin/krun); fixed in 1.21"
    clauses:
      description: The same evidence, clause by clause, for reports to render (never parse RV(advisories[].reason)).
      type: list
      elements: str
      sample: ["crun 1.20 with +LIBKRUN (krun entry point /usr/bin/krun)", "fixed in 1.21"]
  sample:
    - id: crun-1685
      status: affected
      reason: "crun 1.20 with +LIBKRUN (krun entry point /usr/bin/krun; libkrun at /usr/lib64/libkrun.so.1); fixed in 1.21"
    - id: CVE-2025-24965
      status: fixed
      reason: "crun 1.20 is at or above the fixed version 1.20"
libkrun:
  description: The C(libkrun.so.1) the first crun that has one would load, or null.
  returned: always
  type: str
  sample: /usr/lib64/libkrun.so.1
runtimes:
  description: One item per distinct crun binary (symlinks to the same binary are one item).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path the binary was found under.
      type: str
      sample: /usr/bin/crun
    realpath:
      description: The binary after resolving symlinks (inside O(root)).
      type: str
      sample: /usr/bin/crun
    version:
      description: The version crun printed, or null when it could not be read.
      type: str
      sample: "1.20"
    commit:
      description: The commit crun printed, or null.
      type: str
      sample: 9c9a76ac11994701dd666c4f0b869ceffb599a66
    features:
      description: Build feature tags crun printed; empty when it printed none.
      type: list
      elements: str
      sample: ["+SYSTEMD", "+SELINUX", "+CAP", "+SECCOMP", "+LIBKRUN", "+YAJL"]
    libkrun:
      description: The C(libkrun.so.1) this binary would load, or null.
      type: str
      sample: /usr/lib64/libkrun.so.1
    libkrun_version:
      description: The version of that C(libkrun.so.1) - from the versioned file its soname link points to, else
        from the package that owns it - or null when neither tells.
      type: str
      sample: "1.11.1"
    libkrun_package:
      description: The package that owns that C(libkrun.so.1) (same shape as RV(runtimes[].package)), or null. It is
        what M(fleetfix.crun.crun_upgrade) upgrades when a libkrun advisory is affected.
      type: dict
      sample: {"manager": "rpm", "name": "libkrun", "version": "1.17.4-1.fc42", "upstream_version": "1.17.4"}
    libkrun_flavours:
      description: Each libkrun flavour this binary would load, by soname, where its loader finds it.
      type: dict
      sample: {"libkrun.so.1": "/usr/lib64/libkrun.so.1", "libkrun-sev.so.1": "/usr/lib64/libkrun-sev.so.1"}
    krun_entrypoints:
      description: Paths through which this binary runs as its krun handler.
      type: list
      elements: str
      sample: ["/usr/bin/krun"]
    package:
      description: The package that owns the binary (C(manager), C(name), C(version), C(upstream_version)), or null.
      type: dict
      sample: {"manager": "rpm", "name": "crun", "version": "1.20-2.fc41", "upstream_version": "1.20"}
    advisories:
      description: Verdicts for this binary, same shape as the top-level RV(advisories).
      type: list
      elements: dict
      sample:
        - id: crun-1685
          status: affected
          reason: "crun 1.20 with +LIBKRUN (krun entry point /usr/bin/krun); fixed in 1.21"
    problem:
      description: Why C(--version) could not be fully read, or null.
      type: str
      sample: "/usr/bin/crun --version timed out after 5s"
other_runtimes:
  description:
    - Runtimes the container tools' configuration names (C([engine] runtime), C([engine.runtimes]), CRI-O's
      C([crio.runtime.runtimes])) that answered C(--version) as another program (runc, kata...). Each was examined
      and is not a crun.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/usr/bin/runc", "realpath": "/usr/bin/runc"}]
not_examined:
  description:
    - Runtime binaries that were not run, with why. A binary, or a directory on its way, that a user other than
      root owns or may write is never run as root; while one is listed, no advisory reads C(fixed) or
      C(not_applicable).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/opt/alice/krun", "why": "runtime /opt/alice/krun: /opt/alice belongs to uid 1000 or others
            may write it: not run as root to ask its version"}]
errors:
  description: Configuration files that could not be parsed; the rest of the discovery went on, and the verdicts say so.
  returned: always
  type: list
  elements: str
  sample: ["/etc/containers/containers.conf: unterminated array"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetfix.crun.plugins.module_utils._crun import crun_info
from ansible_collections.fleetfix.crun.plugins.module_utils._hostfs import module_runner
from ansible_collections.fleetfix.crun.plugins.module_utils._params import (
    DISCOVERY_SPEC, HOST_ROOT_SPEC, argument_spec, problem)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(HOST_ROOT_SPEC, DISCOVERY_SPEC),
        supports_check_mode=True,
    )
    bad = problem(module.params)
    if bad:
        module.fail_json(msg=bad)
    result = crun_info(module_runner(module), root=module.params["root"], paths=module.params["paths"],
                       timeout=module.params["timeout"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
