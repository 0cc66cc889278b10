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
from librbd_probe import knowledge as kn
from librbd_probe.identify import Facts
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
    # CEPH_CONF set: only its files (librados 16.2.15 asked: test_hostile_config's search rows)
    assert config.search_path(None, env, cwd="/w") == [("/env/ceph.conf", "CEPH_CONF")]
    assert config.search_path(None, {"CEPH_CONF": "/a.conf;/b.conf,,/c.conf"}, cwd="/w") == [
        ("/a.conf", "CEPH_CONF"), ("/b.conf", "CEPH_CONF"), ("/c.conf", "CEPH_CONF")]
    assert config.search_path(None, {"CEPH_CONF": ""}, cwd="/w") == []
    assert config.search_path(None, {"HOME": "/home/u"}, cwd="/w") == [
        ("/etc/ceph/ceph.conf", "/etc/ceph"), ("/home/u/.ceph/ceph.conf", "~/.ceph"),
        ("/w/ceph.conf", "current directory")]
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


NAUTILUS = Facts({"rbd_features_all": Fact(0x3ff, "RBD_FEATURES_ALL of 14.2.21"),
                  "format1_create": Fact("refused unless RBD_FORCE_ALLOW_V1", "librbd/api/Image.cc 14.2.21")},
                 ("14.2.21",))
OCTOPUS = Facts({"rbd_features_all": Fact(0x7ff, "RBD_FEATURES_ALL of 15.2.7")}, ("15.2.7",))
PACIFIC = Facts({"rbd_features_all": Fact(0xfff, "RBD_FEATURES_ALL of 16.2.15")}, ("16.2.15",))
JEWEL = Facts({"rbd_features_all": Fact(0x7f, "RBD_FEATURES_ALL of 10.2.0")}, ("10.2.0",))
SPAN = Facts({"rbd_features_all": Fact(0x3ff, "s")}, ("15.2.7", "16.2.15"))


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
    ({"rbd_default_features": "65"}, OCTOPUS, None, ["config.feature-dependency"],
     ["journaling without exclusive-lock", "-EINVAL"]),
    ({"rbd_default_features": "layering,object-map"}, OCTOPUS, None, ["config.feature-dependency"],
     ["object-map without exclusive-lock"]),
    # fast-diff without object-map, per release (knowledge: features.json effects "alone"):
    # -EINVAL in 15.2.x (CreateRequest validate_features), dropped on 16.2.15 (live trials),
    # created then removed with rc 0 in 10.2.x (internal.cc create); 14.2.21 itself unverified
    ({"rbd_default_features": "21"}, OCTOPUS, None, ["config.feature-dependency"],
     ["fast-diff without object-map: creates fail with -EINVAL", "EINVAL in 15.2.0..15.2.7"]),
    ({"rbd_default_features": "21"}, NAUTILUS, None, ["config.feature-dependency-unverified"],
     ["(14.2.21) does then is not established", "EINVAL in", "dropped in 16.2.15"]),
    ({"rbd_default_features": "21"}, PACIFIC, None, ["config.feature-dropped"],
     ["new images silently get no fast-diff"]),
    ({"rbd_default_features": "21"}, JEWEL, None, ["config.feature-dependency"],
     ["the image is removed again, yet the call returns 0"]),
    ({"rbd_default_features": "21"}, SPAN, None, ["config.feature-dependency-unverified"],
     ["(15.2.7, 16.2.15) does then is not established", "15.2.0..15.2.7", "dropped in 16.2.15"]),
    ({"rbd_default_features": "65"}, JEWEL, None, ["config.feature-dependency-unverified"], ["(10.2.0)"]),
    ({"rbd_default_features": "21"}, {}, None, ["config.feature-dependency-unverified"],
     ["(release not identified)"]),
    ({"rbd_default_format": "1"}, NAUTILUS, None, ["config.format1-refused"], ["RBD_FORCE_ALLOW_V1"]),
    ({"rbd_default_format": "1"}, {"format1_create": ("allowed", "src")}, None, [], []),
    ({"rbd_default_format": "1"}, {}, None, [], []),
    ({"rbd_default_format": "two"}, NAUTILUS, None, [], []),
])
def test_analyse(values, facts, known, ids, words):
    summary, problems = config.analyse(values, facts, known)
    assert _ids(problems) == ids
    text = " ".join(p.message + " " + (p.fix or "") + " " + " ".join(p.evidence) for p in problems)
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
    assert section["error"].endswith("gone.conf: no such file") and problems == ()     # safeio's one line
    section, _ = config.configuration(None, None, None, [])
    assert section["read_by"].startswith("nothing") and section["values"] == {}


def test_secret_keys_are_never_read():
    assert not {"key", "keyfile", "keyring"} & set(config.KEYS)


