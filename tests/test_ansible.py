"""contrib/ansible against real ssh targets with real ansible-core (tests/ansible_targets.py).

Five inventory hosts, each its own sshd on 127.0.0.x and its own client libraries:
  con01  Python 3.6 (RHEL 8's platform-python floor), the host's 16.2.15, runtime probe,
         its own ceph.conf and client id
  con02  --root of the unpacked Debian 14.2.21 (static: it cannot load here), a --require
         it fails (exit 1: the report is kept)
  con03  LD_LIBRARY_PATH to the unpacked 18.2.7 with --no-runtime (the loader's choice, read)
  con04  a ceph.conf that does not exist: exit 2, no report
  con05  no sshd at all: unreachable
Reference for every gathered report: the same pyz run here directly with the same interpreter,
arguments and environment; the release from the corpus manifest (the Debian package version);
rbd_version from the real library through ctypes.
"""
import ctypes
import json
import os
import pwd
import shutil
import subprocess

import pytest

import ansible_targets as at
import corpus
from conftest import INSTALLED, need

PY36 = "/root/.pyenv/versions/3.6.15/bin/python3"
SYSTEM_PY = "/usr/bin/python3"
HOSTS = ("con01", "con02", "con03", "con04", "con05")


def _artifacts():
    path = os.environ.get("LIBRBD_PROBE_ARTIFACTS") or "/tmp/librbd_probe-artifacts"
    path = os.path.join(path, "ansible")
    os.makedirs(path, exist_ok=True)
    return path


def _stats(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)["stats"]


def _task_results(proc, name):
    doc = json.loads(proc.stdout)
    for play in doc["plays"]:
        for task in play["tasks"]:
            # the json callback prefixes the role: "librbd_probe : librbd-probe scan"
            if task["task"]["name"] == "librbd_probe : " + name:
                yield task["hosts"]


class Fleet(object):
    pass


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    reason = at.missing()
    need(reason is None, reason or "")
    need(os.path.exists(PY36), PY36 + " missing (the 3.6 floor interpreter)")
    need(os.path.exists(INSTALLED["librbd"]), "librbd1 not installed")
    root14 = corpus.release_root("14.2.21")
    root18 = corpus.release_root("18.2.7")
    work = str(tmp_path_factory.mktemp("ansible"))
    pyz = at.build_pyz(os.path.join(work, "librbd-probe.pyz"))
    conf = os.path.join(work, "ceph-cinder.conf")
    with open(conf, "w") as handle:
        # layering + striping for the cinder client, the default for everybody else
        handle.write("[global]\nrbd default features = 61\n[client.cinder]\nrbd default features = 3\n")
    lib18 = os.path.dirname(corpus.library("18.2.7", "librbd"))
    # libceph-common too (librados's RUNPATH names the host's /usr/lib/.../ceph: without this the
    # loader would mix the host's 16.2.15 libceph-common into the 18.2.7 client)
    lib18 = lib18 + ":" + os.path.join(lib18, "ceph")
    hosts = [
        ("con01", "127.0.0.2", {"librbd_probe_python": PY36, "librbd_probe_conf": conf,
                                "librbd_probe_client": "cinder"}),
        # api.encryption came with pacific: 14.2.21 lacks it, so this --require fails (exit 1)
        ("con02", "127.0.0.3", {"librbd_probe_python": SYSTEM_PY, "librbd_probe_args": ["--root", root14],
                                "librbd_probe_require": ["api.encryption"]}),
        ("con03", "127.0.0.4", {"librbd_probe_args": ["--no-runtime"],
                                "librbd_probe_environment": {"LD_LIBRARY_PATH": lib18}}),
        ("con04", "127.0.0.5", {"librbd_probe_conf": os.path.join(work, "absent", "ceph.conf")}),
        ("con05", "127.0.0.6", {"_down": True}),
    ]
    f = Fleet()
    f.work, f.pyz, f.conf, f.root14, f.root18, f.lib18 = work, pyz, conf, root14, root18, lib18
    f.reports = os.path.join(work, "reports")
    f.extra = ["-e", "librbd_probe_pyz=" + pyz, "-e", "librbd_probe_report_dir=" + f.reports]
    with at.Targets(work, hosts) as targets:
        f.targets = targets
        f.first = at.run_playbook(targets, f.extra)
        shutil.copyfile(targets.inventory, os.path.join(_artifacts(), "inventory.json"))
        with open(os.path.join(_artifacts(), "callback-json.json"), "w") as handle:
            handle.write(f.first.stdout)
        yield f


