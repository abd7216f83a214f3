"""Checks on module options that an argument spec cannot express (module_utils/_params)."""

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils._params import mode_problem, problem


@pytest.mark.parametrize("params, needle", [
    ({"root": "relative/dir"}, "root must be an absolute path"),
    ({"timeout": 0}, "timeout must be at least 1 second"),
    ({"storage_roots": ["/ok", "rel"]}, "storage_roots must hold absolute paths"),
    ({"facts_file": "facts.json"}, "facts_file must be an absolute path"),
])
def test_bad_options_get_a_message_naming_the_option(params, needle):
    assert needle in problem(params)


@pytest.mark.parametrize("mode, needle", [
    ("0700", "must let other users read"),
    ("0666", "must not let group or others write"),
    ("4444", "setuid"),
    ("rwx", "octal string"),
    ("", "octal string"),
    ("04444", "octal string"),
])
def test_bad_modes_are_refused(mode, needle):
    assert needle in mode_problem(mode)


@pytest.mark.parametrize("mode", ["0444", "444", "0644", "0604"])
def test_good_modes_are_accepted(mode):
    assert mode_problem(mode) is None
    assert problem({"mode": mode, "root": "/", "timeout": 5}) is None
