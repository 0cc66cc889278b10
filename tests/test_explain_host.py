"""``explain`` decided by host evidence: the kernel's module tree and config (read from a
hand-built root by hostinfo, the way they sit on a real system), the kernel release for
msgr2, the client release for msgr2 addresses and aes256k keys, QEMU's module.  Table-driven
on hand-built HostContexts; the texts are the field set's."""
import gzip
import json
import os

import pytest

from conftest import PROJECT
from librbd_probe import explain, scan
from librbd_probe.explain import hostinfo


@pytest.fixture(scope="module")
def report():
    return scan.scan(runtime=False)


def _field(case_id):
    with open(os.path.join(PROJECT, "tests", "data", "field", case_id + ".json"), encoding="utf-8") as handle:
        return json.load(handle)["text"]


def _only(report, text, **context):
    result = explain.explain(report, text, context=explain.HostContext(**context))
    assert len(result.findings) == 1, [f.signature for f in result.findings]
    return result.findings[0]


def _root(tmp_path, release, config_line=None, module=False, proc_config=None):
    root = tmp_path / "root"
    (root / "lib" / "modules" / release / "kernel" / "drivers" / "block").mkdir(parents=True)
    if module:
        (root / "lib" / "modules" / release / "kernel" / "drivers" / "block" / "rbd.ko.xz").write_bytes(b"\xfd7zXZ")
    if config_line is not None:
        (root / "boot").mkdir()
        (root / "boot" / ("config-" + release)).write_text("CONFIG_BLOCK=y\n{}\nCONFIG_EXT4_FS=y\n".format(config_line))
    if proc_config is not None:
        (root / "proc").mkdir()
        (root / "proc" / "config.gz").write_bytes(gzip.compress(proc_config.encode()))
    return str(root)


@pytest.mark.parametrize("config_line,module,state", [
    ("CONFIG_BLK_DEV_RBD=m", True, "m"),
    ("CONFIG_BLK_DEV_RBD=y", False, "y"),
    ("# CONFIG_BLK_DEV_RBD is not set", False, "n"),
])
def test_kernel_facts_from_boot_config(tmp_path, config_line, module, state):
    facts = hostinfo.kernel_facts("5.4.0-1-test", root=_root(tmp_path, "5.4.0-1-test", config_line, module))
    assert facts["rbd_config"] == state and facts["modules_dir"] is True
    assert facts["config_source"].endswith("boot/config-5.4.0-1-test")
    assert (facts["rbd_module"] or "").endswith("rbd.ko.xz") == module


def test_kernel_facts_from_proc_config(tmp_path):
    facts = hostinfo.kernel_facts("6.1.0", root=_root(tmp_path, "6.1.0", proc_config="# CONFIG_BLK_DEV_RBD is not set\n"))
    assert facts["rbd_config"] == "n" and facts["config_source"].endswith("proc/config.gz")


def test_module_not_found_decided_by_a_kernel_without_rbd(report, tmp_path):
    release = "4.4.126-rockchip-ayufan-239"
    facts = hostinfo.kernel_facts(release, root=_root(tmp_path, release, "# CONFIG_BLK_DEV_RBD is not set"))
    finding = _only(report, _field("kmod-01"), kernel_release=release, kernel=facts)
    assert (finding.cause_id, finding.confidence) == ("kernel-without-rbd", "high")
    assert "CONFIG_BLK_DEV_RBD is not set" in " ".join(finding.evidence)


def test_module_not_found_with_the_module_on_this_host_means_not_visible(report, tmp_path):
    release = "4.4.126-rockchip-ayufan-239"
    facts = hostinfo.kernel_facts(release, root=_root(tmp_path, release, "CONFIG_BLK_DEV_RBD=m", module=True))
    finding = _only(report, _field("kmod-01"), kernel_release=release, kernel=facts)
    assert finding.cause_id == "lib-modules-not-visible" and finding.confidence == "medium"


def test_module_not_found_for_another_kernel_is_not_decided_here(report, tmp_path):
    facts = hostinfo.kernel_facts("6.1.0", root=_root(tmp_path, "6.1.0", "# CONFIG_BLK_DEV_RBD is not set"))
    finding = _only(report, _field("kmod-01"), kernel_release="6.1.0", kernel=facts)
    assert finding.confidence == "medium" and "this host cannot decide it" in " ".join(finding.evidence)
    plain = _only(report, _field("kmod-05"), kernel_release="6.1.0", kernel=facts)
    assert plain.confidence == "undecided" and set(plain.candidates) == {"kernel-without-rbd", "lib-modules-not-visible"}


def test_moddep_with_the_tree_on_this_host(report, tmp_path):
    release = "3.19.0"
    facts = hostinfo.kernel_facts(release, root=_root(tmp_path, release, "CONFIG_BLK_DEV_RBD=m", module=True))
    finding = _only(report, _field("kmod-02"), kernel_release=release, kernel=facts)
    assert (finding.cause_id, finding.confidence) == ("lib-modules-not-visible", "high")


@pytest.mark.parametrize("kernel,fix_words", [("5.4.0-100-generic", "this kernel cannot use ms_mode"),
                                              ("5.15.0-91-generic", "ms_mode=prefer-crc")])
def test_ms_mode_fix_follows_the_kernel(report, kernel, fix_words):
    finding = _only(report, _field("msgr-01"), kernel_release=kernel)
    assert (finding.cause_id, finding.confidence) == ("v2-addresses-without-ms-mode", "high")
    assert "port 3300" in " ".join(finding.evidence) and "ms_mode given: none" in finding.evidence
    assert any(fix_words in fix for fix in finding.fix)


def test_v2_port_closed_on_an_old_kernel(report):
    finding = _only(report, _field("msgr-03"), kernel_release="4.15.0-20-generic")
    assert finding.confidence == "medium" and finding.count == 6 and finding.line == 5 and finding.last_line == 10
    assert "older than 5.11" in " ".join(finding.evidence)
    assert any("(110) Connection timed out" in r for r in finding.related)


def test_msgr2_addresses_and_this_hosts_client(report):
    finding = _only(report, _field("auth-03"))
    assert "this host's librados (Ceph 16.2.15" in " ".join(finding.evidence)
    assert "parses them: the failing program carries an older Ceph client" in " ".join(finding.evidence)


def test_aes256k_key_against_this_hosts_librados(report):
    finding = _only(report, _field("auth-06"))
    evidence = " ".join(finding.evidence)
    assert "2 = aes256k" in evidence and "older than 20.2.4" in evidence
    assert finding.cause_id == "key-type-unsupported-by-librados" and finding.confidence == "medium"
    assert "key" not in finding.values       # never echo key material


@pytest.mark.parametrize("modules,words", [((), "no QEMU rbd block module on this host"),
                                           (("/usr/lib/x86_64-linux-gnu/qemu/block-rbd.so",), "this host has QEMU's rbd block module")])
def test_qemu_module_presence(report, modules, words):
    finding = _only(report, _field("qemu-02"), qemu_modules=modules)
    assert finding.cause_id == "qemu-without-rbd-driver" and words in " ".join(finding.evidence)


def test_dyld_symbol_against_this_hosts_library(report):
    finding = _only(report, _field("dyld-02"), platform="linux")
    evidence = " ".join(finding.evidence)
    assert "rados_set_pool_full_try is a librados function first released in Ceph 15.2.0" in evidence
    assert "the message comes from macOS dyld; this host (linux) is not where it failed" in evidence
