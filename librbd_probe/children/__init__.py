"""The child processes: the only place a Ceph library is ever loaded, and how the parent talks to them.

Two children share one protocol:

- ``probe`` (``_probe_child.py``): dlopen the chosen librbd/librados, ask versions, symbols,
  feature names and the client configuration (never connects);
- ``live`` (``_live_child.py``): connect to a cluster and run one live-mode action;
- ``census`` (``_census_child.py``, issue 12's fleet census): the live child's connection and
  monitor commands, asking which clients the cluster sees.

Each child runs in a fresh interpreter started as ``python -E -s -c <bootstrap>``: ``-E``
ignores PYTHON* variables, ``-s`` the user's site-packages, and the bootstrap drops the
current directory from ``sys.path`` before importing anything.  The child's sources (the
child module, ``_child_io.py`` and ``_ctypes_api.py``) are read through the package's loader
(``pkgutil.get_data``) and sent on stdin with the request, so a child starts the same from an
installed package, a source tree or a zipapp (``python librbd-probe.pyz``): no file path of
this package is ever handed to the child, and the child never imports the package.

The protocol, the same for both children:

- request (stdin): ``{"modules": [[name, source], ...], "main": name, "request": {...,
  "nonce": hex}}``;
- answer (the child's saved stdout, one JSON object): ``{"nonce": hex, "error": null |
  ERROR, ...payload}``; a payload may accompany an error (what was learnt before it);
- ERROR, the one error-record shape everywhere (children, ``run``, probe, live):
  ``{"kind": str, "message": one line, ...}`` with, when they apply, ``stage`` (which step),
  ``rc`` (a negative errno from the library), ``errno`` (its name, from the ``errno`` module),
  ``signal``, ``exit_code`` and ``stderr`` (last line of the child's stderr).

``run`` turns whatever happens (a crash in a library constructor, a hang, an early exit, stray
text on stdout) into such a record; the answer is trusted only if it is one JSON object with
the nonce this process sent.
"""
import errno
import json
import os
import pkgutil
import signal
import subprocess
import sys
import uuid

from ..errors import ChildError

DEFAULT_TIMEOUT = 15.0
_MAX_OUTPUT = 1 << 20

#: child name -> its modules in load order (the last one is the child's main module).
CHILDREN = {
    "probe": ("_child_io", "_ctypes_api", "_probe_child"),
    "live": ("_child_io", "_ctypes_api", "_live_child"),
    "census": ("_child_io", "_ctypes_api", "_live_child", "_census_child"),
}

# Runs in the child as ``-c``.  With -c, sys.path[0] is "" (the current directory): dropped
# first, so a ctypes.py or json.py where the user stands is never imported.
BOOTSTRAP = (
    "import sys\n"
    "sys.path[:] = [p for p in sys.path if p not in ('', '.')]\n"
    "import json, types\n"
    "envelope = json.loads(sys.stdin.buffer.read().decode('utf-8'))\n"
    "for name, source in envelope['modules']:\n"
    "    module = types.ModuleType(name)\n"
    "    module.__file__ = '<librbd_probe child module ' + name + '>'\n"
    "    sys.modules[name] = module\n"
    "    exec(compile(source, module.__file__, 'exec'), module.__dict__)\n"
    "sys.modules[envelope['main']].main(envelope['request'])\n"
)

_SOURCES = {}


def source(module):
    """The text of one child module, read through the package loader (zip-safe), once."""
    if module not in _SOURCES:
        data = pkgutil.get_data(__name__, module + ".py")
        if data is None:
            raise ChildError("{}.py: the child module cannot be read from the package".format(module))
        _SOURCES[module] = data.decode("utf-8")
    return _SOURCES[module]


def error_record(kind, message, **extra):
    """The one error-record shape: ``{"kind", "message", ...}`` (None values left out)."""
    out = {"kind": kind, "message": message}
    out.update((k, v) for k, v in extra.items() if v is not None)
    return out