@pytest.mark.parametrize("values, facts, known, record, evidence", [
    ({"rbd_default_features": "2109"}, NAUTILUS, None, (
        "config.unknown-features", "error",
        "rbd default features = 2109 asks for dirty-cache (0x800), which this librbd does not know: every create "
        "without explicit features fails with -ENOSYS (\"librbd does not support requested features\"), which the "
        "Python binding raises as `FunctionNotSupported: error creating image`",
        "upgrade the client (librbd1/librados2) to 16.2.15 (pacific) or later, or set `rbd default features = 61` "
        "(layering, exclusive-lock, object-map, fast-diff, deep-flatten) in the client's ceph.conf"),
     "known mask 0x3ff from RBD_FEATURES_ALL of 14.2.21"),
    ({"rbd_default_features": "5"}, NAUTILUS, 1, (
        "config.unknown-features", "error",
        "rbd default features = 5 asks for exclusive-lock (0x4), which this librbd does not know: every create "
        "without explicit features fails with -ENOSYS (\"librbd does not support requested features\"), which the "
        "Python binding raises as `FunctionNotSupported: error creating image`",
        "upgrade the client (librbd1/librados2) to 0.94 (hammer) or later, or set `rbd default features = 1` "
        "(layering) in the client's ceph.conf"),
     "known mask 0x1 from the library's own rbd_features_to_string answers"),
    ({"rbd_default_features": "layering,bogus"}, NAUTILUS, None, (
        "config.feature-names", "error",
        "rbd default features = layering,bogus names features this tool does not know: bogus",
        "use the numeric mask or the names from `rbd help create`"), None),
    ({"rbd_default_features": "65"}, OCTOPUS, None, (
        "config.feature-dependency", "error",
        "rbd default features = 65 has journaling without exclusive-lock: creates fail with -EINVAL "
        "(\"cannot use journaling without exclusive lock\")",
        "add exclusive-lock to rbd default features or drop journaling"), "EINVAL in 15.2.0..15.2.7: "),
    ({"rbd_default_features": "21"}, PACIFIC, None, (
        "config.feature-dropped", "warning",
        "rbd default features = 21 has fast-diff without object-map: new images silently get no fast-diff",
        "add object-map to rbd default features or drop fast-diff"), "dropped in 16.2.15: "),
    ({"rbd_default_format": "1"}, NAUTILUS, None, (
        "config.format1-refused", "error",
        "rbd default format = 1, but this librbd refuses to create format 1 images: creates fail with -EINVAL "
        "(\"Format 1 image creation unsupported\"), raised by the Python binding as `InvalidArgument: error "
        "creating image`",
        "set `rbd default format = 2` (format 1 is deprecated), or export RBD_FORCE_ALLOW_V1=1 in the client's "
        "environment as a stopgap"), "librbd/api/Image.cc 14.2.21"),
    ({"rbd_default_features": "65"}, JEWEL, None, (
        "config.feature-dependency-unverified", "warning",
        "rbd default features = 65 has journaling without exclusive-lock: what this librbd (10.2.0) does then is "
        "not established (recorded: " + config._ranges(kn.feature("journaling")) + ")",
        "add exclusive-lock to rbd default features or drop journaling"), None),
])
def test_problem_records(values, facts, known, record, evidence):
    """The whole record the operator reads."""
    (problem,) = config.analyse(values, facts, known)[1]
    assert tuple(problem)[:4] == record
    if evidence is None:
        assert problem.evidence == ()
    else:
        assert len(problem.evidence) == 1 and problem.evidence[0].startswith(evidence)


def test_ranges_group_verified_effects():
    from librbd_probe.knowledge import Effect
    effects = (Effect("alone", "EINVAL", "12.2.0", "12.2.9", True, "s"), Effect("alone", "EINVAL", "11.2.0", "11.2.0", True, "s"),
               Effect("alone", "dropped", "16.2.15", "16.2.15", True, "s"), Effect("alone", "kept", "1.0", "2.0", False, "s"),
               Effect("at-create", "dropped", "16.2.15", "16.2.15", True, "s"))
    feature = kn.feature("fast-diff")._replace(effects=effects)
    assert config._ranges(feature) == "EINVAL in 11.2.0, 12.2.0..12.2.9; dropped in 16.2.15"


# --- edges the mutation run found unpinned ---------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (u"[client] ; note ]\nk = v\n", {"global": {}, "client": {"k": "v"}}),       # first "]" ends the name
    (u"[global\nk = v\n", {"global": {"k": "v"}}),                              # no "]": the rest of the line
    (u"k = a=b\n", {"global": {"k": "a=b"}}),                                   # the first "=" splits
    (u"# k = commented\n; j = too\nx = XFS\n", {"global": {"x": "XFS"}}),       # ; and # comment lines
    (u'q = "quoted"\n', {"global": {"q": "quoted"}}),
    (u"a = 1 # c ; d\n", {"global": {"a": "1"}}),
])
def test_parse_ceph_conf_edges(text, expected):
    assert config.parse_ceph_conf(io.StringIO(text)) == expected


