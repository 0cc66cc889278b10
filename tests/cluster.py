"""A real one-node Ceph cluster for tests: Debian's ceph-mon, ceph-osd (memstore), ceph-mgr.

Everything lives under one scratch directory, listens on 127.0.0.1 only, uses cephx, and is
stopped by the pids in its pid files (mgr and OSD before the monitor), never by name.
Recipe: shared/REAL-LIBRARIES.md section 4.
"""
import fcntl
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid

TOOLS = ("ceph-mon", "ceph-osd", "ceph-mgr", "ceph", "ceph-authtool", "monmaptool", "rbd")


LOCK_PATH = "/tmp/librbd-probe-test-cluster.lock"


class ClusterError(RuntimeError):
    pass


def _run(argv, env=None, timeout=120, check=True):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise ClusterError("{} failed ({}): {}".format(" ".join(argv[:4]), proc.returncode,
                                                       (proc.stderr or proc.stdout).strip()[-500:]))
    return proc


class Cluster(object):
    def __init__(self, scratch):
        self.dir = os.path.abspath(scratch)
        self.conf_path = os.path.join(self.dir, "ceph.conf")
        self.admin_keyring = os.path.join(self.dir, "client.admin.keyring")
        self.run_dir = os.path.join(self.dir, "run")
        self.env = dict(os.environ, CEPH_CONF=self.conf_path)

    def ceph(self, *args, timeout=60, check=True):
        return _run(["ceph", "-c", self.conf_path, "-k", self.admin_keyring, "--connect-timeout", "20"]
                    + list(args), env=self.env, timeout=timeout, check=check)

    def rbd(self, *args, timeout=60, check=True, env=None):
        return _run(["rbd", "-c", self.conf_path, "-k", self.admin_keyring] + list(args),
                    env=env or self.env, timeout=timeout, check=check)

    def _write_conf(self, fsid):
        d = self.dir
        text = """[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = {d}/run
pid file = {d}/run/$name.pid
admin socket = {d}/run/$name.asok
log file = {d}/log/$name.log
crash dir = {d}/crash
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
auth allow insecure global id reclaim = false
mon data avail warn = 1
mon data avail crit = 0
ms bind ipv4 = true
ms bind ipv6 = false

[mon.a]
mon data = {d}/mon.a

[osd.0]
osd data = {d}/osd.0
osd objectstore = memstore
keyring = {d}/osd.0/keyring

[mgr.x]
mgr data = {d}/mgr.x
keyring = {d}/mgr.x/keyring

[client.admin]
keyring = {d}/client.admin.keyring
""".format(fsid=fsid, d=d)
        with open(self.conf_path, "w") as handle:
            handle.write(text)

    def start(self, timeout=120):
        # The ports are fixed (3300, 6789 on 127.0.0.1): one cluster per machine at a time.
        # Concurrent test runs queue on this lock instead of failing on a taken port.
        self._lock = open(LOCK_PATH, "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        missing = [t for t in TOOLS if not _which(t)]
        if missing:
            raise ClusterError("missing {} (apt-get install ceph-mon ceph-osd ceph-mgr ceph-common)".format(", ".join(missing)))
        for sub in ("run", "log", "crash", "mon.a", "osd.0", "mgr.x"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        fsid = str(uuid.uuid4())
        self._write_conf(fsid)
        quiet = dict(os.environ, CEPH_CONF="/dev/null")
        mon_keyring = os.path.join(self.dir, "mon.keyring")
        _run(["ceph-authtool", "--create-keyring", mon_keyring, "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"], env=quiet)
        _run(["ceph-authtool", "--create-keyring", self.admin_keyring, "--gen-key", "-n", "client.admin",
              "--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mgr", "allow *", "--cap", "mds", "allow *"], env=quiet)
        _run(["ceph-authtool", mon_keyring, "--import-keyring", self.admin_keyring], env=quiet)
        monmap = os.path.join(self.dir, "monmap")
        _run(["monmaptool", "--create", "--addv", "a", "[v2:127.0.0.1:3300,v1:127.0.0.1:6789]", "--fsid", fsid, monmap], env=quiet)
        _run(["ceph-mon", "-c", self.conf_path, "--mkfs", "-i", "a", "--monmap", monmap, "--keyring", mon_keyring], env=self.env)
        _run(["ceph-mon", "-c", self.conf_path, "-i", "a"], env=self.env)
        osd_uuid = str(uuid.uuid4())
        osd_id = self.ceph("osd", "new", osd_uuid).stdout.strip()
        _run(["ceph-osd", "-c", self.conf_path, "-i", osd_id, "--mkfs", "--mkkey", "--osd-uuid", osd_uuid,
              "--no-mon-config"], env=self.env)
        self.ceph("auth", "add", "osd." + osd_id, "osd", "allow *", "mon", "allow profile osd", "mgr", "allow profile osd",
                  "-i", os.path.join(self.dir, "osd.0", "keyring"))
        _run(["ceph-osd", "-c", self.conf_path, "-i", osd_id], env=self.env)
        self.ceph("auth", "get-or-create", "mgr.x", "mon", "allow profile mgr", "osd", "allow *", "mds", "allow *",
                  "-o", os.path.join(self.dir, "mgr.x", "keyring"))
        _run(["ceph-mgr", "-c", self.conf_path, "-i", "x"], env=self.env)
        self.ceph("osd", "pool", "create", "rbd", "8")
        self.rbd("pool", "init", "rbd", timeout=120)
        self.wait_clean(timeout)
        return self

    def wait_clean(self, timeout):
        deadline = time.time() + timeout
        status = {}
        while time.time() < deadline:
            proc = self.ceph("pg", "stat", "--format", "json", check=False)
            try:
                status = json.loads(proc.stdout)
                pg = status.get("pg_summary", status)
                states = pg.get("num_pg_by_state", [])
                total = pg.get("num_pgs", 0)
                clean = sum(s["num"] for s in states if s["name"] == "active+clean")
                if total and clean == total:
                    return
            except ValueError:
                pass
            time.sleep(1)
        raise ClusterError("PGs not active+clean after {} s: {}".format(timeout, status))

    def client_keyring(self, name="client.probe"):
        path = os.path.join(self.dir, name + ".keyring")
        if not os.path.exists(path):
            self.ceph("auth", "get-or-create", name, "mon", "profile rbd", "osd", "profile rbd pool=rbd", "-o", path)
        return path

    def stop(self):
        for name in ("mgr.x", "osd.0", "mon.a"):
            pidfile = os.path.join(self.run_dir, name + ".pid")
            try:
                pid = int(open(pidfile).read().strip())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(100):
                if not _alive(pid):
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.close()
            self._lock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def started(timeout=180):
    """A started Cluster in a fresh scratch directory (the caller stops it); when it cannot
    start, the test ends through conftest.need: a failure under CI=true, a skip elsewhere."""
    from conftest import need
    c = Cluster(tempfile.mkdtemp(prefix="librbd-probe-cluster-"))
    try:
        c.start(timeout=timeout)
    except (ClusterError, OSError, subprocess.SubprocessError) as exc:
        c.stop()
        need(False, "one-node test cluster could not start: {}".format(exc))
    return c

def _alive(pid):
    try:
        with open("/proc/{}/stat".format(pid)) as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"        # a zombie is gone for our purposes
    except (OSError, IndexError):
        return False


def _which(tool):
    return any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep))
