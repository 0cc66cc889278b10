"""Start-up hygiene (issue 13 item 8): what each command imports, the scan's plain-argument
parser against argparse, the probe child's JSON writer against the json module.

The timings themselves are in bench/bench_startup.py (too noisy for CI on shared machines);
these tests fail when someone re-adds an eager import or lets the fast paths drift from the
reference implementations (argparse, json) they stand in for.
"""
import json
import os
import random
import subprocess
import sys

import pytest

from conftest import PROJECT
from librbd_probe import _plainargs, cli
from librbd_probe.children import _child_io

# Run a command in a fresh interpreter and print the modules it imported (before anything of
# this check imports more); its own output goes to a buffer.
_MODULES_OF = """
import io, sys
sys.stdout = io.StringIO()
from librbd_probe import cli
code = cli.main(sys.argv[1:])
mods = sorted(sys.modules)
sys.stdout = sys.__stdout__
print(code)
print(" ".join(mods))
"""

# never imported by the parent of a scan: the child is started by posix_spawn (3.8+), the nonce
# comes from os.urandom, child sources through the loader, Ceph libraries only in the child
_NEVER = {"subprocess", "uuid", "pkgutil", "typing", "ctypes", "platform", "shutil", "tempfile", "threading",
          "selectors", "librbd_probe.live", "librbd_probe.consumers", "librbd_probe.explain",
          "librbd_probe.snapshot", "librbd_probe.census"}
_NEVER_STATIC = _NEVER | {"librbd_probe.children", "select"}


