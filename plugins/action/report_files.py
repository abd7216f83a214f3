# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the fleet report's files on the controller in one step: no module run per file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible.plugins.action import ActionBase

from ansible_collections.fleetfix.crun.plugins.module_utils._files import replace
from ansible_collections.fleetfix.crun.plugins.module_utils._hostfs import UnsafePath, read_fd

FILE_MODE = 0o644
DIR_MODE = 0o755


# What a report file may be: the report is a few MiB at 10,000 hosts.
MAX_REPORT_BYTES = 256 * 1024 * 1024


def _current(path):
    """(content, mode) of the report file there, or (None, None) when there is none, or when what is
    there is not one this controller's user could have written: a symlink, a FIFO, a device, a
    hard link or another user's file (report_dir may be a shared directory). Those are never
    opened for their content, never shown in a diff, and simply replaced."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None, None
    except OSError:
        return None, None  # a symlink (ELOOP) or anything else that cannot be opened: replaced
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid != os.geteuid() \
                or st.st_size > MAX_REPORT_BYTES:
            return None, None
        return read_fd(fd, MAX_REPORT_BYTES, path), st.st_mode & 0o7777
    except UnsafePath:  # it grew past any report's size while being read: replaced, never shown
        return None, None
    finally:
        os.close(fd)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_diff = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=dict(
            dest=dict(type="path", required=True),
            files=dict(type="dict", required=True),
        ))
        dest, files = args["dest"], args["files"]
        if not os.path.isabs(dest):
            return dict(result, failed=True, msg="dest must be an absolute path, got %r" % dest)
        bad = sorted(name for name in files if not name or "/" in name or name in (".", ".."))
        if bad:
            return dict(result, failed=True, msg="file names must be plain names, got %s" % ", ".join(map(repr, bad)))
        check_mode = self._task.check_mode
        changed, diffs = [], []
        try:
            if not os.path.isdir(dest):
                changed.append(dest)
                if not check_mode:
                    os.makedirs(dest, DIR_MODE)
            for name in sorted(files):
                path = os.path.join(dest, name)
                data = ("" if files[name] is None else str(files[name])).encode("utf-8")
                before, mode = _current(path)
                if before == data and mode == FILE_MODE:
                    continue
                changed.append(path)
                if self._task.diff:
                    diffs.append({"before_header": path, "after_header": path,
                                  "before": (before or b"").decode("utf-8", "replace"), "after": data.decode("utf-8")})
                if not check_mode:
                    replace(path, data, FILE_MODE)
        except OSError as exc:
            return dict(result, failed=True, msg="writing the report in %s failed: %s" % (dest, exc))
        result.update(changed=bool(changed), dest=dest, written=changed,
                      files=[os.path.join(dest, name) for name in sorted(files)])
        if diffs:
            result["diff"] = diffs
        return result