def errno_name(rc):
    """-13 -> "EACCES" (from the errno module); None for success or no answer."""
    if rc is None or rc >= 0:
        return None
    return errno.errorcode.get(-rc, "E?{}".format(-rc))


def describe_rc(rc):
    """-13 -> "-13 (EACCES: Permission denied)"."""
    if rc is None:
        return "no answer"
    if rc >= 0:
        return "ok"
    return "{} ({}: {})".format(rc, errno_name(rc), os.strerror(-rc))


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return "signal {}".format(number)


def _stderr_tail(data):
    text = data.decode("utf-8", "replace").strip().splitlines()
    return text[-1][:300] if text else ""


def label(child):
    """What a child is called on its command line: ``librbd-probe-live-child``."""
    return "librbd-probe-{}-child".format(child)


def envelope(child, request):
    """The bytes sent on the child's stdin (sources + request)."""
    modules = CHILDREN[child]
    return json.dumps({"modules": [[m, source(m)] for m in modules], "main": modules[-1],
                       "request": request}).encode("utf-8")


def run(child, request, timeout=DEFAULT_TIMEOUT, python=None, env=None, grace_on_interrupt=0):
    """Run child ``child`` ("probe" or "live") with ``request``; return (answer, error).

    ``answer`` is the child's payload (without nonce and error) or None when nothing valid
    came back; ``error`` is an error record (from the child, or made here for a timeout,
    crash, garbage, missing answer or non-zero exit) or None.  Raises ChildError only when
    the interpreter cannot be started at all.

    If the caller is interrupted (an exception raised by a signal handler while waiting), the
    child gets ``grace_on_interrupt`` seconds to finish before it is killed; then the
    exception propagates.
    """
    nonce = uuid.uuid4().hex
    data = envelope(child, dict(request, nonce=nonce))
    # The last argument only names the child in ps(1) and /proc/<pid>/cmdline (sys.argv[1]).
    argv = [python or sys.executable, "-E", "-s", "-c", BOOTSTRAP, label(child)]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, env=env)
    except OSError as exc:
        raise ChildError("{}: cannot start the probe interpreter: {}".format(argv[0], exc)) from exc
    try:
        stdout, stderr = proc.communicate(data, timeout=timeout)
    except BaseException as exc:   # timeout, or a signal handler raising (live mode's SIGINT/SIGTERM)
        if not isinstance(exc, subprocess.TimeoutExpired):
            try:
                proc.wait(timeout=grace_on_interrupt)
            except subprocess.TimeoutExpired:
                pass
            _kill_group(proc)
            proc.wait()
            raise
        _kill_group(proc)
        proc.communicate()
        return None, error_record(
            "timeout", "the library did not answer within {:g} s (hung while loading or in a call); "
                       "the child was killed".format(timeout))
    if proc.returncode < 0:
        name = _signal_name(-proc.returncode)
        return None, error_record(
            "crash", "the child crashed with {} while loading or calling the library".format(name),
            signal=name, stderr=_stderr_tail(stderr))
    try:
        answer = json.loads(stdout[:_MAX_OUTPUT].decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        answer = None
    if not isinstance(answer, dict) or answer.get("nonce") != nonce:
        message = ("the child exited with status {} without a valid answer".format(proc.returncode)
                   + (" (its stdout held text that is not the probe's answer)" if stdout.strip() else "")
                   + "; a library constructor probably exited or printed")
        return None, error_record("garbage" if stdout.strip() else "no-answer", message,
                                  exit_code=proc.returncode, stderr=_stderr_tail(stderr))
    if proc.returncode != 0:
        return None, error_record("exit", "the child exited with status {}".format(proc.returncode),
                                  exit_code=proc.returncode, stderr=_stderr_tail(stderr))
    answer.pop("nonce", None)
    error = answer.pop("error", None)
    if error is not None and not (isinstance(error, dict) and isinstance(error.get("kind"), str)
                                  and isinstance(error.get("message"), str)):
        error = error_record("garbage", "the child's error record is malformed: {!r}".format(error)[:300])
    return answer, error


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        try:
            proc.kill()
        except OSError:
            pass
