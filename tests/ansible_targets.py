"""Real ssh targets on loopback addresses and a real ansible-core, for the collection tests.

Each target is its own ``sshd -D -f <config>`` (openssh-server, run as root) listening on one
127.0.0.x address and a free non-22 port, with a host key and a user key generated here; the
controller verifies the host key against a known_hosts file written here (no
StrictHostKeyChecking=no).  ansible-core comes from PyPI in a cached venv (tools/test-all.sh):
``$LIBRBD_PROBE_ANSIBLE_VENV`` or ``~/.cache/librbd_probe/ansible-venv``.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
PLAYBOOK = os.path.join(PROJECT, "contrib", "ansible", "collect.yml")
SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
ANSIBLE_VENV = os.environ.get("LIBRBD_PROBE_ANSIBLE_VENV") or os.path.expanduser(
    "~/.cache/librbd_probe/ansible-venv")
ANSIBLE_PLAYBOOK = os.path.join(ANSIBLE_VENV, "bin", "ansible-playbook")
# ansible.posix (its json stdout callback) taken from the PyPI "ansible" bundle by tools/test-all.sh
COLLECTIONS = os.environ.get("LIBRBD_PROBE_ANSIBLE_COLLECTIONS") or os.path.expanduser(
    "~/.cache/librbd_probe/ansible-collections")
JSON_CALLBACK = "ansible.posix.json"


def missing():
    """What is missing to run real targets, or None."""
    if os.geteuid() != 0:
        return "sshd targets need root (sshd -D with its own config)"
    for path, what in ((SSHD, "openssh-server"), (SFTP_SERVER, "openssh-sftp-server"),
                       (shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen", "openssh-client"),
                       (ANSIBLE_PLAYBOOK, "ansible-core venv (tools/test-all.sh)"),
                       (os.path.join(COLLECTIONS, "ansible_collections", "ansible", "posix"),
                        "ansible.posix collection (tools/test-all.sh)")):
        if not os.path.exists(path):
            return "{} missing ({})".format(path, what)
    return None


def free_port(address):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((address, 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def _wait_listening(address, port, proc, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("sshd on {}:{} exited with {}".format(address, port, proc.returncode))
        try:
            socket.create_connection((address, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("sshd on {}:{} did not listen within {} s".format(address, port, timeout))


class Targets(object):
    """``with Targets(workdir, [(name, address, hostvars), ...]) as t:`` -- sshd per target.

    A target whose hostvars hold ``"_down": True`` gets no sshd (an unreachable host: its port
    refuses connections)."""

    def __init__(self, workdir, hosts):
        self.workdir = workdir
        self.hosts = hosts
        self.procs = []
        self.ports = {}
        self.user_key = os.path.join(workdir, "user_key")
        self.known_hosts = os.path.join(workdir, "known_hosts")
        self.inventory = os.path.join(workdir, "inventory.json")

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        if not os.path.isdir("/run/sshd"):       # sshd's privilege separation directory
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        host_key = os.path.join(self.workdir, "host_key")
        for key in (host_key, self.user_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "librbd_probe-test",
                            "-f", key], check=True, stdin=subprocess.DEVNULL)
        authorized = os.path.join(self.workdir, "authorized_keys")
        shutil.copyfile(self.user_key + ".pub", authorized)
        with open(host_key + ".pub") as handle:
            host_pub = " ".join(handle.read().split()[:2])
        known = []
        for name, address, hostvars in self.hosts:
            port = free_port(address)
            self.ports[name] = port
            known.append("[{}]:{} {}".format(address, port, host_pub))
            if hostvars.get("_down"):
                continue
            config = os.path.join(self.workdir, "sshd_{}.conf".format(name))
            with open(config, "w") as handle:
                handle.write("\n".join([
                    "ListenAddress {}".format(address),
                    "Port {}".format(port),
                    "HostKey {}".format(host_key),
                    "PidFile {}".format(os.path.join(self.workdir, "sshd_{}.pid".format(name))),
                    "AuthorizedKeysFile {}".format(authorized),
                    "AuthenticationMethods publickey",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitUserEnvironment no",
                    "X11Forwarding no",
                    "AllowTcpForwarding no",
                    "Subsystem sftp {}".format(SFTP_SERVER),
                    "LogLevel ERROR",
                    ""]))
            log = open(os.path.join(self.workdir, "sshd_{}.log".format(name)), "wb")
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log)
            log.close()
            self.procs.append(proc)
            _wait_listening(address, port, proc)
        with open(self.known_hosts, "w") as handle:
            handle.write("\n".join(known) + "\n")
        self.write_inventory()

    def write_inventory(self, group="ceph_clients"):
        ssh_args = "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes " \
                   "-o BatchMode=yes -o ConnectTimeout=5".format(self.known_hosts)
        hosts = {}
        for name, address, hostvars in self.hosts:
            entry = {"ansible_host": address, "ansible_port": self.ports[name], "ansible_user": "root",
                     "ansible_ssh_private_key_file": self.user_key,
                     "ansible_ssh_common_args": ssh_args,
                     "ansible_remote_tmp": os.path.join(self.workdir, "remote-tmp", name)}
            entry.update((k, v) for k, v in hostvars.items() if not k.startswith("_"))
            hosts[name] = entry
        with open(self.inventory, "w") as handle:
            json.dump({group: {"hosts": hosts}}, handle, indent=2, sort_keys=True)   # JSON is YAML

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


def ansible_env(workdir, callback=None):
    """Environment for ansible-playbook: everything of its own under ``workdir``."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("ANSIBLE_"):
            del env[key]
    home = os.path.join(workdir, "ansible-home")
    # ssh's ControlPath is a unix socket: keep it short (108 bytes), outside a deep tmp dir
    control = os.path.join("/tmp", "lrp-cp-{}".format(os.getpid()))
    os.makedirs(control, exist_ok=True)
    env.update({"ANSIBLE_CONFIG": os.path.join(workdir, "no-ansible.cfg"), "ANSIBLE_HOME": home,
                "ANSIBLE_LOCAL_TEMP": os.path.join(home, "tmp"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_RETRY_FILES_ENABLED": "false",
                "ANSIBLE_SSH_CONTROL_PATH_DIR": control, "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
                "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS})
    if callback:
        env["ANSIBLE_STDOUT_CALLBACK"] = callback
    env.pop("PYTHONPATH", None)
    return env


def run_playbook(targets, extra=(), callback=JSON_CALLBACK, timeout=600):
    """Run contrib/ansible/collect.yml against ``targets``; return the CompletedProcess."""
    argv = [ANSIBLE_PLAYBOOK, "-i", targets.inventory, PLAYBOOK] + list(extra)
    return subprocess.run(argv, cwd=targets.workdir, env=ansible_env(targets.workdir, callback),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=timeout)


def build_pyz(dest):
    """Build the pyz with tools/build_pyz.py into ``dest`` (a file path)."""
    subprocess.run([sys.executable, os.path.join(PROJECT, "tools", "build_pyz.py"), "-o", dest],
                   check=True, stdout=subprocess.PIPE)
    return dest


def collect(workdir, hosts, extra=()):
    """Build the pyz, start one sshd per host, run collect.yml once with the json callback.

    ``hosts``: [(inventory_hostname, "127.0.0.x", {hostvars})], e.g.
    ``("openstack-con02", "127.0.0.3", {"librbd_probe_args": ["--librbd", path, "--librados", path2]})``.
    Returns (reports directory, the CompletedProcess of ansible-playbook: .stdout is the json
    callback's document).  Needs what ``missing()`` checks; the caller decides skip or fail.
    """
    os.makedirs(workdir, exist_ok=True)
    pyz = build_pyz(os.path.join(workdir, "librbd-probe.pyz"))
    reports = os.path.join(workdir, "reports")
    with Targets(workdir, hosts) as targets:
        proc = run_playbook(targets, ["-e", "librbd_probe_pyz=" + pyz,
                                      "-e", "librbd_probe_report_dir=" + reports] + list(extra))
    return reports, proc
