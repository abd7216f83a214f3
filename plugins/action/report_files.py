# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the fleet report's files on the controller in one step: no module run per file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible.plugins.action import ActionBase

FILE_MODE = 0o644
DIR_MODE = 0o755


def _current(path):
    """(content, mode) of the file there, or (None, None)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(), os.fstat(handle.fileno()).st_mode & 0o7777
    except FileNotFoundError:
        return None, None


def _write(directory, name, data):
    """Replace directory/name with data atomically (a reader sees the old file or the new one)."""
    fd, temporary = tempfile.mkstemp(prefix=".%s." % name, dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), FILE_MODE)
        os.replace(temporary, os.path.join(directory, name))
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


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
                    _write(dest, name, data)
        except OSError as exc:
            return dict(result, failed=True, msg="writing the report in %s failed: %s" % (dest, exc))
        result.update(changed=bool(changed), dest=dest, written=changed,
                      files=[os.path.join(dest, name) for name in sorted(files)])
        if diffs:
            result["diff"] = diffs
        return result
