"""The AWX / Automation Controller assets in docs/awx, and the jobs run the way the controller runs them.

The controller hands every job to ansible-runner with a private data directory: project/ (the
synced project), inventory/, env/extravars (job template extra vars merged with the survey
answers, which arrive as strings), env/envvars and env/cmdline (--check for a check job, --diff),
and a limit. These tests build exactly that directory from docs/awx and call ansible_runner.run().

Real: ansible-runner, ansible-playbook, the installed collection, podman with real containers in
private storage (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF), this machine's apt.
The affected crun (conftest's affected_podman) runs real upstream crun 1.8.1 code with a krun symlink.
TEST STAND-INS: its version (it prints crun 1.20's --version text), its libkrun.so.1 (no microVM
here) and the owner-only /.krun_config.json planted into a container's rootfs.
"""

import json
import os
import re
import shutil
import stat
import sys
import time

import ansible_runner
import pytest
import yaml

from support import private_role_vars

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AWX = os.path.join(REPO, "docs", "awx")
# Play keywords of the remediate playbook that a survey may set; no role reads them.
PLAY_VARIABLES = {"remediate_batch": "25%", "remediate_max_fail_percentage": 0}


def load_yaml(*parts):
    with open(os.path.join(*parts)) as handle:
        return yaml.safe_load(handle)


def job_templates():
    return load_yaml(AWX, "job_templates.yml")["job_templates"]


def survey(template):
    with open(os.path.join(AWX, template["survey_spec"])) as handle:
        return json.load(handle)


def roles_of(playbook):
    """Every role the collection's playbook runs, with the roles those include."""
    plays = load_yaml(REPO, "playbooks", playbook)
    names = [r["role"].split(".")[-1] for play in plays for r in play.get("roles", [])]
    names += [task[key]["name"].split(".")[-1] for play in plays for task in play.get("tasks", [])
              for key in ("ansible.builtin.import_role", "ansible.builtin.include_role") if key in task]
    for name in list(names):
        with open(os.path.join(REPO, "roles", name, "tasks", "main.yml")) as handle:
            names.extend(re.findall(r"name: fleetfix\.crun\.(\w+)", handle.read()))
    return sorted(set(names))


def role_options(roles):
    options = {}
    for name in roles:
        options.update(load_yaml(REPO, "roles", name, "meta", "argument_specs.yml")["argument_specs"]["main"]
                       .get("options", {}))
    return options


@pytest.mark.parametrize("template", job_templates(), ids=lambda t: t["name"])
def test_each_job_template_runs_a_project_playbook_that_imports_the_collections(template):
    project_playbook = load_yaml(AWX, "project", template["playbook"])
    imported = project_playbook[0]["ansible.builtin.import_playbook"]
    assert imported.startswith("fleetfix.crun.")
    assert os.path.isfile(os.path.join(REPO, "playbooks", imported.split(".")[-1] + ".yml"))
    assert template["job_type"] in ("run", "check")


def test_the_workflow_runs_the_sliced_audit_then_always_the_report():
    names = dict((t["name"], t) for t in job_templates())
    (workflow,) = load_yaml(AWX, "job_templates.yml")["workflow_job_templates"]
    nodes = dict((node["identifier"], node) for node in workflow["nodes"])
    assert all(node["unified_job_template"] in names for node in nodes.values())
    assert names[nodes["audit"]["unified_job_template"]]["job_slice_count"] > 1
    assert nodes["audit"]["always_nodes"] == ["report"]
    assert names[nodes["report"]["unified_job_template"]]["playbook"] == "playbooks/report.yml"


@pytest.mark.parametrize("template", job_templates(), ids=lambda t: t["name"])
def test_each_survey_question_is_a_role_variable_with_its_choices_and_default(template):
    playbook = os.path.basename(load_yaml(AWX, "project", template["playbook"])[0]
                                ["ansible.builtin.import_playbook"].split(".")[-1]) + ".yml"
    options = role_options(roles_of(playbook))
    play_variables = PLAY_VARIABLES if playbook == "remediate.yml" else {}
    questions = survey(template)["spec"]
    assert len({q["variable"] for q in questions}) == len(questions)
    for question in questions:
        name = question["variable"]
        if name in play_variables:
            assert str(question["default"]) == str(play_variables[name]), name
            continue
        assert name in options, "%s asks for %s, which no role of %s reads" % (template["name"], name, playbook)
        option = options[name]
        kind = option.get("type", "str")
        if kind == "bool":
            assert question["type"] == "multiplechoice" and sorted(question["choices"]) == ["false", "true"], name
        elif "choices" in option:
            assert question["type"] == "multiplechoice" and question["choices"] == option["choices"], name
        elif kind == "int":
            assert question["type"] == "integer", name
        else:
            assert question["type"] == "text", name
        if "default" in option:
            assert str(question["default"]).lower() == str(option["default"]).lower(), name


@pytest.fixture
def host(affected_podman):
    return affected_podman


