"""The report is immutable all the way down (issue 8, item 5), and to_dict() is unchanged by it."""
import json

import pytest

from librbd_probe.model import (EMPTY, Capability, LibraryReport, Problem, Report, RuntimeReport, freeze,
                                to_plain)


def _report(**over):
    fields = dict(
        mode="static", root=None,
        libraries={"librbd": LibraryReport(name="librbd", found=True, path="/x/librbd.so.1", needed=["librados.so.2"])},
        runtime=RuntimeReport(attempted=True, loaded=True, symbols={"rbd_open": {"found": True, "owner": "/x"}},
                              features_check={"1": {"rc": -34, "names": "layering"}}, loaded_objects=["/x"],
                              error={"kind": "load", "message": "m"}),
        capabilities=[Capability("create.format2", "yes", "r", ["e1"])],
        problems=[Problem("p", "info", "m", None, ["ev"])],
        release={"version": "16.2.15", "facts": {"rbd_version": {"value": [1, 16, 0], "source": "s"}}},
        config={"values": {"rbd_default_features": "61"}, "searched": ["/etc/ceph/ceph.conf"]},
        krbd={"supported_features": 61, "names": ["layering"]},
        live={"trials": [{"id": "t", "got": {"features": 1}}]})
    fields.update(over)
    return Report(**fields)


PLAIN = {
    "libraries": {"librbd": {"name": "librbd", "found": True, "path": "/x/librbd.so.1", "needed": ["librados.so.2"]}},
    "release": {"version": "16.2.15", "facts": {"rbd_version": {"value": [1, 16, 0], "source": "s"}}},
    "config": {"values": {"rbd_default_features": "61"}, "searched": ["/etc/ceph/ceph.conf"]},
    "krbd": {"supported_features": 61, "names": ["layering"]},
    "live": {"trials": [{"id": "t", "got": {"features": 1}}]},
}


@pytest.mark.parametrize("write", [
    lambda r: r.release.__setitem__("version", "x"),
    lambda r: r.release["facts"].__setitem__("x", 1),
    lambda r: r.release["facts"]["rbd_version"].__setitem__("value", None),
    lambda r: r.config["values"].__setitem__("rbd_default_format", "1"),
    lambda r: r.config.__setitem__("file", "/etc/evil.conf"),
    lambda r: r.krbd.__setitem__("supported_features", 0),
    lambda r: r.live["trials"][0]["got"].__setitem__("features", 0),
    lambda r: r.libraries.__setitem__("librados", None),
    lambda r: r.libraries.pop("librbd"),
    lambda r: r.runtime.symbols.__setitem__("rbd_create", {}),
    lambda r: r.runtime.symbols["rbd_open"].__setitem__("found", False),
    lambda r: r.runtime.features_check.clear(),
    lambda r: r.runtime.error.__setitem__("message", "x"),
    lambda r: r.config["searched"].append("/x"),
    lambda r: r.live["trials"].append({}),
    lambda r: r.libraries["librbd"].needed.append("x"),
    lambda r: r.capabilities[0].evidence.append("x"),
    lambda r: r.problems[0].evidence.append("x"),
    lambda r: setattr(r, "mode", "runtime"),
])
def test_writing_into_a_report_raises(write):
    report = _report()
    with pytest.raises((TypeError, AttributeError)):
        write(report)
    assert to_plain(report.release) == PLAIN["release"]


def test_to_dict_is_the_same_json():
    data = _report().to_dict()
    for key, value in PLAIN.items():
        got = data[key]
        if key == "libraries":
            got = {"librbd": {k: v for k, v in got["librbd"].items() if k in value["librbd"]}}
        assert got == value, key
    assert data["runtime"]["symbols"] == {"rbd_open": {"found": True, "owner": "/x"}}
    assert data["capabilities"] == {"create.format2": {"status": "yes", "reason": "r", "evidence": ["e1"],
                                                       "binding": None}}
    json.dumps(data)                                 # plain builtins only


def test_the_report_keeps_a_private_copy():
    release = {"version": "16.2.15"}
    report = _report(release=release)
    release["version"] = "x"
    assert report.release["version"] == "16.2.15"


def test_no_shared_mutable_default():
    a, b = RuntimeReport(attempted=False), RuntimeReport(attempted=False)
    assert a.symbols == {} and a.to_dict()["symbols"] == {}
    with pytest.raises(TypeError):
        a.symbols["x"] = 1
    assert b.symbols == {} and b.symbols == EMPTY


def test_replace_and_make_freeze_too():
    report = _report()._replace(live={"trials": [], "error": {"message": "m"}})
    with pytest.raises(TypeError):
        report.live["error"]["message"] = "x"
    made = RuntimeReport._make([True, True, None, None, None, None, None, None, [], {"a": {}}, None, None])
    with pytest.raises(TypeError):
        made.symbols["b"] = 1
    assert made.loaded_objects == ()


def test_freeze_values():
    frozen = freeze({"a": [1, {"b": {2, 3}}], "c": (4,)})
    assert frozen["a"] == (1, {"b": frozenset({2, 3})}) and frozen["c"] == (4,)
    assert to_plain(frozen) == {"a": [1, {"b": [2, 3]}], "c": [4]}
    assert freeze(Capability("x", "yes", "r")) == Capability("x", "yes", "r")


def test_a_real_scan_is_immutable():
    import librbd_probe
    report = librbd_probe.capabilities(runtime=False)
    with pytest.raises(TypeError):
        report.release["version"] = "x"
    with pytest.raises(TypeError):
        report.config["values"]["rbd_default_features"] = "1"
    with pytest.raises(TypeError):
        report.krbd["reason"] = "x"
    with pytest.raises(TypeError):
        report.libraries["librbd"] = None
    assert report.to_dict() == json.loads(json.dumps(report.to_dict()))
