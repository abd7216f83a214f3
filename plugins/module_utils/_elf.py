# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The library search path an ELF executable carries (DT_RPATH, DT_RUNPATH), read with the standard
library only: crun dlopen()s libkrun, and the dynamic loader looks there first."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

MAX_ELF_BYTES = 256 * 1024 * 1024
SHT_DYNAMIC = 6
DT_NULL, DT_RPATH, DT_RUNPATH = 0, 15, 29


class NotElf(ValueError):
    pass


def search_paths(data):
    """(DT_RPATH entries, DT_RUNPATH entries) of an ELF file's bytes; each a list of directories,
    unexpanded (``$ORIGIN`` kept). Raises NotElf for anything that is not a readable ELF file."""
    if data[:4] != b"\x7fELF" or len(data) < 64:
        raise NotElf("not an ELF file")
    elf_class, encoding = data[4], data[5]
    if elf_class not in (1, 2) or encoding not in (1, 2):
        raise NotElf("unknown ELF class or byte order")
    order = "<" if encoding == 1 else ">"
    wide = elf_class == 2
    try:
        if wide:
            shoff, = struct.unpack_from(order + "Q", data, 0x28)
            shentsize, shnum = struct.unpack_from(order + "HH", data, 0x3A)
        else:
            shoff, = struct.unpack_from(order + "I", data, 0x20)
            shentsize, shnum = struct.unpack_from(order + "HH", data, 0x2E)
        sections = [_section(data, order, wide, shoff + index * shentsize) for index in range(shnum)]
        rpath, runpath = [], []
        for kind, offset, size, link, entsize in sections:
            if kind != SHT_DYNAMIC or not 0 <= link < len(sections):
                continue
            strtab = sections[link][1]
            step = entsize or (16 if wide else 8)
            for at in range(offset, offset + size, step):
                tag, value = struct.unpack_from(order + ("qQ" if wide else "iI"), data, at)
                if tag == DT_NULL:
                    break
                if tag in (DT_RPATH, DT_RUNPATH):
                    text = data[strtab + value:data.index(b"\x00", strtab + value)].decode("utf-8", "replace")
                    (rpath if tag == DT_RPATH else runpath).extend(p for p in text.split(":") if p)
        return rpath, runpath
    except (struct.error, ValueError, IndexError):
        raise NotElf("truncated or malformed ELF file")


def machine(data):
    """The ELF file's e_machine (62 x86-64, 183 AArch64...); raises NotElf."""
    if data[:4] != b"\x7fELF" or len(data) < 20 or data[5] not in (1, 2):
        raise NotElf("not an ELF file")
    return struct.unpack_from("<H" if data[5] == 1 else ">H", data, 0x12)[0]


def _section(data, order, wide, at):
    """(type, offset, size, link, entsize) of the section header at ``at``."""
    if wide:
        _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize = struct.unpack_from(
            order + "IIQQQQIIQQ", data, at)
    else:
        _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize = struct.unpack_from(
            order + "IIIIIIIIII", data, at)
    return kind, offset, size, link, entsize
