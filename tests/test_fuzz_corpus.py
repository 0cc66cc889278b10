"""The project's own fuzzing in CI (issue 13): every saved crash input and every seed of
tools/fuzz.py replayed under its target's contract and bounds, a small smoke campaign with the
stdlib mutator, and negative controls that show the harness does catch what it claims to.

A saved input under tests/data/fuzz/crashes/<target>/ broke its contract when it was found;
its test fails until the owner's fix is merged (README "Fuzzing" lists them)."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FUZZ = os.path.join(ROOT, "tools", "fuzz.py")
DATA = os.path.join(HERE, "data", "fuzz")
TARGETS = ("elf", "ldcache", "ldconf", "cephconf", "keyring", "explain", "report")

sys.path.insert(0, os.path.join(ROOT, "tools"))
import fuzz  # noqa: E402


def _files(kind):
    out = []
    for target in TARGETS:
        directory = os.path.join(DATA, kind, target)
        if os.path.isdir(directory):
            out.extend((target, os.path.join(directory, f)) for f in sorted(os.listdir(directory))
                       if not f.endswith(".md"))
    return out


_RESULTS = {}


def _replayed(kind, target):
    """tools/fuzz.py --replay of one directory in a child interpreter (each input in a forked
    worker under RLIMIT_AS and the watchdog); {path: result}."""
    key = (kind, target)
    if key not in _RESULTS:
        proc = subprocess.run([sys.executable, FUZZ, "--target", target, "--quiet", "--replay",
                               os.path.join(DATA, kind, target)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600, cwd=ROOT)
        assert proc.stdout.strip(), proc.stderr.decode(errors="replace")[-2000:]
        _RESULTS[key] = {r["path"]: r for r in json.loads(proc.stdout.decode())}
    return _RESULTS[key]


def _check(kind, target, path):
    result = _replayed(kind, target)[path]
    if result.get("skipped"):
        pytest.skip(result["skipped"])
    finding = result.get("finding") or {}
    assert result["ok"], "{} ({}): {} {}; replay: python3 tools/fuzz.py --target {} --replay {}".format(
        os.path.relpath(path, ROOT), fuzz.OWNERS[target], finding.get("kind"), finding.get("last_line"),
        target, os.path.relpath(path, ROOT))
    assert result["ms"] <= fuzz.TIME_BOUND * 1000 and result["peak_mib"] <= fuzz.MEM_BOUND / 1048576.0


@pytest.mark.parametrize("target,path", _files("crashes"),
                         ids=["{}/{}".format(t, os.path.basename(p)) for t, p in _files("crashes")])
def test_saved_crash_input_meets_its_contract(target, path):
    _check("crashes", target, path)


@pytest.mark.parametrize("target,path", _files("seeds"),
                         ids=["{}/{}".format(t, os.path.basename(p)) for t, p in _files("seeds")])
def test_seed_meets_its_contract(target, path):
    _check("seeds", target, path)


def test_every_target_has_real_seeds():
    for target in TARGETS:
        assert len(fuzz.load_seeds(target)) >= 2, target


def test_smoke_campaign(tmp_path):
    """2,000 mutated inputs per target (fixed seed, the stdlib mutator): none outside its contract."""
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, FUZZ, "--target", "all", "--runs", "2000", "--seed", "7", "--quiet",
                           "--json", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, cwd=ROOT)
    figures = json.loads(out.read_text())
    assert [f["target"] for f in figures] == list(TARGETS), proc.stderr.decode(errors="replace")[-2000:]
    bad = []
    for f in figures:
        if f.get("skipped"):
            continue
        assert f["runs"] >= 2000, f
        if f["outside_contract"]:
            bad.append("{} ({}): {}".format(f["target"], f["owner"], "; ".join(
                "{} x{}: {}".format(x["kind"], x["count"], x["last_line"]) for x in f["findings"])))
    assert not bad, "\n".join(bad)


# --- negative controls: the harness reports what it is there to report ---------------------------
class _Fake(fuzz.Target):
    name = "fake"

    def __init__(self, run):
        self._run = run

    def run(self, data):
        self._run(data)


def _in_worker(target, data):
    """check_one in a forked worker under the campaign's limits; the finding (or None)."""
    mutator = fuzz.Mutator(target, [data], 1)
    return fuzz.fork_chunk(target, mutator, 0, 1)["findings"]


def test_an_exception_outside_the_contract_is_a_finding():
    findings = _in_worker(_Fake(lambda data: {}[data]), b"x")
    assert [f["kind"] for f in findings] == ["KeyError"]


def test_a_cpu_hang_is_a_finding():
    def spin(data):
        while True:
            pass
    findings = _in_worker(_Fake(spin), b"x")
    assert [f["kind"] for f in findings] == ["hang"]


def test_a_runaway_allocation_is_a_finding():
    findings = _in_worker(_Fake(lambda data: bytearray(1 << 30)), b"x")
    assert [f["kind"] for f in findings] == ["memory"]


def test_a_slow_input_is_a_finding():
    def slow(data):
        total = 0
        for i in range(10 ** 8):
            total += i
            if i % 1000 == 0 and fuzz.time.process_time() - start[0] > 0.3:
                return
    start = [0.0]

    def run(data):
        start[0] = fuzz.time.process_time()
        slow(data)
    findings = _in_worker(_Fake(run), b"x")
    assert [f["kind"] for f in findings] == ["slow"]


def test_a_multi_line_message_of_an_allowed_error_is_a_finding():
    class Fake(_Fake):
        def allowed(self):
            return (ValueError,)

    def raise_two_lines(data):
        raise ValueError("first line\nsecond line chosen by the input")
    assert [f["kind"] for f in _in_worker(Fake(raise_two_lines), b"x")] == ["multi-line ValueError"]
    assert _in_worker(Fake(lambda data: int("x")), b"x") == []


def test_inputs_are_reproducible_by_index():
    target = fuzz.make_target("cephconf")
    seeds = fuzz.load_seeds("cephconf")
    a, b = fuzz.Mutator(target, seeds, 3), fuzz.Mutator(target, seeds, 3)
    assert [a.input(i) for i in range(50, 60)] == [b.input(i) for i in range(59, 49, -1)][::-1]
    assert len(set(a.input(i) for i in range(100, 200))) > 90