def _report(fleet, host):
    with open(os.path.join(fleet.reports, host + ".json"), "rb") as handle:
        return handle.read()


def _ssh_home():
    # an ssh session starts in the user's home: the scan's "./ceph.conf" is looked for there
    return pwd.getpwuid(os.geteuid()).pw_dir


def _direct(fleet, python, args, env=None):
    full = dict(os.environ)
    full.pop("PYTHONPATH", None)
    full.update(env or {})
    proc = subprocess.run([python, fleet.pyz, "--json"] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=full, cwd=_ssh_home(), timeout=120)
    return proc


def test_first_run_succeeds_and_reaches_every_live_target(fleet):
    stats = _stats(fleet.first)
    assert sorted(stats) == list(HOSTS)
    for host in HOSTS:
        assert stats[host]["failures"] == 0 and stats[host]["unreachable"] == 0, (host, stats[host])
    # con05 was unreachable; the role records that instead of dropping the host
    assert stats["con05"]["ignored"] == 1


def test_report_files_follow_the_contract(fleet):
    names = sorted(os.listdir(fleet.reports))
    assert names == ["_hosts.json", "con01.json", "con02.json", "con03.json",
                     "con04.failed.json", "con05.failed.json"]


def test_con01_runtime_report_on_python36_is_the_direct_run(fleet):
    direct = _direct(fleet, PY36, ["--conf", fleet.conf, "--id", "cinder"])
    gathered = _report(fleet, "con01")
    assert gathered == direct.stdout, "gathered report differs from a direct run of the same pyz"
    report = json.loads(gathered.decode("utf-8"))
    assert report["mode"] == "runtime"
    assert report["runtime"]["error"] is None, report["runtime"]["error"]
    lib = ctypes.CDLL(INSTALLED["librbd"])
    major, minor, extra = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    lib.rbd_version(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(extra))
    assert report["runtime"]["rbd_version"] == [major.value, minor.value, extra.value] == [1, 16, 0]
    assert report["config"]["client"] == "client.cinder"
    assert report["config"]["file"] == fleet.conf
    assert report["config"]["rbd_default_features"]["value"] == 3


def test_con02_root_of_14_2_21_is_static_and_identified(fleet):
    direct = _direct(fleet, SYSTEM_PY, ["--require=api.encryption", "--root", fleet.root14])
    assert direct.returncode == 1
    gathered = _report(fleet, "con02")
    assert gathered == direct.stdout                # a failed --require still yields the report
    report = json.loads(gathered.decode("utf-8"))
    assert report["capabilities"]["api.encryption"]["status"] == "no"
    assert report["mode"] == "static" and report["root"] == fleet.root14
    assert report["release"]["version"] == corpus.manifest("14.2.21")["upstream"]


def test_con03_ld_library_path_chooses_the_18_2_7_copy(fleet):
    direct = _direct(fleet, SYSTEM_PY, ["--no-runtime"], env={"LD_LIBRARY_PATH": fleet.lib18})
    gathered = _report(fleet, "con03")
    assert gathered == direct.stdout
    report = json.loads(gathered.decode("utf-8"))
    librbd = report["libraries"]["librbd"]
    assert librbd["chosen_by"] == "LD_LIBRARY_PATH"
    assert librbd["realpath"].startswith(fleet.root18 + "/")
    assert report["release"]["version"] == corpus.manifest("18.2.7")["upstream"]
    # the host's own 16.2.15 is shadowed by the environment: the scan says so
    assert "shadowed-copy.librbd" in [p["id"] for p in report["problems"]]


