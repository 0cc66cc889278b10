"""config.py on hand-built evidence: the ceph.conf reader, the search path and the analysis.

The expectations restate librbd's behaviour as its sources have it (cited per case), never the
code under test: src/common/ConfUtils.cc (parsing), src/common/config.cc (search order),
librbd/internal.cc create() (-ENOSYS for unknown features, -EINVAL for format 1 and for
object-map/journaling without exclusive-lock), librbd::util::get_rbd_default_features.
"""
import errno
import io

import pytest

from librbd_probe import config
from librbd_probe.knowledge import Fact
from librbd_probe.rootfs import Root

CONF = u"""
; a comment
# another
[global]
mon host = 10.0.0.1
rbd default features = 61   # inline comment
rbd_default_format=2
[client]
rbd  default  format = 1
[client.cinder]
rbd default features = "layering,exclusive-lock"
no equals sign here
rbd default data pool = ec ; trailing
"""


def test_parse_ceph_conf_sections_comments_and_key_spelling():
    parsed = config.parse_ceph_conf(io.StringIO(CONF))
    assert parsed["global"] == {"mon_host": "10.0.0.1", "rbd_default_features": "61", "rbd_default_format": "2"}
    assert parsed["client"] == {"rbd_default_format": "1"}
    assert parsed["client.cinder"] == {"rbd_default_features": "layering,exclusive-lock",
                                       "rbd_default_data_pool": "ec"}


@pytest.mark.parametrize("client_id, client_name, order", [
    (None, None, ["client.admin", "client", "global"]),
    ("cinder", None, ["client.cinder", "client", "global"]),
    (None, "client.glance", ["client.glance", "client", "global"]),
])
def test_section_order(client_id, client_name, order):
    assert config.section_order(client_id, client_name) == order


@pytest.mark.parametrize("client_id, key, value", [
    ("cinder", "rbd_default_features", "layering,exclusive-lock"),   # [client.cinder] wins
    ("cinder", "rbd_default_format", "1"),                           # then [client]
    ("admin", "rbd_default_features", "61"),                         # then [global]
    ("admin", "rbd_default_stripe_unit", None),
])
def test_lookup_precedence(client_id, key, value):
    parsed = config.parse_ceph_conf(io.StringIO(CONF))
    assert config.lookup(parsed, key, config.section_order(client_id)) == value


def test_search_path_order(tmp_path):
    env = {"CEPH_CONF": "/env/ceph.conf", "HOME": "/home/u"}
    assert config.search_path(None, env, cwd="/w") == [
        ("/env/ceph.conf", "CEPH_CONF"), ("/etc/ceph/ceph.conf", "/etc/ceph"),
        ("/home/u/.ceph/ceph.conf", "~/.ceph"), ("/w/ceph.conf", "current directory")]
    assert config.search_path(None, {}, cwd="/w", cluster="backup") == [
        ("/etc/ceph/backup.conf", "/etc/ceph"), ("/w/backup.conf", "current directory")]
    assert config.search_path("/x.conf", env) == [("/x.conf", "--conf")]
    # under a root only the system file, inside the root: the host's environment is not the target's
    assert config.search_path(None, env, Root(str(tmp_path))) == [
        (str(tmp_path / "etc" / "ceph" / "ceph.conf"), "root /etc/ceph")]
    assert config.search_path(None, env, str(tmp_path)) == config.search_path(None, env, Root(str(tmp_path)))


def test_choose_file(tmp_path):
    real = tmp_path / "b.conf"
    real.write_text(u"")
    (tmp_path / "dir.conf").mkdir()
    cands = [(str(tmp_path / "a.conf"), "x"), (str(tmp_path / "dir.conf"), "d"), (str(real), "y")]
    assert config.choose_file(cands) == (str(real), "y")
    assert config.choose_file(cands[:2]) == (None, None)


@pytest.mark.parametrize("text, mask, unknown", [
    ("61", 61, ()), ("0x3d", 61, ()), (" 1 ", 1, ()),
    ("layering,exclusive-lock", 5, ()), ("layering, journaling", 65, ()),
    ("layering,bogus", 1, ("bogus",)), ("", None, ()), (None, None, ()),
])
def test_parse_features(text, mask, unknown):
    assert config.parse_features(text) == (mask, unknown)


def test_library_known_mask():
    check = {"1": {"rc": -errno.ERANGE}, "2": {"rc": -errno.ERANGE}, "4": {"rc": -errno.EINVAL},
             "2048": {"rc": -errno.EINVAL}}
    assert config.library_known_mask(check) == 3          # unasked bits are not claimed
    assert config.library_known_mask(None) is None and config.library_known_mask({}) is None


NAUTILUS = {"rbd_features_all": Fact(0x3ff, "RBD_FEATURES_ALL of 14.2.21"),
            "format1_create": Fact("refused unless RBD_FORCE_ALLOW_V1", "librbd/api/Image.cc 14.2.21")}


