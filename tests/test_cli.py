"""The command line on the real installed client (Debian 16.2.15) and on bad input."""
import json
import os
import shutil

import pytest

from conftest import run_cli
from librbd_probe import cli


def _json(capsys, argv):
    code = cli.main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_host_report_runtime(installed, capsys):
    code, data = _json(capsys, ["--json"])
    assert code == 0
    assert data["schema_version"] == 1
    librbd = data["libraries"]["librbd"]
    assert librbd["found"] and librbd["soname"] == "librbd.so.1"
    assert librbd["realpath"] == os.path.realpath(installed["librbd"])
    assert data["runtime"]["rbd_version"] == [1, 16, 0]
    assert data["runtime"]["rados_version"] == [3, 0, 0]
    assert data["runtime"]["ceph_version"] == "16.2.15"
    caps = data["capabilities"]
    for cap in ("create.format2", "create.striping", "create.options", "clone.options",
                "api.encryption", "api.namespaces"):
        assert caps[cap]["status"] == "yes", (cap, caps[cap])
        assert caps[cap]["evidence"]
    assert caps["clone.by-id"]["status"] == "no"
    assert "rbd_clone4" in caps["clone.by-id"]["reason"]


def test_json_is_deterministic(installed, capsys):
    first = cli.main(["--json"]), capsys.readouterr().out
    second = cli.main(["--json"]), capsys.readouterr().out
    assert first == second
    assert first[1].endswith("\n")
    assert json.dumps(json.loads(first[1]), indent=2, sort_keys=True) + "\n" == first[1]


def test_text_table_fits_80_columns(installed, capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "create.format2" in out and "yes" in out
    too_wide = [line for line in out.splitlines() if len(line) > 80]
    assert not too_wide, too_wide


def test_static_mode_never_loads(installed, capsys):
    code, data = _json(capsys, ["--json", "--no-runtime"])
    assert code == 0
    assert data["mode"] == "static"
    assert data["runtime"]["attempted"] is False
    assert data["capabilities"]["create.format2"]["status"] == "yes"


def test_require_gates_exit_code(installed, capsys):
    assert cli.main(["--no-runtime", "--require", "create.format2"]) == 0
    capsys.readouterr()
    assert cli.main(["--no-runtime", "--require", "clone.by-id"]) == 1


def test_require_unknown_capability_is_usage_error(capsys):
    assert cli.main(["--require", "create.teleport"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown capability create.teleport" in err


def test_api_matches_json(installed, capsys):
    import librbd_probe
    report = librbd_probe.capabilities(runtime=False)
    code, data = _json(capsys, ["--json", "--no-runtime"])
    assert report.to_dict() == data
    with pytest.raises(AttributeError):
        report.mode = "x"


def _bad_inputs(tmp_path):
    real = "/usr/lib/x86_64-linux-gnu/librbd.so.1"
    (tmp_path / "dir").mkdir()
    (tmp_path / "notelf").write_text("hello, I am not a library\n")
    (tmp_path / "empty").write_bytes(b"")
    with open(real, "rb") as handle:
        (tmp_path / "truncated").write_bytes(handle.read(200))
    os.symlink(str(tmp_path / "gone"), str(tmp_path / "broken"))
    return {
        "missing": (str(tmp_path / "nope.so"), 2, "does not exist"),
        "directory": (str(tmp_path / "dir"), 2, "is a directory"),
        "broken-symlink": (str(tmp_path / "broken"), 2, "broken symbolic link"),
        "non-elf": (str(tmp_path / "notelf"), 3, "not an ELF file"),
        "empty": (str(tmp_path / "empty"), 3, "empty"),
        "truncated": (str(tmp_path / "truncated"), 3, "truncated"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "broken-symlink", "non-elf", "empty", "truncated"])
def test_bad_librbd_paths(tmp_path, case):
    path, code, words = _bad_inputs(tmp_path)[case]
    proc = run_cli(["--librbd", path])
    assert proc.returncode == code, proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout
    message = (proc.stderr + proc.stdout).lower()
    assert words.lower() in message and path.lower() in message


def test_bad_option_is_one_line(capsys):
    assert cli.main(["--timeout", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--timeout" in err


def test_no_librbd_on_host_exit_3(tmp_path, capsys):
    # an empty build root: nothing to find, a clear report, exit 3
    code = cli.main(["--root", str(tmp_path), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 3
    assert data["libraries"]["librbd"]["found"] is False
    assert any(p["id"] == "librbd-missing" for p in data["problems"])
    assert all(c["status"] == "unknown" for c in data["capabilities"].values())


def test_shadowed_copy_is_flagged(installed, tmp_path, capsys):
    shadow = tmp_path / "old"
    shadow.mkdir()
    # A copy with another file version on LD_LIBRARY_PATH wins over the system one.
    shutil.copy(os.path.realpath(installed["librbd"]), str(shadow / "librbd.so.1.12.0"))
    os.symlink("librbd.so.1.12.0", str(shadow / "librbd.so.1"))
    proc = run_cli(["--json", "--no-runtime"], env={"LD_LIBRARY_PATH": str(shadow)})
    data = json.loads(proc.stdout)
    librbd = data["libraries"]["librbd"]
    assert librbd["chosen_by"] == "LD_LIBRARY_PATH"
    assert librbd["realpath"] == str(shadow / "librbd.so.1.12.0")
    shadowed = [p for p in data["problems"] if p["id"] == "shadowed-copy.librbd"]
    assert shadowed and "1.16.0" in shadowed[0]["message"]


def test_exit_3_says_why_in_one_line(tmp_path):
    (tmp_path / "notelf").write_text("x\n")
    proc = run_cli(["--librbd", str(tmp_path / "notelf")])
    assert proc.returncode == 3
    assert proc.stderr.count("\n") == 1 and "not an ELF file" in proc.stderr
    assert "Capabilities" in proc.stdout           # the report is still printed


def test_require_feature_rows(installed, capsys):
    assert cli.main(["--require", "feature.layering", "--require", "create.format2"]) == 0
    capsys.readouterr()
    assert cli.main(["--require", "feature.operations"]) == 1
    assert "feature.operations is no" in capsys.readouterr().err


def test_markdown_matrix(installed, capsys):
    assert cli.main(["--markdown", "--no-runtime"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| capability | status | reason |")
    assert "| `clone.by-id` | no |" in out


def test_explicit_choice_names_the_loaders_own(installed, tmp_path, capsys):
    copy = tmp_path / "librbd.so.1"
    shutil.copy(os.path.realpath(installed["librbd"]), str(copy))
    cli.main(["--librbd", str(copy), "--no-runtime", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["libraries"]["librbd"]["chosen_by"] == "explicit"
    info = [p for p in data["problems"] if p["id"] == "explicit-choice.librbd"]
    assert info and os.path.realpath(installed["librbd"]) in info[0]["message"]
    # librados is still found the way librbd's own loading would find it
    assert data["libraries"]["librados"]["chosen_by"] in ("ld.so.cache", "RUNPATH", "default")
