#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: crun_upgrade
short_description: Upgrade crun to a version that fixes the krun advisories, if the repositories offer one
version_added: 0.1.0
description:
  - Finds the packages that own the crun binaries below the fixed version (crun 1.21, containers/crun issue
    1685), asks the host's package manager (apt, dnf, yum or zypper) which versions the configured repositories
    offer, and installs the newest fixed one (or O(version), or O(package_file)).
  - When no fixed version is offered it changes nothing and returns RV(upgrade_available=false) instead of
    failing, so a caller can fall back to the OCI hook.
  - Where a libkrun advisory is affected (the libkrun crun loads is too old for what that crun asks of it), it also
    upgrades the package that owns that libkrun to the lowest version that fixes them all (the newest offered that
    the advisory table knows), in the same transaction as crun, judged for the crun being installed. Where no
    fixed libkrun is offered it says so in RV(libkrun.reason) and does not fail - no hook helps there, a person
    must act.
  - After installing it runs the discovery of M(fleetfix.crun.crun_info) again and fails if crun is still below
    the fixed version or the libkrun it upgraded is still affected.
  - A locked package manager or an unreachable repository fails the task with the package manager's message;
    the package manager itself leaves the system as it was.
  - Never restarts containers. Containers created before the upgrade keep their owner-only
    C(/.krun_config.json); fix those with M(fleetfix.crun.krun_config).
author: Fleetfix crun maintainers (@fleetfix)
extends_documentation_fragment:
  - fleetfix.crun.attributes
attributes:
  check_mode:
    support: full
    details: Reports the version that would be installed, from the package lists already on the host.
  diff_mode:
    support: full
    details: The installed package versions before and after (or that would be, in check mode).
