"""The collection as users get it: a built tarball, installed into a clean collections path."""

import json
import os
import subprocess
import sys
import tarfile

import pytest

from ansible_run import ansible_playbook
from support import StorageTree, link, stand_in_crun

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(REPO, "plugins")
MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(PLUGINS, "modules")) if name.endswith(".py"))
# One filter per file, documented in the file.
FILTERS = sorted(name[:-3] for name in os.listdir(os.path.join(PLUGINS, "filter")) if name.endswith(".py"))


def installed_source():
    for path in os.environ["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep):
        candidate = os.path.join(path, "ansible_collections", "fleetfix", "crun")
        if os.path.isdir(candidate):
            return candidate
    raise AssertionError("the collection is not installed: use scripts/test")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the tarball from the working tree's files and install it into an empty collections path."""
    base = tmp_path_factory.mktemp("packaging")
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(base), installed_source()],
                   check=True, capture_output=True, text=True)
    (tarball,) = base.glob("fleetfix-crun-*.tar.gz")
    clean = base / "collections"
    # only the clean path, or ansible-galaxy finds the working tree's copy "already installed"
    subprocess.run(["ansible-galaxy", "collection", "install", "--offline", "-p", str(clean), str(tarball)],
                   check=True, capture_output=True, text=True, env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(clean)))
    assert os.path.isfile(str(clean / "ansible_collections/fleetfix/crun/MANIFEST.json"))
    return {"tarball": tarball, "path": clean}


def test_the_tarball_leaves_out_development_files(installed):
    with tarfile.open(str(installed["tarball"])) as tar:
        names = tar.getnames()
    assert "plugins/modules/host_audit.py" in names and "roles/hook/files/fleetfix-krun-hook" in names
    assert not [n for n in names if n.split("/")[0] in (".cache", ".venv", ".ci", "scripts", "reports")]


def test_the_audit_runs_from_the_installed_tarball(installed, tmp_path):
    root = tmp_path / "host"
    stand_in_crun(root, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
    link(root, "/usr/bin/krun", "crun")
    StorageTree(root).add_krun_config("c1", 0o700, name="webapp")
    run = ansible_playbook(["fleetfix.crun.audit", "-e", "audit_root=%s" % root, "-e", "audit_facts_file=",
                            "-e", "report_dir=%s" % (tmp_path / "reports")],
                           env={"ANSIBLE_COLLECTIONS_PATH": str(installed["path"])})
    assert run.rc == 0, run.failure_messages()
    fleet = json.loads((tmp_path / "reports" / "fleet.json").read_text())
    assert fleet["affected_hosts"] == ["localhost"]
    assert [c["container_name"] for c in fleet["affected_containers"]] == ["webapp"]


def test_execution_environment_dependencies_are_introspected(installed):
    out = subprocess.run(["ansible-builder", "introspect", str(installed["path"])], check=True,
                         capture_output=True, text=True).stdout
    assert "jmespath>=1.0.0  # from collection fleetfix.crun" in out
    assert "openssh-client [platform:dpkg]  # from collection fleetfix.crun" in out


def test_execution_environment_context_installs_the_collection_as_its_build_would(installed, tmp_path):
    """ansible-builder create writes the real build context; its galaxy and introspect stages then run
    here as the Containerfile runs them. Only the image build is left out: its base image would come
    from a container registry, which this machine cannot reach."""
    workdir = tmp_path / "checkout"
    (workdir / "dist").mkdir(parents=True)
    for name in ("execution-environment.yml", "ee"):
        subprocess.run(["cp", "-a", os.path.join(REPO, name), str(workdir)], check=True)
    subprocess.run(["cp", str(installed["tarball"]), str(workdir / "dist" / "fleetfix-crun.tar.gz")], check=True)
    context = tmp_path / "context"
    subprocess.run(["ansible-builder", "create", "--file", "execution-environment.yml", "--context", str(context)],
                   cwd=str(workdir), check=True, capture_output=True, text=True)
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.3"' in containerfile

    baked = tmp_path / "usr-share-ansible-collections"
    subprocess.run(["ansible-galaxy", "collection", "install", "--offline", "-r", "requirements.yml",
                    "--collections-path", str(baked)], cwd=str(context / "_build"), check=True,
                   capture_output=True, text=True, env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(baked)))
    assert os.path.isfile(str(baked / "ansible_collections/fleetfix/crun/plugins/modules/host_audit.py"))
    pip, bindep = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    subprocess.run([sys.executable, str(context / "_build/scripts/introspect.py"), "introspect", str(baked),
                    "--write-pip=%s" % pip, "--write-bindep=%s" % bindep], check=True, capture_output=True, text=True)
    assert "jmespath>=1.0.0" in pip.read_text() and "openssh-client [platform:dpkg]" in bindep.read_text()


@pytest.mark.parametrize("plugin_type, name", [("module", m) for m in MODULES] + [("filter", f) for f in FILTERS])
def test_documentation_renders_without_warnings(installed, plugin_type, name):
    result = subprocess.run(["ansible-doc", "-t", plugin_type, "fleetfix.crun.%s" % name], capture_output=True,
                            text=True, check=False, env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed["path"])))
    assert result.returncode == 0 and "[WARNING]" not in result.stderr and "ERROR" not in result.stderr, result.stderr
    assert "fleetfix.crun.%s" % name in result.stdout and "EXAMPLES" in result.stdout
