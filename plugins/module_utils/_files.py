# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files this collection owns on a host (facts file, hook JSON, containers.conf drop-in).

Each is replaced atomically (temporary file in the same directory, fsync, rename), so a reader
such as podman never sees half a file, and only when its content differs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import tempfile


def read_text(path):
    """A file's text, or '' when it does not exist."""
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return ""
        raise


def _mode_of(path):
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def replace(path, data, mode):
    """Make ``path`` hold exactly ``data`` (bytes) with exactly ``mode``, atomically: a reader sees
    the old file or the new one, also after a crash (the data reaches the disk before the rename).
    The one writer of every file this collection owns, on a host or on the controller."""
    fd, tmp = tempfile.mkstemp(prefix=".fleetfix-", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomically(path, content, check_mode=False, mode=0o644):
    """Make path hold exactly content, with exactly ``mode``; return (changed, before, after)."""
    before = read_text(path)
    if before == content and _mode_of(path) == mode:
        return False, before, content
    if check_mode:
        return True, before, content
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    replace(path, content.encode("utf-8"), mode)
    return True, before, content


def json_text(data):
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def write_json_atomically(path, data, check_mode=False, mode=0o644):
    return write_atomically(path, json_text(data), check_mode, mode)


def remove(path, check_mode=False):
    """Remove path if it exists; return (changed, before)."""
    before = read_text(path)
    if not os.path.lexists(path):
        return False, before
    if not check_mode:
        os.unlink(path)
    return True, before
