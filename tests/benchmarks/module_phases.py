"""Where one host_audit run spends its CPU: run an AnsiballZ payload as a host runs it, and print
one JSON line of {phase: [this process's CPU ms, its children's CPU ms]}.

    python3 module_phases.py AnsiballZ_host_audit.py   (or AnsiballZ_ping.py: main and the whole run)

Used by `scripts/bench module_cost --profile`, which copies it next to the payload (on a fleet
host too), runs it many times and prints the medians. Standard library only: it runs with the
host's Python. The phases wrap the audit's own steps (crun discovery, which holds the package
database's answers, the storage scan with its child per account, the hooks) after the module's
import, which compiles the collection from the payload's zip as every run does; "main" is the
whole module run after that import: its argument parsing, the steps and exit_json; "the whole
run" is everything from the interpreter's start (the AnsiballZ wrapper and Ansible's own imports).
"""

import importlib
import json
import resource
import runpy
import sys

PACKAGE = "ansible_collections.fleetfix.crun.plugins.module_utils."
STEPS = (("_crun", "crun_info"), ("_package_db", "owner"), ("_storage", "scan"), ("_hooks", "hooks_dirs"),
         ("_hooks", "installed_hooks"), ("_audit", "host_report"))


def cpu():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main():
    payload = sys.argv[1]
    sys.argv = [payload]
    phases = {}

    def add(name, before):
        after = cpu()
        total = phases.setdefault(name, [0.0, 0.0])
        total[0] += (after[0] - before[0]) * 1e3
        total[1] += (after[1] - before[1]) * 1e3

    def wrapped(name, func):
        def run(*args, **kwargs):
            before = cpu()
            try:
                return func(*args, **kwargs)
            finally:
                add(name, before)
        return run

    def run_module(mod_name, **kwargs):
        before = cpu()
        if mod_name.startswith("ansible_collections.fleetfix."):  # ping's payload has none of them
            for module_name, function in STEPS:
                module = importlib.import_module(PACKAGE + module_name)
                setattr(module, function, wrapped(function, getattr(module, function)))
        add("import of the collection", before)
        before = cpu()
        try:
            original(mod_name, **kwargs)
        except SystemExit:
            pass
        add("main", before)
        raise SystemExit(0)

    original, runpy.run_module = runpy.run_module, run_module
    try:
        runpy.run_path(payload, run_name="__main__")
    except SystemExit:
        pass
    phases["the whole run"] = [value * 1e3 for value in cpu()]
    sys.stderr.write(json.dumps(phases) + "\n")


if __name__ == "__main__":
    main()
