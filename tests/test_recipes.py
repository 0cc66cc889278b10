"""The README's build-gate recipes (contrib/), run as written.

Commands are read out of the recipe files themselves (so a recipe cannot rot while its test
passes), the build system's variables are replaced by an unpacked real Debian build, and
``librbd-probe`` on PATH is this checkout.  Each recipe passes on a build that meets the
policy and fails on one that does not.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import corpus
from conftest import PROJECT, need

CONTRIB = os.path.join(PROJECT, "contrib")
POLICY = os.path.join(CONTRIB, "librbd.policy")


@pytest.fixture
def shell_env(tmp_path):
    """Environment whose PATH has a ``librbd-probe`` running this checkout."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "librbd-probe"
    shim.write_text("#!/bin/sh\nexec '{}' -m librbd_probe \"$@\"\n".format(sys.executable))
    shim.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = str(bindir) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = PROJECT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _sh(script, env, cwd):
    return subprocess.run(["sh", "-e", "-c", script], env=env, cwd=str(cwd), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=300)


def _read(*parts):
    with open(os.path.join(CONTRIB, *parts)) as handle:
        return handle.read()


def _make_target(text, target):
    """The recipe lines of a Makefile target (tab-indented, comments dropped)."""
    match = re.search(r"^{}:\n((?:\t.*\n)+)".format(re.escape(target)), text, re.M)
    assert match, target
    return [line[1:] for line in match.group(1).splitlines() if not line[1:].startswith("#")]