def _modules(args):
    """(exit code, modules the command imported beyond what this interpreter starts with: a
    site-packages .pth file may import anything before the tool runs)."""
    env = dict(os.environ, PYTHONPATH=PROJECT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    bare = subprocess.run([sys.executable, "-c", "import sys; print(' '.join(sorted(sys.modules)))"],
                          stdout=subprocess.PIPE, universal_newlines=True, env=env, timeout=60, check=True)
    proc = subprocess.run([sys.executable, "-c", _MODULES_OF] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=120)
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stderr
    return int(lines[0]), set(lines[1].split()) - set(bare.stdout.split())


def _need_posix_spawn():
    if not hasattr(os, "posix_spawn"):
        pytest.skip("Python < 3.8 starts the child with subprocess")


def test_static_json_imports_only_what_it_needs(installed):
    code, mods = _modules(["--no-runtime", "--json"])
    assert code == 0
    assert not mods & _NEVER_STATIC, sorted(mods & _NEVER_STATIC)
    if sys.version_info >= (3, 7):                     # 3.6's argparse/gettext import them themselves
        assert "textwrap" not in mods                  # only the text table wraps
        assert "locale" not in mods                    # argparse's parser (gettext) is never built


def test_static_text_imports_only_what_it_needs(installed):
    code, mods = _modules(["--no-runtime"])
    assert code == 0
    assert not mods & _NEVER_STATIC, sorted(mods & _NEVER_STATIC)
    assert "json" not in mods                          # the data files go through _jsonload


def test_default_run_writes_text_without_json(installed):
    _need_posix_spawn()
    code, mods = _modules([])
    assert code == 0 and "librbd_probe.children" in mods
    assert not mods & (_NEVER | {"json"}), sorted(mods & (_NEVER | {"json"}))


def test_runtime_parent_never_imports_subprocess_or_ctypes(installed):
    _need_posix_spawn()
    code, mods = _modules(["--json"])
    assert code == 0
    assert "librbd_probe.children" in mods             # the probe really ran
    assert not mods & _NEVER, sorted(mods & _NEVER)


def test_probe_child_starts_without_json_or_re(installed):
    """The child's own imports, with -X importtime on its real argv and envelope."""
    if sys.version_info < (3, 7):
        pytest.skip("-X importtime is Python 3.7+")
    from librbd_probe import children
    request = {"librbd": installed["librbd"], "librados": None, "symbols": ["rbd_create"],
               "feature_masks": [1], "config": None, "nonce": "n"}
    data = children.envelope("probe", request, same_interpreter=True)
    argv = [sys.executable] + list(children.FLAGS) + ["-X", "importtime", "-c", children.BOOTSTRAP, "probe"]
    proc = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    answer = json.loads(proc.stdout.decode("utf-8"))
    assert answer["error"] is None and answer["loaded"] is True and answer["nonce"] == "n"
    imported = {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    assert "ctypes" in imported                        # the report really lists the child's imports
    assert not imported & {"json", "re", "site", "subprocess", "enum", "uuid"}, sorted(imported & {"json", "re", "site", "subprocess", "enum", "uuid"})


def test_child_code_is_the_packages_bytecode_renamed():
    from librbd_probe import children
    if not hasattr(children.code.__code__, "replace"):
        pytest.skip("Python < 3.8: sources are sent")
    compiled = children.code("_probe_child")
    if compiled is None:
        pytest.skip("not loaded from files (zipapp)")
    names = [compiled.co_filename] + [c.co_filename for c in compiled.co_consts if hasattr(c, "co_filename")]
    assert set(names) == {"<librbd_probe child module _probe_child>"}


# --- the plain-argument parser against argparse -------------------------------------------

def _parser_options():
    parser = cli.build_parser()
    out = {}
    for action in parser._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help", "--version"):
                out[option] = action
    return parser, out


def test_plain_table_matches_the_parser():
    parser, options = _parser_options()
    assert set(_plainargs.PLAIN_OPTIONS) == set(options)
    for option, action in options.items():
        dest, kind = _plainargs.PLAIN_OPTIONS[option]
        assert dest == action.dest, option
        expected = ("flag" if action.const is True and action.nargs == 0 else
                    "append" if action.__class__.__name__ == "_AppendAction" else
                    "seconds" if action.type is cli._positive_float else "value")
        assert kind == expected, option
        default = _plainargs.PLAIN_DEFAULTS.get(dest, False if kind == "flag" else [] if kind == "append" else None)
        assert default == action.default, option
    assert _plainargs.PLAIN_DEFAULTS["timeout"] == cli.DEFAULT_TIMEOUT
    groups = {frozenset(a.dest for a in g._group_actions) for g in parser._mutually_exclusive_groups}
    assert groups == {frozenset(pair) for pair in _plainargs.PLAIN_EXCLUSIVE}


_CASES = [
    [], ["--no-runtime"], ["--json"], ["--no-runtime", "--json"], ["--markdown", "--no-runtime"],
    ["--librbd", "/x/librbd.so.1", "--librados", "/y/librados.so.2", "--json"],
    ["--root", "/srv/root", "--json", "--require", "create.format2", "--require", "clone.v2"],
    ["--timeout", "2.5"], ["--timeout", "1e3", "--trial-timeout", "7"], ["--conf", "/etc/ceph/x.conf", "--id", "cinder"],
    ["--name", "client.cinder"], ["--sysfs", "/tmp/sys", "--no-runtime"], ["--json", "--json"],
    ["--live", "--pool", "p", "--namespace", "ns", "--data-pool", "d", "--dry-run", "--census", "--keyring", "/k"],
    ["--baseline", "b.json", "--policy", "p.txt", "--save-baseline", "s.json", "--prometheus", "m.prom"],
    ["--librbd", "with space", "--librbd", "second wins"], ["--id", "a", "--id", "b"],
    # every one of these goes to argparse (same result, or its error)
    ["--json", "--markdown"], ["--id", "a", "--name", "client.b"], ["--timeout", "0"], ["--timeout", "nan"],
    ["--timeout", "-1"], ["--timeout"], ["--librbd"], ["--librbd", ""], ["--librbd", "-x"], ["--no-run"],
    ["--json=1"], ["--librbd=/x"], ["extra"], ["--", "--json"], ["-j"], ["--nope"], ["--require"],
    ["--pool", "--json"], ["--timeout", " 3 "], ["--tim", "3"],
]


def _outcome(parse, argv):
    try:
        return "ok", vars(parse(argv))
    except cli.UsageError as exc:
        return "usage", str(exc)
    except cli._ParserExit as exc:
        return "exit", exc.status


@pytest.mark.parametrize("argv", _CASES, ids=[" ".join(c) or "(none)" for c in _CASES])
def test_plain_parse_equals_argparse(argv):
    assert _outcome(cli._parse_scan_args, argv) == _outcome(lambda a: cli.build_parser().parse_args(a), argv)


def test_plain_parse_random_command_lines():
    options = sorted(_plainargs.PLAIN_OPTIONS)
    values = ["x", "/p", "3", "0.5", "-3", "", "--json", "a b", "0", "inf"]
    rng = random.Random(13)
    for _ in range(400):
        argv = []
        for _ in range(rng.randrange(0, 6)):
            argv.append(rng.choice(options + ["--no-run", "--js", "-x"]))
            if rng.random() < 0.6:
                argv.append(rng.choice(values))
        assert _outcome(cli._parse_scan_args, argv) == \
            _outcome(lambda a: cli.build_parser().parse_args(a), argv), argv


# --- the child's JSON writer against json.dumps -------------------------------------------

def test_child_dumps_writes_what_json_dumps_writes():
    values = [None, True, False, 0, -1, 2 ** 70, 1.5, -0.0, 1e300, float("nan"), float("inf"), -float("inf"),
              "", "plain", "a\"b\\c\n\r\t\b\f\x00\x1f\x7f\x80\u00e9\u2028\ud800\udfff\U0001f600",
              [], {}, (1, [2, (3,)]), {"b": 1, "a": [1, {"z": None, "y": "\x01"}]}, {1: "x", 2: "y"},
              {True: 1}, {None: 2}, {1.5: 3}]
    for value in values:
        assert _child_io.dumps(value) == json.dumps(value, sort_keys=True), value
    rng = random.Random(8)
    for _ in range(5000):
        text = "".join(chr(rng.choice([rng.randrange(0x20, 0x7f), rng.randrange(0, 0x110000)]))
                       for _ in range(rng.randrange(0, 10)))
        assert _child_io.dumps(text) == json.dumps(text), repr(text)
    for bad in ({"a": object()}, {(1, 2): 1}, b"bytes", {1: 1, "a": 2}):
        with pytest.raises(TypeError):
            json.dumps(bad, sort_keys=True)
        with pytest.raises(TypeError):
            _child_io.dumps(bad)


def test_child_dumps_on_a_real_answer(installed):
    from librbd_probe import probe, matrix
    answer, error = probe.probe_libraries(installed["librbd"], None, matrix.known_symbol_names(),
                                          feature_masks=[1, 1 << 40], config={"path": None, "keys": ["rbd_default_features"]})
    assert error is None and answer["loaded"]
    assert _child_io.dumps(answer) == json.dumps(answer, sort_keys=True)


# --- the probe child started before the scan reads anything -------------------------------

def test_scan_uses_the_child_started_early(installed, monkeypatch):
    _need_posix_spawn()
    from librbd_probe import probe, scan

    def second_child(*args, **kwargs):
        raise AssertionError("a second probe child was started")
    early = scan.scan(librbd=installed["librbd"])
    monkeypatch.setattr(probe, "probe_libraries", second_child)
    again = scan.scan(librbd=installed["librbd"])
    probe.prestart(15.0)
    prestarted = scan.scan(librbd=installed["librbd"])
    assert early.runtime.loaded and early.runtime.error is None
    assert again.to_dict() == early.to_dict() == prestarted.to_dict()


def test_a_child_started_for_other_files_is_replaced(installed, tmp_path, monkeypatch):
    _need_posix_spawn()
    from librbd_probe import children, probe, scan
    reference = scan.scan(librbd=installed["librbd"])
    started = []

    def wrong_guess(scanner, librbd, librados, runtime, timeout, python):
        started.append(probe.start_probe(str(tmp_path / "librbd.so.1"), None, timeout, python))
        return started[-1]
    monkeypatch.setattr(scan, "_start_early_probe", wrong_guess)
    replaced = scan.scan(librbd=installed["librbd"])
    assert started and started[0]._proc is None        # killed unread
    assert replaced.to_dict() == reference.to_dict() and replaced.runtime.loaded
    probe.prestart(7.0)                                # another timeout: killed, not used
    monkeypatch.undo()
    other = scan.scan(librbd=installed["librbd"])
    assert "probe" not in children._PRESTARTED
    assert other.to_dict() == reference.to_dict()


@pytest.mark.parametrize("end", ["", "from librbd_probe import cli; cli.run_and_exit(['--version'])"],
                         ids=["interpreter exit", "run_and_exit"])
def test_an_unused_prestarted_child_is_killed_at_exit(installed, end):
    _need_posix_spawn()
    code = ("import sys; from librbd_probe import probe, children; probe.prestart(60.0); "
            "print(children._PRESTARTED['probe']._proc.pid); sys.stdout.flush(); " + end)
    env = dict(os.environ, PYTHONPATH=PROJECT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, universal_newlines=True,
                          env=env, timeout=60, check=True)
    pid = int(proc.stdout.split()[0])
    assert not os.path.exists("/proc/{}".format(pid))  # killed and reaped by the parent's atexit


# --- knowledge files and child answers decoded without importing json ----------------------

def test_jsonload_equals_json_loads_on_every_data_file():
    from librbd_probe import _jsonload
    data = os.path.join(PROJECT, "librbd_probe", "knowledge", "data")
    names = sorted(n for n in os.listdir(data) if n.endswith(".json"))
    assert len(names) >= 20
    for name in names:
        with open(os.path.join(data, name), encoding="utf-8") as handle:
            text = handle.read()
        assert _jsonload.loads(text) == json.loads(text), name


@pytest.mark.parametrize("text", [
    "", " ", "{", "[1,]", "{\"a\": 1} x", "nul", "\"\x01\"", "01", "[1] [2]", "\ufeff{}", "{\"a\":1,\"a\":2}",
    "  [NaN, Infinity, -Infinity, 1e999, -0, 1.5E-3]  \n", "\"\\ud800\"", "[" * 100000, "{\"k\": [true, false, null]}",
    "\t\r\n 7 \t\r\n", "\u00a0[]",
])
def test_jsonload_equals_json_loads_on_odd_text(text):
    from librbd_probe import _jsonload

    def outcome(loads):
        try:
            return "ok", repr(loads(text))           # repr: NaN != NaN
        except (ValueError, RecursionError) as exc:
            return type(exc).__name__, str(exc)
    assert outcome(_jsonload.loads) == outcome(json.loads)


# --- what a plain scan imports, started as the installed script starts it (-S) ---------------

# Never imported by a plain scan of a host without ceph.conf (issue 13 item 8): each is
# milliseconds of a 25 ms start on this project's test machine.  re and enum (and what imports
# them: argparse, json, textwrap, fnmatch, base64, gettext, signal), collections and functools.
_HEAVY = {"re", "enum", "argparse", "json", "textwrap", "fnmatch", "base64", "gettext", "locale", "signal",
          "collections", "functools", "typing", "subprocess", "site", "sysconfig"}

_MODULES_WITHOUT_SITE = """
import os, sys
sys.argv = ["librbd-probe"] + sys.argv[1:]
import atexit
def report():
    os.write(int(os.environ["MODULES_FD"]), " ".join(sorted(sys.modules)).encode())
atexit.register(report)
from librbd_probe._entry import main
main()
"""


def _modules_without_site(args, env=None):
    """(exit code, stdout, stderr, modules) of ``python -S`` running the command's entry (the
    installed script's start: scripts/librbd-probe) in a fresh interpreter; the list comes on a
    pipe of its own, written by an atexit function (run_and_exit runs them)."""
    read, write = os.pipe()
    full_env = dict(os.environ, PYTHONPATH=PROJECT, MODULES_FD=str(write), **(env or {}))
    full_env.pop("CEPH_CONF", None)
    proc = subprocess.Popen([sys.executable, "-S", "-c", _MODULES_WITHOUT_SITE] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=full_env, pass_fds=(write,))
    os.close(write)
    out, err = proc.communicate(timeout=120)
    with os.fdopen(read, "rb") as handle:
        mods = set(handle.read().decode().split())
    return proc.returncode, out.decode(), err.decode(), mods


@pytest.mark.parametrize("args", [["--no-runtime", "--json"], ["--no-runtime"], ["--json"], []],
                         ids=["static json", "static text", "runtime json", "runtime text"])
def test_plain_scan_imports_none_of_the_heavy_modules(installed, args):
    code, out, err, mods = _modules_without_site(args, env={"HOME": "/nonexistent"})
    assert code == 0, err
    assert "librbd_probe.scan" in mods and out                      # the scan really ran
    heavy = _HEAVY
    if "--no-runtime" not in args and not hasattr(os, "posix_spawn"):
        # Python < 3.8 starts the child with subprocess (and what it imports)
        heavy = heavy - {"subprocess", "signal", "re", "enum", "collections", "functools"}
    assert not mods & heavy, sorted(mods & heavy)
    assert "librbd_probe.commands" not in mods                      # the subcommands' code (cli.py)
    assert "librbd_probe.cephconf" not in mods                      # no ceph.conf: no grammar
    if "--json" in args:
        assert "librbd_probe.render" not in mods                    # the text renderers


def test_subcommand_names_are_the_subcommands():
    from librbd_probe import commands
    assert set(cli.SUBCOMMAND_NAMES) == set(commands.SUBCOMMANDS)


def test_a_ceph_conf_imports_re_only_then(installed, tmp_path):
    conf = tmp_path / "ceph.conf"
    conf.write_text("[global]\nrbd default features = 61\n")
    code, out, err, mods = _modules_without_site(["--no-runtime", "--json", "--conf", str(conf)])
    assert code == 0, err
    assert json.loads(out)["config"]["rbd_default_features"]["value"] == 61
    assert "re" in mods and "librbd_probe.cephconf" in mods           # the grammar is regular expressions


def test_a_subcommand_gets_the_site_module(installed):
    code, out, err, mods = _modules_without_site(["symbols", "--help"])
    assert code == 0, err
    assert "site" in mods                                             # _entry.full_site()


def _script_in_prefix(tmp_path, with_package=True):
    """scripts/librbd-probe as an installation lays it out: <prefix>/bin/librbd-probe with this
    interpreter in its first line, the package under <prefix>/lib/pythonX.Y/site-packages."""
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    site = prefix / "lib" / "python{}.{}".format(*sys.version_info[:2]) / "site-packages"
    site.mkdir(parents=True)
    if with_package:
        os.symlink(os.path.join(PROJECT, "librbd_probe"), str(site / "librbd_probe"))
    with open(os.path.join(PROJECT, "scripts", "librbd-probe")) as handle:
        first, rest = handle.read().split("\n", 1)
    assert first == "#!python -S"
    script = prefix / "bin" / "librbd-probe"
    script.write_text("#!{} -S\n{}".format(sys.executable, rest))
    script.chmod(0o755)
    return script


def _need_importtime():
    if sys.version_info < (3, 7):
        pytest.skip("-X importtime is Python 3.7+")


def test_installed_script_runs_the_scan_without_site(installed, tmp_path):
    _need_importtime()
    script = _script_in_prefix(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CEPH_CONF")}
    proc = subprocess.run([sys.executable, "-S", "-X", "importtime", str(script), "--no-runtime", "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    imported = {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    assert "librbd_probe.scan" in imported and "site" not in imported
    reference = subprocess.run([sys.executable, "-m", "librbd_probe", "--no-runtime", "--json"], stdout=subprocess.PIPE,
                               env=dict(env, PYTHONPATH=PROJECT), timeout=120, cwd=str(tmp_path))
    assert proc.stdout == reference.stdout                         # the same report as a normal start
    direct = subprocess.run([str(script), "--version"], stdout=subprocess.PIPE, env=env, timeout=60)
    assert direct.returncode == 0 and direct.stdout.decode().startswith("librbd-probe ")


def test_installed_script_without_its_package_runs_site(tmp_path):
    """No package beside the script (pip --target, an egg link): site.main() runs, and the
    package is then found where site puts it (here: PYTHONPATH, which -S does not ignore)."""
    _need_importtime()
    script = _script_in_prefix(tmp_path, with_package=False)
    env = dict(os.environ, PYTHONPATH=PROJECT)
    proc = subprocess.run([sys.executable, "-S", "-X", "importtime", str(script), "--version"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    imported = {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    assert "site" in imported