class Job:
    """One controller job: a private data directory as AWX writes it, run by ansible-runner."""

    def __init__(self, tmp_path, host, name):
        self.base = tmp_path / ("job-" + name)
        shutil.copytree(os.path.join(AWX, "project"), str(self.base / "project"))
        (self.base / "inventory").mkdir(parents=True)
        # "localhost" is what the job is limited to; the other host must never be touched.
        (self.base / "inventory" / "hosts").write_text(
            "localhost ansible_connection=local ansible_python_interpreter=%s\n"
            "left-out-by-limit ansible_connection=local ansible_python_interpreter=%s\n"
            % (sys.executable, sys.executable))
        (self.base / "env").mkdir()
        (self.base / "env" / "envvars").write_text(json.dumps(dict(
            host.env, ANSIBLE_COLLECTIONS_PATH=os.environ["ANSIBLE_COLLECTIONS_PATH"])))
        self.private_vars = private_role_vars(tmp_path)

    def run(self, template_name, answers, check=False, diff=False):
        template = next(t for t in job_templates() if t["name"] == template_name)
        extravars = dict(self.private_vars)
        extravars.update((key, str(value)) for key, value in answers.items())
        (self.base / "env" / "extravars").write_text(json.dumps(extravars))
        flags = (["--check"] if check or template["job_type"] == "check" else []) + (["--diff"] if diff else [])
        (self.base / "env" / "cmdline").write_text(" ".join(flags))
        started = time.monotonic()
        runner = ansible_runner.run(private_data_dir=str(self.base), playbook=template["playbook"],
                                    limit="localhost", quiet=True)
        runner.wall_seconds = time.monotonic() - started
        runner.event_list = list(runner.events)
        return runner


def survey_defaults(template_name):
    template = next(t for t in job_templates() if t["name"] == template_name)
    return dict((q["variable"], q["default"]) for q in survey(template)["spec"])


def host_events(runner, kind):
    return [e for e in runner.event_list if e["event"] == kind and e["event_data"].get("host") == "localhost"]


def artifact(runner):
    stats = next(e for e in runner.event_list if e["event"] == "playbook_on_stats")
    return stats["event_data"]["artifact_data"]["fleetfix_crun_report"]


def test_audit_then_remediate_through_ansible_runner_as_awx_runs_them(tmp_path, host):
    stale = host.plant("stale-user-1234")
    job = Job(tmp_path, host, "fleet")
    hook_json = os.path.join(host.hooks_dir, "50-fleetfix-krun.json")

    audit = job.run("fleetfix.crun audit", survey_defaults("fleetfix.crun audit"))
    assert (audit.status, audit.rc) == ("successful", 0)
    # a check job: the facts file is only reported as it would change; the report is written
    assert set(audit.stats["ok"]) == {"localhost"} and not os.path.exists(job.private_vars["audit_facts_file"])
    assert artifact(audit)["counts"]["affected"] == 1 and artifact(audit)["affected_hosts"] == ["localhost"]
    assert artifact(audit)["file_counts"]["unreadable_by_user"] == 1

    answers = dict(survey_defaults("fleetfix.crun remediate"), upgrade_update_cache="false")
    check = job.run("fleetfix.crun remediate", answers, check=True, diff=True)
    assert (check.status, check.rc) == ("successful", 0)
    sweep = [e for e in host_events(check, "runner_on_ok")
             if e["event_data"]["task"] == "Fix the owner-only .krun_config.json of existing containers"]
    assert sweep and sweep[0]["event_data"]["res"]["changed"] and sweep[0]["event_data"]["res"].get("diff")
    assert host.config_mode(stale) == 0o700 and not os.path.exists(hook_json)

    remediate = job.run("fleetfix.crun remediate", answers, diff=True)
    assert (remediate.status, remediate.rc) == ("successful", 0)
    assert remediate.stats["changed"]["localhost"] >= 2 and not remediate.stats["failures"]
    assert "left-out-by-limit" not in remediate.stats["ok"]
    assert len(host_events(remediate, "runner_on_ok")) == remediate.stats["ok"]["localhost"]
    assert host.config_mode(stale) == 0o444 and os.path.exists(hook_json)
    assert artifact(remediate)["counts"]["mitigated"] == 1 and artifact(remediate)["counts"]["affected"] == 0
    assert os.path.isfile(str(tmp_path / "reports" / "fleet.html"))
    assert stat.S_IMODE(os.stat(str(tmp_path / "reports" / "junit.xml")).st_mode) == 0o644

    again = job.run("fleetfix.crun remediate", answers)
    assert again.status == "successful" and not again.stats["changed"]
    print("ansible-runner wall seconds: audit %.1f, remediate check %.1f, remediate %.1f, again %.1f"
          % (audit.wall_seconds, check.wall_seconds, remediate.wall_seconds, again.wall_seconds))


@pytest.mark.parametrize("answer, needle", [
    ({"remediate_strategy": "fast"}, "remediate_strategy"),
    ({"remediate_canary": "perhaps"}, "remediate_canary"),
    ({"remediate_canary_uid": "root"}, "remediate_canary_uid"),
])
def test_a_bad_survey_answer_fails_the_job_clearly_and_changes_nothing(tmp_path, host, answer, needle):
    stale = host.plant("untouched")
    job = Job(tmp_path, host, "bad")
    runner = job.run("fleetfix.crun remediate", dict(survey_defaults("fleetfix.crun remediate"), **answer))
    assert runner.status == "failed"
    messages = [e["event_data"]["res"].get("msg", "") for e in host_events(runner, "runner_on_failed")]
    assert any(needle in m for m in messages), messages
    assert host.config_mode(stale) == 0o700
    assert not os.path.exists(os.path.join(host.hooks_dir, "50-fleetfix-krun.json"))