def test_failed_and_unreachable_hosts_are_recorded(fleet):
    with open(os.path.join(fleet.reports, "con04.failed.json")) as handle:
        con04 = json.load(handle)
    assert con04["rc"] == 2 and con04["host"] == "con04"
    assert con04["stderr"].count("\n") == 1 and "--conf" in con04["stderr"] and "no such file" in con04["stderr"]
    with open(os.path.join(fleet.reports, "con05.failed.json")) as handle:
        con05 = json.load(handle)
    assert con05["rc"] is None and "Connection refused" in con05["msg"]


def test_index_names_every_host_with_its_address_and_exit_code(fleet):
    with open(os.path.join(fleet.reports, "_hosts.json")) as handle:
        index = json.load(handle)
    hosts = index["hosts"]
    assert sorted(hosts) == list(HOSTS)
    assert [hosts[h]["ansible_host"] for h in HOSTS] == ["127.0.0.{}".format(i) for i in range(2, 7)]
    assert hosts["con01"]["rc"] == 0 and hosts["con01"]["report"] == "con01.json"
    assert hosts["con01"]["client"] == "cinder" and hosts["con01"]["conf"] == fleet.conf
    assert hosts["con02"]["rc"] == 1 and hosts["con02"]["report"] == "con02.json"
    assert hosts["con04"]["rc"] == 2 and hosts["con04"]["failed"] == "con04.failed.json"
    # unreachable: only the address it was tried at
    assert hosts["con05"]["reached"] is False and hosts["con05"]["addresses"] == ["127.0.0.6"]
    # `hostname -I` on the target (the same machine here; compared with the real command), then
    # the address ansible reached it at
    here = subprocess.run(["hostname", "-I"], stdout=subprocess.PIPE, universal_newlines=True).stdout.split()
    assert hosts["con02"]["addresses"] == here + ["127.0.0.3"]


def test_json_callback_carries_each_report_in_the_scan_task(fleet):
    results = list(_task_results(fleet.first, "librbd-probe scan"))
    assert len(results) == 1
    for host in ("con01", "con02", "con03"):
        assert results[0][host]["stdout"].encode("utf-8") == _report(fleet, host)
    assert results[0]["con04"]["rc"] == 2


def test_second_run_is_idempotent(fleet):
    before = {n: os.stat(os.path.join(fleet.reports, n)).st_mtime_ns for n in os.listdir(fleet.reports)}
    stats = _stats(at.run_playbook(fleet.targets, fleet.extra))
    assert {h: stats[h]["changed"] for h in HOSTS} == dict.fromkeys(HOSTS, 0)
    after = {n: os.stat(os.path.join(fleet.reports, n)).st_mtime_ns for n in os.listdir(fleet.reports)}
    assert after == before


def test_serial_batches_and_one_fork_keep_the_whole_index(fleet):
    proc = at.run_playbook(fleet.targets, fleet.extra + ["-f", "1", "-e", "librbd_probe_serial=2"])
    stats = _stats(proc)
    assert {h: stats[h]["changed"] for h in HOSTS} == dict.fromkeys(HOSTS, 0)
    # three batches (2 + 2 + 1 hosts): each wrote the index merged with the previous one
    assert len(json.loads(proc.stdout)["plays"]) == 3
    with open(os.path.join(fleet.reports, "_hosts.json")) as handle:
        assert sorted(json.load(handle)["hosts"]) == list(HOSTS)


