# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet_html
version_added: 0.1.0
short_description: The fleet report as one self-contained HTML page
description:
  - Renders the output of P(fleetfix.crun.fleet_summary#filter) as an HTML page with no external assets
    (inline CSS and SVG) - counts per host status, a bar chart of hosts and of container config files by
    status, the hosts that need action with the reason and the recommended action, the stale or suspicious
    C(.krun_config.json) files with their containers, and the advisories.
  - Holds no timestamp, so an unchanged fleet renders byte-identical pages.
author: fleetfix.crun contributors
positional: title
options:
  _input:
    description: The fleet summary.
    type: dict
    required: true
  title:
    description: The page title.
    type: str
    default: fleetfix.crun fleet report
"""

EXAMPLES = r"""
- name: Write the HTML report
  ansible.builtin.copy:
    content: "{{ hostvars | fleetfix.crun.fleet_summary(ansible_play_hosts_all) | fleetfix.crun.fleet_html }}"
    dest: /srv/reports/fleet.html
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: The HTML document.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.plugin_utils import _fleet_report as report


def fleet_html(summary, title="fleetfix.crun fleet report"):
    try:
        return report.render_html(report.require_summary(summary, "fleet_html"), title)
    except report.ReportError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"fleet_html": fleet_html}