options:
  names:
    description:
      - Packages to upgrade. Default - the packages that own the crun binaries below the fixed version.
        On Fedora name C(crun-krun) too, for the krun entry point.
    type: list
    elements: str
    default: []
  version:
    description: Install exactly this package version (it must be offered and must be fixed, unless O(downgrade)).
    type: str
  downgrade:
    description:
      - Go back to exactly O(version), even below the fixed one - the rollback of an upgrade, through the same
        package-manager adapters (C(apt-get install --allow-downgrades), C(dnf downgrade),
        C(zypper install --oldpackage)). O(version) is required; it must be offered by the repositories, or
        nothing changes and the task fails. Only the first of O(names) (default C(crun)) is changed.
    type: bool
    default: false
  package_file:
    description: Install this package file (C(.deb) or C(.rpm)) on the host instead of asking the repositories.
    type: path
  libkrun:
    description:
      - Also upgrade the package that owns the C(libkrun.so.1) crun loads when a libkrun advisory is affected there
        (RV(fleetfix.crun.crun_info#module:runtimes[].libkrun_package)). With O(package_file) the libkrun comes
        from the package lists already on the host. Ignored with O(downgrade).
    type: bool
    default: true
  update_cache:
    description: Refresh the package lists first (not in check mode, not with O(package_file)).
    type: bool
    default: true
  timeout:
    description: Seconds each package-manager command may take.
    type: int
    default: 600
seealso:
  - module: fleetfix.crun.crun_info
  - module: fleetfix.crun.krun_config
"""

EXAMPLES = r"""
- name: Upgrade crun if the repositories have a fixed version
  fleetfix.crun.crun_upgrade:
  register: crun_upgrade

- name: Fall back to the hook where no fixed crun is offered
  ansible.builtin.include_role:
    name: fleetfix.crun.hook
  when: not crun_upgrade.upgrade_available

- name: Install a fixed crun and its krun subpackage from a local file
  fleetfix.crun.crun_upgrade:
    names: [crun, crun-krun]
    package_file: /srv/packages/crun-1.21-1.fc41.x86_64.rpm

- name: Go back to the crun that was installed before (rollback)
  fleetfix.crun.crun_upgrade:
    version: 1.8.1-1+deb12u1
    downgrade: true
"""

RETURN = r"""
upgrade_needed:
  description: Whether a crun package below the fixed version was installed.
  returned: unless O(downgrade)
  type: bool
  sample: true
upgrade_available:
  description: Whether a fixed version is installed or offered. False means nothing was changed.
  returned: unless O(downgrade)
  type: bool
  sample: false
fixed_version:
  description: The first fixed crun version, from the advisory data.
  returned: unless O(downgrade)
  type: str
  sample: "1.21"
installed_before:
  description: Packages below the fixed version, with their installed versions (with O(downgrade), the package
    to go back, with its installed version).
  returned: always
  type: dict
  sample: {"crun": "1.20-2.fc41"}
target_version:
  description: The version installed (or that would be, in check mode); null when none.
  returned: always
  type: str
  sample: 1.21-1.fc41
manager:
  description: The package manager used.
  returned: always
  type: str
  sample: dnf
reason:
  description: What was decided, in words.
  returned: always
  type: str
  sample: "the configured repositories offer crun 1.8.1-1+deb12u1; none is 1.21 or newer"
libkrun:
  description: What was done about libkrun.
  returned: unless O(downgrade)
  type: dict
  contains:
    needed:
      description: Whether a libkrun advisory is affected on this host (for the crun being installed, if any).
      type: bool
    available:
      description: Whether every such libkrun has a fixed version offered. False means a person must act (see
        RV(libkrun.reason)); the task does not fail for it.
      type: bool
    changed:
      description: Whether a libkrun package was (or, in check mode, would be) upgraded.
      type: bool
    packages:
      description: One item per libkrun package to upgrade - C(name), C(path) (the library crun loads),
        C(installed), C(minimum) (the lowest fixed version), C(advisories), C(offered), C(target_version) (null
        when none is offered).
      type: list
      elements: dict
    unowned:
      description: Paths of such libkruns that no package owns (no package manager can upgrade them).
      type: list
      elements: str
    reason:
      description: What was decided, in words.
      type: str
  sample:
    needed: true
    available: false
    changed: false
    packages: [{"name": "libkrun1", "path": "/usr/lib/x86_64-linux-gnu/libkrun.so.1", "installed": "1.17.0-1",
                "minimum": "1.18.1", "advisories": ["libkrun-env-escapes"], "offered": ["1.17.0-1"],
                "target_version": null}]
    unowned: []
    reason: "upgrade libkrun: no fixed version offered (the configured repositories offer libkrun1 1.17.0-1;
             1.18.1 or newer fixes libkrun-env-escapes)"
runtimes:
  description: The crun binaries after the run, as RV(fleetfix.crun.crun_info#module:runtimes).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/usr/bin/crun", "version": "1.21"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetfix.crun.plugins.module_utils._hostfs import CommandTimeout, module_runner
from ansible_collections.fleetfix.crun.plugins.module_utils._packages import PackageError, package_diff, rollback, upgrade
from ansible_collections.fleetfix.crun.plugins.module_utils._params import problem


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", default=[]),
            version=dict(type="str"),
            package_file=dict(type="path"),
            update_cache=dict(type="bool", default=True),
            timeout=dict(type="int", default=600),
            downgrade=dict(type="bool", default=False),
            libkrun=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("version", "package_file"), ("downgrade", "package_file")],
        required_if=[("downgrade", True, ("version",))],
        supports_check_mode=True,
    )
    params = module.params
    bad = problem(params)
    if bad:
        module.fail_json(msg=bad)
    try:
        if params["downgrade"]:
            result = rollback(module_runner(module), name=(params["names"] or ["crun"])[0], version=params["version"],
                              update=params["update_cache"], check_mode=module.check_mode, timeout=params["timeout"])
        else:
            result = upgrade(module_runner(module), names=params["names"], version=params["version"],
                             package_file=params["package_file"], update=params["update_cache"],
                             check_mode=module.check_mode, timeout=params["timeout"], libkrun=params["libkrun"])
            if module._diff:
                result["diff"] = package_diff(result)
    except PackageError as exc:
        module.fail_json(msg=str(exc))
    except CommandTimeout as exc:
        module.fail_json(msg="the package manager did not finish: %s" % exc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