def _ids(problems):
    return [p.id for p in problems]


@pytest.mark.parametrize("values, facts, known, ids, words", [
    # dirty-cache (bit 11) is unknown to 14.x: -ENOSYS on every create without explicit features
    ({"rbd_default_features": str(61 | 2048)}, NAUTILUS, None, ["config.unknown-features"],
     ["dirty-cache", "0x800", "-ENOSYS", "16.2.15 (pacific)", "rbd default features = 61"]),
    # the library's own answers win over the knowledge base
    ({"rbd_default_features": "5"}, NAUTILUS, 1, ["config.unknown-features"], ["exclusive-lock", "0x4"]),
    ({"rbd_default_features": "61"}, NAUTILUS, None, [], []),
    ({"rbd_default_features": "layering,bogus"}, NAUTILUS, None, ["config.feature-names"], ["bogus"]),
    # journaling (64) without exclusive-lock (4): create refuses with -EINVAL
    ({"rbd_default_features": "65"}, NAUTILUS, None, ["config.feature-dependency"],
     ["journaling without exclusive-lock", "-EINVAL"]),
    ({"rbd_default_features": "layering,object-map"}, NAUTILUS, None, ["config.feature-dependency"],
     ["object-map without exclusive-lock"]),
    # fast-diff without object-map: dropped (the knowledge base's requires_effect)
    ({"rbd_default_features": "21"}, NAUTILUS, None, ["config.feature-dropped"], ["fast-diff without object-map"]),
    ({"rbd_default_format": "1"}, NAUTILUS, None, ["config.format1-refused"], ["RBD_FORCE_ALLOW_V1"]),
    ({"rbd_default_format": "1"}, {"format1_create": ("allowed", "src")}, None, [], []),
    ({"rbd_default_format": "1"}, {}, None, [], []),
    ({"rbd_default_format": "two"}, NAUTILUS, None, [], []),
])
def test_analyse(values, facts, known, ids, words):
    summary, problems = config.analyse(values, facts, known)
    assert _ids(problems) == ids
    text = " ".join(p.message + " " + (p.fix or "") for p in problems)
    for word in words:
        assert word in text, (word, text)


def test_analyse_summary_and_evidence():
    summary, problems = config.analyse({"rbd_default_features": str(61 | 2048), "rbd_default_format": "2"},
                                       NAUTILUS)
    assert summary["rbd_default_features"] == {
        "raw": "2109", "value": 2109, "names": ["layering", "exclusive-lock", "object-map", "fast-diff",
                                                "deep-flatten", "dirty-cache"],
        "unparsed_names": [], "unknown_to_library": ["dirty-cache"]}
    assert summary["rbd_default_format"] == {"raw": "2", "value": 2}
    assert problems[0].evidence == ("known mask 0x3ff from RBD_FEATURES_ALL of 14.2.21",)
    assert "rbd default features = 61" in problems[0].fix
    # without a known mask nothing is claimed about the library
    summary, problems = config.analyse({"rbd_default_features": "2109"}, {})
    assert summary["rbd_default_features"]["unknown_to_library"] is None and problems == ()


def test_configuration_from_librados():
    answer = {"create_rc": 0, "read_rc": -errno.ENOENT,
              "values": {"rbd_default_features": "61", "rbd_default_data_pool": ""}}
    section, problems = config.configuration(answer, "/etc/ceph/ceph.conf", "/etc/ceph",
                                             [("/etc/ceph/ceph.conf", "/etc/ceph")], facts=NAUTILUS)
    assert section["read_by"].startswith("librados")
    assert section["read_rc"] == -errno.ENOENT
    assert section["values"] == {"rbd_default_features": "61"}       # empty values are defaults
    assert section["client"] == "client.admin" and section["searched"] == ["/etc/ceph/ceph.conf"]
    assert problems == ()


def test_configuration_parsed_here(tmp_path):
    conf = tmp_path / "ceph.conf"
    conf.write_text(CONF)
    section, problems = config.configuration(None, str(conf), "--conf", [(str(conf), "--conf")],
                                             client_id="cinder", facts=NAUTILUS)
    assert section["read_by"].startswith("librbd_probe's ceph.conf parser")
    assert section["values"] == {"rbd_default_data_pool": "ec", "rbd_default_features": "layering,exclusive-lock",
                                 "rbd_default_format": "1"}
    assert _ids(problems) == ["config.format1-refused"]
    section, problems = config.configuration({"create_rc": -errno.EINVAL}, str(tmp_path / "gone.conf"), "--conf", [])
    assert section["error"].endswith("No such file or directory") and problems == ()
    section, _ = config.configuration(None, None, None, [])
    assert section["read_by"].startswith("nothing") and section["values"] == {}


def test_secret_keys_are_never_read():
    assert not {"key", "keyfile", "keyring"} & set(config.KEYS)
