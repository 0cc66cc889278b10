"""krbd.py: /sys/bus/rbd/supported_features as drivers/block/rbd.c writes it
(``sprintf(buf, "0x%llx\\n", RBD_FEATURES_SUPPORTED)``), on hand-built sysfs trees."""
import pytest

from librbd_probe import krbd
from librbd_probe.rootfs import Root


@pytest.mark.parametrize("text, mask", [
    ("0x3d\n", 0x3d), ("0xbd\n", 0xbd), ("61", 61), ("  0x1\n", 1), ("garbage", None), ("", None)])
def test_parse_mask(text, mask):
    assert krbd.parse_mask(text) == mask


def _sysfs(tmp_path, content=None, bus=True):
    if bus:
        (tmp_path / "bus" / "rbd").mkdir(parents=True)
    if content is not None:
        (tmp_path / "bus" / "rbd" / "supported_features").write_text(content)
    return str(tmp_path)


@pytest.mark.parametrize("content, bus, mask, reason", [
    ("0x3d\n", True, 0x3d, None),
    (None, True, None, "{s}/bus/rbd/supported_features is missing: the rbd module predates Linux 4.11's "
                       "supported_features"),
    (None, False, None, "the rbd kernel module is not loaded ({s}/bus/rbd absent; modprobe rbd)"),
    ("not a number at all, and longer than forty characters\n", True, None,
     "{s}/bus/rbd/supported_features: unexpected content 'not a number at all, and longer than for'"),
])
def test_read_supported(tmp_path, content, bus, mask, reason):
    sysfs = _sysfs(tmp_path, content, bus)
    got_mask, got_reason = krbd.read_supported(sysfs)
    assert got_mask == mask
    assert got_reason == (reason.format(s=sysfs) if reason else None)


def test_read_supported_errors(tmp_path, monkeypatch):
    sysfs = _sysfs(tmp_path)
    (tmp_path / "bus" / "rbd" / "supported_features").mkdir()
    assert krbd.read_supported(sysfs) == (None, "sysfs {}/bus/rbd/supported_features: is a directory".format(sysfs))
    monkeypatch.setattr(krbd.sys, "platform", "darwin")
    assert krbd.read_supported(sysfs) == (None, "not Linux: there is no kernel RBD client")


@pytest.mark.parametrize("mask, configured, rejected, problem", [
    # hand-built masks: whatever the configuration asks beyond the kernel's mask is rejected
    (0x3f, 0x3d, [], False),
    (0x3d, 0x3d | 64, ["journaling"], True),
    (0x1, 0x3d, ["exclusive-lock", "object-map", "fast-diff", "deep-flatten"], True),
    (0x3d, None, None, False),
])
def test_analyse(mask, configured, rejected, problem):
    section, problems = krbd.analyse(mask, None, configured)
    assert section["supported_features"] == mask
    assert section.get("rejected_by_rbd_map") == rejected
    assert [p.id for p in problems] == (["krbd.unsupported-features"] if problem else [])
    if problem:
        assert tuple(problems[0]) == (
            "krbd.unsupported-features", "warning",
            "images created with the configured default features cannot be mapped by this kernel: rbd map fails "
            "with \"image uses unsupported features: 0x{:x}\" ({})".format(configured & ~mask, ", ".join(rejected)),
            "disable those features on images meant for krbd (rbd feature disable IMAGE ...), use rbd-nbd, or "
            "upgrade the kernel", ())


def test_names_from_the_knowledge_layer():
    section, _ = krbd.analyse(0x3d)
    assert section["names"] == ["layering", "exclusive-lock", "object-map", "fast-diff", "deep-flatten"]
    section, _ = krbd.analyse(1 << 40)
    assert section["names"] == ["bit 40"]


def test_section(tmp_path):
    sysfs = _sysfs(tmp_path / "sys", "0x1\n")
    section, problems = krbd.section(sysfs, None, 5)
    assert section["rejected_by_rbd_map"] == ["exclusive-lock"] and len(problems) == 1
    assert krbd.section(sysfs, Root(None), 5)[0] == section
    section, problems = krbd.section(sysfs, Root(str(tmp_path)), 5)
    assert section == {"supported_features": None,
                       "reason": "static scan of a root: the running kernel is not the target's"}
    assert problems == ()
    assert krbd.section(str(tmp_path / "nosys"), None)[0]["reason"].startswith("the rbd kernel module is not loaded")
    section, _ = krbd.analyse(None, "the rbd kernel module is not loaded")
    assert section == {"supported_features": None, "reason": "the rbd kernel module is not loaded"}
