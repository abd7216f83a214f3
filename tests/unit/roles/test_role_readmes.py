"""Each role's README.md (what Galaxy and Automation Hub show for a role) is the one
scripts/role-readmes writes from the role's argument_specs, so the two never drift."""

import importlib.machinery
import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LOADER = importlib.machinery.SourceFileLoader("role_readmes", os.path.join(REPO, "scripts", "role-readmes"))
role_readmes = importlib.util.module_from_spec(importlib.util.spec_from_loader("role_readmes", LOADER))
LOADER.exec_module(role_readmes)


@pytest.mark.parametrize("role", role_readmes.roles())
def test_the_role_readme_is_written_from_its_argument_specs(role):
    with open(os.path.join(REPO, "roles", role, "README.md")) as handle:
        assert handle.read() == role_readmes.render(role), "run scripts/role-readmes"


def test_every_role_has_argument_specs_and_so_a_readme():
    roles = sorted(name for name in os.listdir(os.path.join(REPO, "roles")) if not name.startswith("."))
    assert role_readmes.roles() == roles


def test_each_variable_of_each_entry_point_is_in_the_readme():
    text = role_readmes.render("audit")
    assert "| `audit_timeout` | int | `5` |  | Seconds each external command" in text
    assert "## Entry point `validate`:" in text and "tasks_from: validate" in text


def test_ansible_markup_becomes_markdown():
    assert role_readmes.markdown("See M(fleetfix.crun.host_audit), O(audit_root) and U(https://x.invalid).") == \
        "See `fleetfix.crun.host_audit`, `audit_root` and <https://x.invalid>."
    assert role_readmes.markdown("P(fleetfix.crun.fleet_summary#filter) a|b") == "`fleetfix.crun.fleet_summary` a\\|b"
