"""Files this collection owns (module_utils/_files): the one atomic writer, used on hosts and by the report on the controller."""

import json
import os

import pytest

from ansible_collections.fleetfix.crun.plugins.action import report_files
from ansible_collections.fleetfix.crun.plugins.module_utils import _files as files


def test_the_data_reaches_the_disk_before_the_file_is_renamed_into_place(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    target = tmp_path / "fleet.json"
    files.replace(str(target), b"{}\n", 0o640)
    assert calls == ["fsync", "replace"]
    assert (target.read_bytes(), oct(target.stat().st_mode & 0o777)) == (b"{}\n", "0o640")
    assert os.listdir(str(tmp_path)) == ["fleet.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "hook.json"
    target.write_text("old")

    def broken(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError):
        files.replace(str(target), b"new", 0o644)
    assert target.read_text() == "old" and os.listdir(str(tmp_path)) == ["hook.json"]


def test_the_report_on_the_controller_writes_with_the_same_writer():
    assert report_files.replace is files.replace


def test_facts_file_is_written_once_and_then_left_alone(tmp_path):
    path = str(tmp_path / "facts.d" / "fleetfix_crun.fact")
    assert files.write_json_atomically(path, {"a": 1})[0] is True
    assert files.write_json_atomically(path, {"a": 1})[0] is False
    with open(path) as handle:
        assert json.load(handle) == {"a": 1}
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"


def test_facts_file_in_check_mode_reports_change_and_writes_nothing(tmp_path):
    path = str(tmp_path / "fleetfix_crun.fact")
    assert files.write_json_atomically(path, {"a": 1}, check_mode=True)[0] is True
    assert not os.path.exists(path)
