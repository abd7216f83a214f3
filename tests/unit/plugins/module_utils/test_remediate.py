import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _remediate as remediate
from ansible_collections.fleetfix.crun.plugins.module_utils._remediate import plan


def report(runtime_status="not_applicable", stale=0, hooks=()):
    return {"runtimes": [{"advisories": [{"id": "crun-1685", "status": runtime_status}]}],
            "counts": {"unreadable_by_user": stale}, "hooks": list(hooks)}


@pytest.mark.parametrize("host, available, expected", [
    (report("affected"), None, (True, False)),
    (report("affected"), True, (True, False)),
    (report("affected"), False, (True, True)),
    (report("fixed", stale=3), None, (False, True)),
    (report("mitigated", hooks=["/h.json"]), False, (True, True)),
    (report("fixed", hooks=["/h.json"]), None, (False, True)),
    (report("not_applicable"), None, (False, False)),
])
def test_auto_strategy(host, available, expected):
    decided = plan(host, "auto", available)
    assert (decided["upgrade"], decided["hook"]) == expected
    assert decided["reason"]


@pytest.mark.parametrize("strategy, expected", [
    ("upgrade", (True, False)), ("hook", (False, True)), ("upgrade_and_hook", (True, True))])
def test_explicit_strategies_do_what_they_say(strategy, expected):
    decided = plan(report("not_applicable"), strategy)
    assert (decided["upgrade"], decided["hook"]) == expected


def test_an_unknown_strategy_names_the_variable():
    with pytest.raises(ValueError, match="remediate_strategy must be one of"):
        plan(report(), "fast")


def test_an_old_libkrun_is_named_as_its_own_action_and_the_upgrade_is_libkruns_alone():
    report = {"status": "affected", "counts": {}, "hooks": [],
              "runtimes": [{"advisories": [{"id": "crun-1685", "status": "fixed"},
                                           {"id": "libkrun-command", "status": "affected"}]}],
              "advisories": [{"id": "crun-1685", "status": "fixed"}, {"id": "libkrun-command", "status": "affected"}]}
    action = remediate.recommended_action(report)
    assert action.startswith("upgrade libkrun to 1.8 or newer: ")
    assert action.endswith("fleetfix.crun.remediate upgrades it where the package manager offers a fixed one")
    assert "upgrade crun" not in action and "fleetfix.crun.remediate does this" not in action
    decided = remediate.plan(report)
    assert (decided["upgrade"], decided["hook"]) == (True, False)
    assert decided["reason"] == "an affected libkrun should be upgraded to 1.8 or newer (no hook helps)"