def _baseline(env, tmp_path, version):
    """A baseline made the way the recipes' comments say (--save-baseline)."""
    out = tmp_path / "made-baseline.json"
    proc = _sh("librbd-probe --root '{}' --save-baseline '{}'".format(corpus.release_root(version), out), env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    return out.read_text()


def _debian_tree(tmp_path, env, build_version, baseline_version):
    pkg = tmp_path / "pkg"
    (pkg / "debian" / "librbd-probe").mkdir(parents=True)
    os.symlink(corpus.release_root(build_version), str(pkg / "debian" / "tmp"))
    (pkg / "debian" / "librbd-probe" / "baseline.json").write_text(_baseline(env, tmp_path, baseline_version))
    shutil.copy(POLICY, str(pkg / "debian" / "librbd-probe" / "librbd.policy"))
    return pkg


def test_debian_override_dh_auto_test(tmp_path, shell_env):
    lines = _make_target(_read("debian", "rules.snippet"), "override_dh_auto_test")
    assert lines[0] == "dh_auto_test"
    gate = [line for line in lines if line.startswith("librbd-probe ")]
    assert gate
    pkg = _debian_tree(tmp_path, shell_env, "20.2.4", "18.2.7")
    script = "\n".join(gate).replace("$(CURDIR)", str(pkg))
    proc = _sh(script, shell_env, pkg)
    assert proc.returncode == 0, proc.stderr
    # a build that lost what the baseline had fails the package build, naming each regression
    shutil.rmtree(str(tmp_path / "pkg"))
    pkg = _debian_tree(tmp_path, shell_env, "16.2.15", "20.2.4")
    proc = _sh(script, shell_env, pkg)
    assert proc.returncode == 1
    assert "regression: librbd function rbd_clone4 disappeared" in proc.stderr
    assert "regression: clone.by-id was yes in the baseline, now no" in proc.stderr


def test_debian_autopkgtest(tmp_path, shell_env, installed):
    control = _read("debian", "tests", "control")
    assert re.search(r"^Tests: librbd-capabilities$", control, re.M)
    assert "librbd1" in control and "librbd-probe" in control
    pkg = tmp_path / "src"
    (pkg / "debian" / "tests").mkdir(parents=True)
    shutil.copy(POLICY, str(pkg / "debian" / "tests" / "librbd.policy"))
    script = os.path.join(CONTRIB, "debian", "tests", "librbd-capabilities")
    proc = subprocess.run([script], env=shell_env, cwd=str(pkg), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
    assert proc.returncode == 0, proc.stderr            # the installed 16.2.15 meets the policy
    (pkg / "debian" / "tests" / "librbd.policy").write_text("require clone.by-id\n")
    proc = subprocess.run([script], env=shell_env, cwd=str(pkg), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
    assert proc.returncode == 1 and "policy: clone.by-id is no" in proc.stderr


def _rpm_check(text):
    body = text.split("%check\n", 1)[1]
    return "\n".join(line for line in body.splitlines() if line.strip() and not line.startswith("#"))


def test_rpm_check(tmp_path, shell_env):
    script = _rpm_check(_read("rpm", "check.spec-snippet"))
    baseline = tmp_path / "librbd-baseline.json"

    def run(build, base):
        baseline.write_text(_baseline(shell_env, tmp_path, base))
        body = (script.replace("%{buildroot}", corpus.release_root(build))
                .replace("%{SOURCE10}", POLICY).replace("%{SOURCE11}", str(baseline)))
        assert "%{" not in body
        return _sh(body, shell_env, tmp_path)

    proc = run("20.2.4", "18.2.7")                      # compatible additions: diff exits 4, passes
    assert proc.returncode == 0, proc.stderr
    assert "Result: compatible changes only (exit 4)" in proc.stdout
    proc = run("18.2.7", "18.2.7")                      # no change: 0
    assert proc.returncode == 0, proc.stderr
    proc = run("18.2.7", "20.2.4")                      # rbd_clone4 gone: diff exits 12, %check fails
    assert proc.returncode != 0 and "INCOMPATIBLE" in proc.stdout


def test_container_rootfs_gate(tmp_path, shell_env):
    containerfile = _read("container", "Containerfile")
    runs = [line[len("RUN "):] for line in containerfile.splitlines() if line.startswith("RUN ") and "check-rootfs" in line]
    assert len(runs) == 1
    script = runs[0].replace("/src", PROJECT)
    # the rootfs of an image with Debian's librbd1: the unpacked packages of a real build
    proc = _sh(script.replace("/rootfs", corpus.release_root("18.2.7")), shell_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "| `create.options` | yes |" in proc.stdout
    proc = _sh(script.replace("/rootfs", corpus.release_root("14.2.21")), shell_env, tmp_path)
    assert proc.returncode == 1 and "release 14.2.21 is older than min-release 16.2.0" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _sh(script.replace("/rootfs", str(empty)), shell_env, tmp_path)
    assert proc.returncode == 3 and "no librbd.so.1 found under" in proc.stderr


def _ci_steps():
    steps = []
    for line in _read("ci", "github-actions.yml").splitlines():
        match = re.match(r"\s*- run: (librbd-probe .*)$", line)
        if match:
            steps.append(match.group(1))
    for line in _read("ci", "gitlab-ci.yml").splitlines():
        match = re.match(r"\s*- (librbd-probe .*)$", line)
        if match:
            steps.append(match.group(1))
    return steps


def test_ci_job_steps(tmp_path, shell_env, installed):
    steps = _ci_steps()
    assert len(steps) == 2
    shutil.copytree(CONTRIB, str(tmp_path / "contrib"))
    for step in steps:
        proc = _sh(step, shell_env, tmp_path)
        assert proc.returncode == 0, (step, proc.stderr)
        with open(str(tmp_path / "librbd-report.json")) as handle:
            report = json.load(handle)
        assert report["capabilities"]["create.options"]["status"] == "yes"


def test_policy_file_parses_and_means_what_it_says():
    from librbd_probe import gate
    with open(POLICY) as handle:
        policy = gate.parse_policy(handle.read(), POLICY)
    assert policy["min_release"] == "16.2.0" and "create.options" in policy["require"]


# --- the README's first command: root without sudo, a user with sudo ---------------------------

def _first_readme_command():
    with open(os.path.join(PROJECT, "README.md")) as handle:
        text = handle.read()
    return re.search(r"```sh\n(.*?)\n```", text, re.S).group(1)


@pytest.mark.parametrize("with_sudo", [False, True])
def test_readme_first_command_with_and_without_sudo(tmp_path, with_sudo):
    need(shutil.which("sh") is not None, "sh")
    command = _first_readme_command()
    assert command.startswith("$(command -v sudo) "), command
    # run the command's privilege prefix in a PATH where sudo is absent (root in a container:
    # "sudo: command not found" before) or present (a user with sudo); apt-get is a recorder
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "log"
    for tool in ("apt-get",) + (("sudo",) if with_sudo else ()):
        path = bindir / tool
        path.write_text("#!/bin/sh\necho {} \"$@\" >> '{}'\n{}".format(
            tool, log, 'exec "$@"\n' if tool == "sudo" else ""))
        path.chmod(0o755)
    # the privileged part: every step up to the first one that is not apt-get (update, install)
    steps = command.split(" && ")
    apt_steps = [step for step in steps if step.startswith("$(command -v sudo) apt-get ")]
    assert apt_steps == steps[:len(apt_steps)] and len(apt_steps) == 2, command
    env = {"PATH": str(bindir), "HOME": str(tmp_path)}          # nothing else on PATH
    proc = subprocess.run(["/bin/sh", "-c", " && ".join(apt_steps)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc.stderr
    lines = log.read_text().splitlines()
    if with_sudo:
        assert [line.split()[:3 if line.startswith("sudo") else 2] for line in lines] == [
            ["sudo", "apt-get", "update"], ["apt-get", "update"],
                                                        ["sudo", "apt-get", "install"], ["apt-get", "install"]]
    else:
        assert [line.split()[:2] for line in lines] == [["apt-get", "update"], ["apt-get", "install"]]