def test_section_order_of_a_dotted_name():
    assert config.section_order(None, "client.rgw.gw1") == ["client.rgw.gw1", "client", "global"]


def test_hex_and_masks():
    assert config.parse_features("0x3D") == (61, ())
    assert config.parse_features("bogus") == (0, ("bogus",))
    assert config.library_known_mask({"1": {"rc": -errno.EINVAL}}) == 0


def test_fact_forms():
    assert config._fact({"k": ("v", "s")}, "k") == ("v", "s")
    assert config._fact({"k": Fact(None, None, "sources not reachable")}, "k") == (None, "sources not reachable")
    assert config._fact({"k": Fact(3, "src")}, "k") == (3, "src")
    assert config._fact(None, "k") == (None, "release not identified")


def test_upgrade_target_is_the_newest_first_release_by_version():
    """9.2.0 (fast-diff) vs 10.2.0 (journaling): by version, not by text."""
    facts = Facts({"rbd_features_all": Fact(0xf, "RBD_FEATURES_ALL of 0.94")}, ("0.94",))
    _, problems = config.analyse({"rbd_default_features": str(1 | 16 | 64)}, facts)
    unknown = [p for p in problems if p.id == "config.unknown-features"][0]
    assert "upgrade the client (librbd1/librados2) to 10.2.0 (jewel) or later" in unknown.fix
    assert "or set `rbd default features = 1` (layering)" in unknown.fix
    _, problems = config.analyse({"rbd_default_features": "16"}, facts)
    assert "set `rbd default features = 0` (no features)" in problems[0].fix
    assert problems[0].message.startswith("rbd default features = 16 asks for fast-diff (0x10)")
    _, problems = config.analyse({"rbd_default_features": "layering,bogus,worse"}, facts)
    assert problems[0].message.endswith("does not know: bogus, worse")


def test_a_span_takes_the_earliest_matching_effect_as_evidence():
    facts = Facts({"rbd_features_all": Fact(0x7ff, "s")}, ("15.2.7", "12.2.5"))
    (problem,) = config.analyse({"rbd_default_features": "65"}, facts)[1]
    assert problem.id == "config.feature-dependency" and problem.evidence[0].startswith("EINVAL in 12.2.0..12.2.9: ")


def test_configuration_details(tmp_path):
    conf = tmp_path / "ceph.conf"
    conf.write_bytes(b"[client.glance]\nrbd default format = 1\nrbd default data pool = caf\xe9\n")
    section, problems = config.configuration(None, str(conf), "CEPH_CONF", [(str(conf), "CEPH_CONF")],
                                             client_name="client.glance", facts=NAUTILUS)
    assert section["file"] == str(conf) and section["found_via"] == "CEPH_CONF"
    assert section["client"] == "client.glance"
    assert section["values"] == {"rbd_default_format": "1", "rbd_default_data_pool": "caf\ufffd"}
    assert section["rbd_default_format"] == {"raw": "1", "value": 1}
    assert "read_rc" not in section and _ids(problems) == ["config.format1-refused"]
    # librados read it: a read_rc of 0 is not reported; the library's own feature answers count
    section, problems = config.configuration(
        {"create_rc": 0, "read_rc": 0, "values": {"rbd_default_features": "5"}}, None, None, [],
        facts=NAUTILUS, features_check={"1": {"rc": -errno.ERANGE}, "4": {"rc": -errno.EINVAL}})
    assert "read_rc" not in section and _ids(problems) == ["config.unknown-features"]
    assert problems[0].evidence == ("known mask 0x1 from the library's own rbd_features_to_string answers",)
    section, _ = config.configuration(None, str(tmp_path / "missing.conf"), "--conf", [])
    assert section == {"file": str(tmp_path / "missing.conf"), "found_via": "--conf", "searched": [],
                       "client": "client.admin", "read_by": "librbd_probe's ceph.conf parser (the library was not loaded)",
                       "values": {}, "error": "ceph.conf {}: no such file".format(tmp_path / "missing.conf")}


def test_search_path_uses_the_process_environment(monkeypatch):
    monkeypatch.setenv("CEPH_CONF", "/from/env.conf")
    assert config.search_path(cwd="/w")[0] == ("/from/env.conf", "CEPH_CONF")


def test_an_unparseable_format_is_none():
    summary, problems = config.analyse({"rbd_default_format": "two"}, NAUTILUS)
    assert summary == {"rbd_default_format": {"raw": "two", "value": None}} and problems == ()