def test_check_mode_reports_changes_and_writes_nothing(fleet):
    con02 = os.path.join(fleet.reports, "con02.json")
    con03 = os.path.join(fleet.reports, "con03.json")
    original02, original03 = _report(fleet, "con02"), _report(fleet, "con03")
    textfile = os.path.join(fleet.work, "check-mode.prom")
    try:
        with open(con02, "wb") as handle:
            handle.write(original02.replace(b'"mode": "static"', b'"mode": "edited"'))
        os.unlink(con03)
        proc = at.run_playbook(fleet.targets, fleet.extra + ["--check", "--diff", "-e",
                                                             "librbd_probe_prometheus=" + textfile])
        stats = _stats(proc)
        assert stats["con02"]["changed"] == 1 and stats["con03"]["changed"] == 1
        assert stats["con01"]["changed"] == 0
        assert not os.path.exists(con03), "check mode wrote a report"
        with open(con02, "rb") as handle:
            assert b'"mode": "edited"' in handle.read()
        assert not os.path.exists(textfile), "check mode wrote the textfile on the target"
        diff = [r for r in _task_results(proc, "librbd-probe report")][0]["con02"]["diff"]
        assert '"mode": "static"' in diff[0]["after"] and '"mode": "edited"' in diff[0]["before"]
    finally:
        with open(con02, "wb") as handle:
            handle.write(original02)
        with open(con03, "wb") as handle:
            handle.write(original03)


def test_prometheus_textfile_on_the_target_passes_promtool(fleet):
    promtool = shutil.which("promtool")
    need(promtool is not None, "promtool missing (apt-get install prometheus)")
    textfile = os.path.join(fleet.work, "textfile", "librbd_probe.prom")
    os.makedirs(os.path.dirname(textfile), exist_ok=True)
    proc = at.run_playbook(fleet.targets, fleet.extra + ["--limit", "con01", "-e",
                                                         "librbd_probe_prometheus=" + textfile])
    stats = _stats(proc)
    assert stats["con01"]["changed"] == 1       # the scan task: it rewrote the textfile
    check = subprocess.run([promtool, "check", "metrics"], stdin=open(textfile, "rb"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert check.returncode == 0, check.stdout + check.stderr
    with open(textfile) as handle:
        text = handle.read()
    assert 'librbd_probe_release_info{' in text and 'version="16.2.15"' in text
    assert 'librbd_probe_rbd_version_info{source="rbd_version()",version="1.16.0"} 1' in text


def test_check_mode_first_run_creates_nothing(fleet):
    fresh = os.path.join(fleet.work, "never", "reports")
    proc = at.run_playbook(fleet.targets, ["--check", "-e", "librbd_probe_pyz=" + fleet.pyz,
                                           "-e", "librbd_probe_report_dir=" + fresh])
    stats = _stats(proc)
    # every scanned host would get its report (con01-03) or failure record (con04-05)
    assert all(stats[h]["changed"] >= 1 for h in HOSTS)
    assert not os.path.exists(os.path.dirname(fresh))


def test_without_gathering_the_reports_are_in_ansibles_json_only(fleet):
    elsewhere = os.path.join(fleet.work, "not-gathered")
    proc = at.run_playbook(fleet.targets, ["-e", "librbd_probe_pyz=" + fleet.pyz, "-e", "librbd_probe_gather=false",
                                           "-e", "librbd_probe_report_dir=" + elsewhere])
    stats = _stats(proc)
    assert {h: stats[h]["changed"] for h in HOSTS} == dict.fromkeys(HOSTS, 0)
    assert not os.path.exists(elsewhere)
    scan = list(_task_results(proc, "librbd-probe scan"))[0]
    for host in ("con01", "con02", "con03"):
        assert scan[host]["stdout"].encode("utf-8") == _report(fleet, host)


def test_missing_pyz_stops_the_play_with_one_message(fleet):
    absent = os.path.join(fleet.work, "no-such.pyz")
    proc = at.run_playbook(fleet.targets, ["-e", "librbd_probe_pyz=" + absent,
                                           "-e", "librbd_probe_report_dir=" + os.path.join(fleet.work, "x")],
                           callback="default")
    assert proc.returncode != 0
    assert "librbd_probe_pyz {} does not exist on the controller".format(absent) in proc.stdout
    assert not os.path.exists(os.path.join(fleet.work, "x"))
