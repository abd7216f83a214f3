"""The collection as the publishing tools see it: the tarball scripts/build makes, checked by
galaxy-importer (what Galaxy, Automation Hub and Galaxy NG run on every upload, ansible-lint
included) and by antsibull-docs (its linter and a docsite build). scripts/test runs this file in
the publishing venv (tests/requirements-publish.txt).
"""

import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The repository Galaxy requires, for the test build only: this clone itself, as a file URL.
REPOSITORY = "file://%s" % REPO
# What only a network could resolve: the docsite's links into docs.ansible.com and docs.python.org
# (intersphinx inventories), and the labels that live there.
NETWORK_ONLY = re.compile(r"failed to reach any of the inventories|intersphinx inventory|undefined label: "
                          r"'(ansible_configuration_settings|common_return_values|action_plugins|ansible_collections\.ansible\.builtin\.)")


def private_env(tmp_path, **more):
    """The tools' environment with a HOME of their own: they write caches (and ansible-lint
    collections) under it, and must neither find nor leave anything of this machine's."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ, HOME=str(home))
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    env.update(more)
    return env


def installed_collection():
    for path in os.environ["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep):
        candidate = os.path.join(path, "ansible_collections", "fleetfix", "crun")
        if os.path.isdir(candidate):
            return path, candidate
    raise AssertionError("the collection is not installed: use scripts/test")


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([os.path.join(REPO, "scripts", "build"), REPOSITORY, str(out)], check=True, capture_output=True,
                   text=True)
    (found,) = os.listdir(str(out))
    return str(out / found)


def test_galaxy_importer_passes_without_an_error_or_a_warning(tarball, tmp_path):
    result = subprocess.run([sys.executable, "-m", "galaxy_importer.main", tarball], capture_output=True, text=True,
                            check=False, cwd=str(tmp_path),
                            env=private_env(tmp_path, GALAXY_IMPORTER_RUN_ANSIBLE_LINT="true",
                                            GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP=str(tmp_path / "ansible-tmp")))
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Importer processing completed successfully" in output, output
    assert [line for line in output.splitlines() if re.match(r"(WARNING|ERROR)\b", line)] == [], output
    # each filter listed once, with its documentation; no bare plugin file
    filters = re.findall(r"^Loading filter (\S+)$", output, re.M)
    assert sorted(filters) == sorted(set(filters)) and "fleet" not in filters
    assert "Linting collection via ansible-lint" in output


def test_every_role_ships_a_readme(tarball):
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    roles = sorted(set(name.split("/")[1] for name in names if name.startswith("roles/") and name.count("/") > 1))
    assert roles and [role for role in roles if "roles/%s/README.md" % role not in names] == []


def test_the_tarball_holds_no_tool_output_even_after_the_tools_ran(tmp_path):
    """ansible-lint leaves .ansible/ (a nested copy of the collection), ansible-navigator
    *-artifact-*.json files, ansible-test tests/output: a build from a checkout they ran in must
    carry none of it."""
    _path, source = installed_collection()
    checkout = tmp_path / "checkout"
    shutil.copytree(source, str(checkout))
    # in a git checkout (as users have it) ansible-lint installs the collection into .ansible/
    subprocess.run(["git", "init", "--quiet", str(checkout)], check=True)
    lint = subprocess.run(["ansible-lint", "playbooks/audit.yml"], cwd=str(checkout), capture_output=True, text=True,
                          check=False, env=private_env(tmp_path))
    assert (checkout / ".ansible").is_dir(), lint.stderr
    (checkout / "audit-artifact-2026-12-04T05:00:00.000000+00:00.json").write_text("{}")
    (checkout / "tests/output/junit").mkdir(parents=True)
    (checkout / "tests/output/junit/sanity.xml").write_text("<testsuites/>")
    (checkout / ".venv-2.17/bin").mkdir(parents=True)
    (checkout / "changelogs/.plugin-cache.yaml").write_text("{}")
    (checkout / "plugins/filter/__pycache__").mkdir(exist_ok=True)
    (checkout / "plugins/filter/__pycache__/fleet_csv.cpython-311.pyc").write_bytes(b"\0")
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(checkout)],
                   check=True, capture_output=True, text=True, env=private_env(tmp_path))
    (tarball,) = tmp_path.glob("fleetfix-crun-*.tar.gz")
    with tarfile.open(str(tarball)) as tar:
        names = tar.getnames()
    print("\n".join(sorted(names)))
    leaked = [name for name in names if re.search(
        r"(^|/)(\.ansible|\.venv[^/]*|__pycache__)(/|$)|-artifact-.*\.json$|^tests/output|plugin-cache|\.pyc$", name)]
    assert leaked == []
    assert "plugins/modules/host_audit.py" in names and "roles/audit/README.md" in names


def test_antsibull_docs_lint_is_clean():
    path, source = installed_collection()
    result = subprocess.run(["antsibull-docs", "lint-collection-docs", "--plugin-docs", source], capture_output=True,
                            text=True, check=False, env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_docsite_builds_without_errors_or_warnings_but_the_network_ones(tmp_path):
    path, _source = installed_collection()
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=path)
    site = tmp_path / "docsite"
    site.mkdir(mode=0o755)  # sphinx-init wants a directory only its owner may write
    subprocess.run(["antsibull-docs", "sphinx-init", "--use-current", "--dest-dir", str(site), "fleetfix.crun"],
                   check=True, capture_output=True, text=True, env=env)
    rst = site / "rst"
    rst.mkdir(exist_ok=True)
    rst.chmod(0o755)
    subprocess.run(["antsibull-docs", "--config-file", "antsibull-docs.cfg", "collection", "--cleanup", "everything",
                    "--use-current", "--dest-dir", "rst", "fleetfix.crun"], cwd=str(site), check=True,
                   capture_output=True, text=True, env=env)
    # build.sh's own sphinx-build, without -W: the network-only warnings are sorted out below
    build = subprocess.run(["sphinx-build", "-M", "html", "rst", "build", "-c", "."], cwd=str(site),
                           capture_output=True, text=True, check=False, env=env)
    assert build.returncode == 0, build.stderr
    problems = [line for line in build.stderr.splitlines()
                if re.search(r"WARNING|ERROR|CRITICAL", line) and not NETWORK_ONLY.search(line)]
    assert problems == [], "\n".join(problems)
    pages = [os.path.join(top, name) for top, _dirs, files in os.walk(str(rst)) for name in files]
    assert any(name.endswith("host_audit_module.rst") for name in pages)
    assert any(name.endswith("report_role.rst") for name in pages)
    broken = [name for name in pages if "ERROR while parsing" in open(name).read()]
    assert broken == []
