# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read the container tools' TOML files (containers.conf, storage.conf, crio.conf).

Managed hosts may run a Python older than 3.11 (no tomllib), and these files only ever need
tables, strings, arrays of strings, booleans and numbers, so this reads that subset and skips
anything else rather than failing on it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs


class ConfError(ValueError):
    pass


def _split_key(text):
    """Split a dotted table or key name, honouring quoted segments."""
    parts, buf, quote = [], "", None
    for char in text.strip():
        if quote:
            if char == quote:
                quote = None
            else:
                buf += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(buf.strip())
            buf = ""
        else:
            buf += char
    parts.append(buf.strip())
    return tuple(parts)


def _parse_string(text, pos):
    quote = text[pos]
    out, pos = "", pos + 1
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return out, pos + 1
        if char == "\\" and quote == '"':
            escaped, pos = _parse_escape(text, pos + 1)
            out += escaped
            continue
        out += char
        pos += 1
    raise ConfError("unterminated string")


# TOML's escapes in basic strings, as podman's TOML library decodes them (\uXXXX and \UXXXXXXXX
# included: a path in a user's storage.conf may be spelled with them).
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _parse_escape(text, pos):
    """The character of the escape after a backslash at ``pos``, and the position after it."""
    kind = text[pos:pos + 1]
    if kind in _ESCAPES:
        return _ESCAPES[kind], pos + 1
    width = {"u": 4, "U": 8}.get(kind)
    digits = text[pos + 1:pos + 1 + width] if width else ""
    if width and len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
        code = int(digits, 16)
        if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), pos + 1 + width
    raise ConfError("invalid escape in a string")


# Blanks between values: whitespace, commas and comments. One regular expression, so that the
# comment-heavy files distributions ship (Debian's containers.conf is 30 KB, nearly all comments)
# cost one C loop, not a Python step per character.
_BLANKS = re.compile(r"(?:[ \t\r\n,]+|#[^\n]*)*")


def _skip_blank(text, pos):
    return _BLANKS.match(text, pos).end()


def _parse_value(text, pos):
    char = text[pos]
    if char in "\"'":
        return _parse_string(text, pos)
    if char == "[":
        items, pos = [], pos + 1
        while True:
            pos = _skip_blank(text, pos)
            if pos >= len(text):
                raise ConfError("unterminated array")
            if text[pos] == "]":
                return items, pos + 1
            item, pos = _parse_value(text, pos)
            items.append(item)
    if char == "{":
        depth = 0
        while pos < len(text):
            depth += {"{": 1, "}": -1}.get(text[pos], 0)
            pos += 1
            if depth == 0:
                return None, pos
        raise ConfError("unterminated inline table")
    end = pos
    while end < len(text) and text[end] not in ",]\n#":
        end += 1
    word = text[pos:end].strip()
    if word in ("true", "false"):
        return word == "true", end
    try:
        return int(word), end
    except ValueError:
        return word, end


def parse(text):
    """Return ``{table_tuple: {key: value}}``; the top level is the empty tuple."""
    tables = {(): {}}
    current = tables[()]
    pos = 0
    while True:
        pos = _skip_blank(text, pos)
        if pos >= len(text):
            return tables
        if text[pos] == "[":
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            header = text[pos:end].split("#", 1)[0].strip()
            if header.startswith("[["):
                current = {}  # arrays of tables are not used by what we read
            elif header.endswith("]"):
                current = tables.setdefault(_split_key(header[1:-1]), {})
            else:
                raise ConfError("malformed table header at line %d" % _line(text, pos))
            pos = end
            continue
        eq = text.find("=", pos)
        newline = text.find("\n", pos)
        if eq < 0 or (0 <= newline < eq):
            raise ConfError("expected key = value at line %d" % _line(text, pos))
        key = _split_key(text[pos:eq])
        pos = _skip_blank_inline(text, eq + 1)
        if pos >= len(text):
            raise ConfError("missing value at line %d" % _line(text, pos))
        value, pos = _parse_value(text, pos)
        target = current
        for part in key[:-1]:
            target = target.setdefault(part, {})
        target[key[-1]] = value


def _skip_blank_inline(text, pos):
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def _line(text, pos):
    """Where a parse error is: a line number, never the text (the file may be someone else's secret)."""
    return text.count("\n", 0, pos) + 1


def read(root, path, owners=None):
    """Parse one file under ``root``, read safely (hostfs.read_file); return (tables, error).

    A missing file is ``({}, None)``. The error names the path and a reason, never content.
    """
    try:
        data = hostfs.read_file(root, path, hostfs.CONFIG_LIMIT, owners)
    except OSError as exc:
        return {}, "%s: %s" % (hostfs.display(path), hostfs.describe(exc))
    if data is None:
        return {}, None
    try:
        return parse(data.decode("utf-8", "replace")), None
    except ConfError as exc:
        return {}, "%s: %s" % (hostfs.display(path), exc)
    except RecursionError:
        return {}, "%s: nested too deeply" % hostfs.display(path)


def layered(root, main_files, dropin_dirs, owners=None):
    """Read a config with its drop-ins in the order the container tools apply them.

    The one reader of every TOML file this collection reads. Returns (list of (path, tables),
    errors); later entries override earlier ones. Paths are host paths under ``root``.
    """
    paths = list(main_files)
    for directory in dropin_dirs:
        try:
            names = hostfs.list_dir(root, directory, owners)
        except OSError:
            paths.append(directory)  # read() reports why it cannot be read
            continue
        paths.extend(os.path.join(directory, name) for name in names if name.endswith(".conf"))
    loaded, errors = [], []
    for path in paths:
        tables, error = read(root, path, owners)
        if error:
            errors.append(error)
        elif tables:
            loaded.append((path, tables))
    return loaded, errors


CONTAINERS_CONF = ("/usr/share/containers/containers.conf", "/etc/containers/containers.conf")
CONTAINERS_CONF_DROPINS = ("/usr/share/containers/containers.conf.d", "/etc/containers/containers.conf.d")
CRIO_CONF = ("/etc/crio/crio.conf",)
CRIO_CONF_DROPINS = ("/etc/crio/crio.conf.d",)


def containers_conf_sources(root):
    """(files, drop-in dirs) podman reads: only $CONTAINERS_CONF when it is set, as podman does."""
    override = os.environ.get("CONTAINERS_CONF")
    if override and hostfs.HostRoot.of(root).is_host:
        return (override,), ()
    return CONTAINERS_CONF, CONTAINERS_CONF_DROPINS
