"""Secrets never reach any output (issue 13, item 3).

Real cephx keys (``ceph-authtool --gen-print-key``) are put in every place we could think of:
a ceph.conf ``key``, a ``$key`` metavariable librados expands, keyring and keyfile files the
configuration names, CEPH_ARGS (--key, --keyring), the default keyring path, a key in a path,
a key in a log given to explain, a key that does not look like a cephx key (only the keyring
registry can redact that one), and --live against the real test cluster's client.admin
keyring.  Every output (stdout, stderr, the --prometheus file, JSON, Markdown, text, explain)
is searched for each key and for every substring of it of 20 characters or more.
"""
import json
import os
import shutil
import subprocess

import pytest

from conftest import need, run_cli
from librbd_probe import config, safeio


def _gen_key():
    need(shutil.which("ceph-authtool"), "ceph-authtool not installed (apt-get install ceph-common)")
    key = subprocess.run(["ceph-authtool", "--gen-print-key"], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout.strip()
    assert safeio.is_cephx_key(key)
    return key


def _pieces(secret, width=20):
    return {secret[i:i + width] for i in range(len(secret) - width + 1)}


def assert_no_secret(texts, secrets):
    for secret in secrets:
        for piece in _pieces(secret):
            for name, text in texts.items():
                assert piece not in text, "{!r} of a secret shows in {}".format(piece, name)


@pytest.fixture(scope="module")
def keys():
    return {name: _gen_key() for name in ("conf", "ring", "file", "args", "argsring", "path", "log", "client")}


# not the shape of a cephx key: only the keyring registry can redact it
ODD_SECRET = "s3cr3t-not-a-cephx-key-but-a-secret-all-the-same"


@pytest.fixture(scope="module")
def setup(keys, tmp_path_factory):
    base = tmp_path_factory.mktemp("secrets")
    where = base / keys["path"]              # a key in the path (its "/" make nested directories)
    where.mkdir(parents=True)
    ring = base / "client.keyring"
    ring.write_text(u"[client.admin]\n\tkey = {}\n\tcaps mon = \"allow *\"\n[client.other]\n\tkey = {}\n".format(
        keys["ring"], ODD_SECRET))
    keyfile = base / "client.key"
    keyfile.write_text(keys["file"] + u"\n")
    argsring = base / "args.keyring"
    argsring.write_text(u"[client.admin]\nkey = {}\n".format(keys["argsring"]))
    conf = where / "ceph.conf"
    conf.write_text(u"[global]\nkey = {conf}\nkeyring = {ring}\nkeyfile = {keyfile}\n"
                    u"rbd default data pool = $key\nrbd default features = {client}\n"
                    u"[client.admin]\nrbd default stripe unit = {odd}\n"
                    .format(conf=keys["conf"], ring=ring, keyfile=keyfile, client=keys["client"], odd=ODD_SECRET))
    log = base / "client.log"
    log.write_text(u"2026-12-01 22:00:00.000 7f00 -1 auth: unable to find a keyring on {}: (2) No such file or "
                   u"directory\nkey={}\nrbd: error opening image x: (2) No such file or directory\n".format(
                       ring, keys["log"]))
    env = {"CEPH_ARGS": "--key={} --keyring {}".format(keys["args"], argsring)}
    return {"conf": str(conf), "log": str(log), "env": env, "base": str(base), "ring": str(ring)}


def _all_secrets(keys):
    return list(keys.values()) + [ODD_SECRET]


@pytest.mark.parametrize("mode", [["--no-runtime"], []], ids=["static", "runtime"])
@pytest.mark.parametrize("form", [["--json"], ["--markdown"], []], ids=["json", "markdown", "text"])
def test_no_output_shows_a_key(keys, setup, tmp_path, mode, form):
    prom = tmp_path / "metrics.prom"
    proc = run_cli(["--conf", setup["conf"], "--prometheus", str(prom)] + mode + form, env=setup["env"])
    assert "Traceback" not in proc.stderr
    texts = {"stdout": proc.stdout, "stderr": proc.stderr}
    if prom.exists():
        texts["prometheus"] = prom.read_text()
    assert proc.stdout, proc.stderr
    assert_no_secret(texts, _all_secrets(keys))
    if form == ["--json"]:
        report = json.loads(proc.stdout)
        assert report["config"]["file"].endswith("ceph.conf")
        assert safeio.REDACTED in report["config"]["file"]                # the key in the path
        if not mode:                     # librados expanded $key: the value is there, redacted
            assert report["config"]["values"]["rbd_default_data_pool"] == safeio.REDACTED
        else:                            # as written; the odd secret only the keyring names
            assert report["config"]["values"]["rbd_default_stripe_unit"] == safeio.REDACTED


def test_library_api_report_is_redacted(keys, setup):
    from librbd_probe import scan
    report = scan.scan(conf=setup["conf"], environ=dict(os.environ, **setup["env"]))
    text = json.dumps(report.to_dict())
    assert_no_secret({"report": text}, _all_secrets(keys))
    assert setup["ring"] in report.config["keyrings_read"]
    assert {keys["ring"], ODD_SECRET, keys["file"], keys["argsring"], keys["conf"], keys["args"]} <= safeio.known_secrets()


def test_explain_shows_no_key(keys, setup):
    proc = run_cli(["explain", "--file", setup["log"], "--conf", setup["conf"]], env=setup["env"])
    assert "Traceback" not in proc.stderr
    assert_no_secret({"stdout": proc.stdout, "stderr": proc.stderr}, _all_secrets(keys))
    proc = run_cli(["explain", "--json", "--conf", setup["conf"], "key", keys["log"]], env=setup["env"])
    assert_no_secret({"stdout": proc.stdout, "stderr": proc.stderr}, _all_secrets(keys))


def test_an_error_line_shows_no_key(keys, setup):
    missing = os.path.join(setup["base"], keys["path"], "nope", keys["log"] + ".conf")
    proc = run_cli(["--conf", missing, "--no-runtime"], env=setup["env"])
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert_no_secret({"stdout": proc.stdout, "stderr": proc.stderr}, [keys["path"], keys["log"]])


def test_parse_keyring():
    key = "AQBvaBFZAAAAABAA9VHgwCg3rWn8fMaX8KL01A=="
    text = u"[client.admin]\n\tkey = {0}\n\tcaps mon = \"allow *\"\n[mon.]\nkey=\"odd-secret-x\"\n{0}\n".format(key)
    # the bare key line counts too (a keyfile's form): it is a secret wherever it stands
    assert config.parse_keyring(text.splitlines()) == (("client.admin", key), ("mon.", "odd-secret-x"), ("mon.", key))
    assert config.parse_keyring([key + "\n"]) == (("", key),)                      # a keyfile
    assert config.parse_keyring([b"\xff\x00[x", None, 3, b"key = "]) == ()
    assert config.parse_keyring(None) == ()


def test_ceph_args_secrets():
    secrets, rings, files = config.ceph_args_secrets(
        {"CEPH_ARGS": "--id admin --key abcdefgh12 --keyring=/a,/b -k /c --keyfile /d --key"})
    assert secrets == {"abcdefgh12", ""} and rings == ["/a", "/b", "/c"] and files == ["/d"]


def test_a_hostile_keyring_is_a_problem_not_a_hang(tmp_path):
    fifo = tmp_path / "k.keyring"
    os.mkfifo(str(fifo))
    conf = tmp_path / "ceph.conf"
    conf.write_text(u"[global]\nkeyring = {}\n".format(fifo))
    section, problems = config.configuration(None, str(conf), "--conf", [(str(conf), "--conf")])
    (problem,) = [p for p in problems if p.id == "config.keyring-refused"]
    assert "is a FIFO" in problem.message and "\n" not in problem.message
    big = tmp_path / "big.keyring"
    with open(str(big), "wb") as handle:
        handle.truncate(safeio.LIMITS["keyring"] + 1)
    conf.write_text(u"[global]\nkeyring = {}\n".format(big))
    _, problems = config.configuration(None, str(conf), "--conf", [(str(conf), "--conf")])
    assert any(p.id == "config.keyring-refused" and "over the limit" in p.message for p in problems)


def test_the_child_never_returns_the_key(keys, setup, installed):
    from librbd_probe import scan
    report = scan.scan(conf=setup["conf"], environ=dict(os.environ, **setup["env"]))
    assert report.runtime.config["values"]["rbd_default_data_pool"] == "<redacted cephx key>"   # in-child


def test_live_against_the_test_cluster(keys, installed, tmp_path):
    import cluster as cluster_mod
    c = cluster_mod.started()
    try:
        admin = [k for _e, k in config.parse_keyring(open(c.admin_keyring).read().splitlines())]
        assert admin and all(safeio.is_cephx_key(k) for k in admin)
        conf = tmp_path / "ceph.conf"
        with open(c.conf_path) as handle:
            # the admin key as `key` too: librados expands it into the data pool's value
            conf.write_text(handle.read() + u"\n[client]\nrbd default data pool = $key\nkeyring = {}\nkey = {}\n"
                            .format(c.admin_keyring, admin[0]))
        prom = tmp_path / "m.prom"
        outputs = {}
        for form in (["--json"], []):
            proc = run_cli(["--live", "--conf", str(conf), "--keyring", c.admin_keyring, "--prometheus", str(prom),
                            "--timeout", "60"] + form, timeout=300)
            assert "Traceback" not in proc.stderr
            outputs.update({"stdout" + str(form): proc.stdout, "stderr" + str(form): proc.stderr,
                            "prom" + str(form): prom.read_text() if prom.exists() else ""})
        assert json.loads(outputs["stdout['--json']"])["live"]
        assert_no_secret(outputs, admin)
    finally:
        c.stop()


def test_under_a_root_the_configurations_keyrings_are_the_roots(tmp_path):
    root = tmp_path / "root"
    (root / "etc" / "ceph").mkdir(parents=True)
    key = "AQBvaBFZAAAAABAA9VHgwCg3rWn8fMaX8KL01A=="
    (root / "etc" / "ceph" / "ceph.client.admin.keyring").write_text(u"[client.admin]\nkey = not-shaped-{}\n".format(
        "x" * 12))
    (root / "etc" / "ceph" / "ceph.conf").write_text(u"[global]\nrbd default data pool = not-shaped-xxxxxxxxxxxx\n")
    from librbd_probe import scan
    report = scan.scan(root=str(root), runtime=False)
    assert report.config["values"]["rbd_default_data_pool"] == safeio.REDACTED      # the root's default keyring
    assert list(report.config["keyrings_read"]) == [str(root / "etc" / "ceph" / "ceph.client.admin.keyring")]
    assert key not in json.dumps(report.to_dict())


@pytest.mark.parametrize("template", [
    "key = {}", "/etc/ceph/{}/ceph.conf", "/x/AQBv/{}", "{}{}", "x{}", "\\n{}", "\\u2028{}", "'{}'", "--key={}",
    "{}==", "a/{}/b/{}/c",
])
def test_redact_finds_a_key_wherever_it_stands(keys, template):
    key = keys["conf"]
    text = template.format(key, key)
    assert_no_secret({"redacted": safeio.redact(text)}, [key])


def test_redact_leaves_other_base64_and_stays_linear():
    import time
    assert safeio.redact("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") == "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    for hostile in ("A/" * 200000, "AQ" * 200000, "Ag" * 300000):
        start = time.process_time()
        safeio.redact(hostile)
        assert time.process_time() - start < 2.0
