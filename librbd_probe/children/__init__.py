"""The child processes: the only place a Ceph library is ever loaded, and how the parent talks to them.

Two children share one protocol:

- ``probe`` (``_probe_child.py``): dlopen the chosen librbd/librados, ask versions, symbols,
  feature names and the client configuration (never connects);
- ``live`` (``_live_child.py``): connect to a cluster and run one live-mode action;
- ``census`` (``_census_child.py``, issue 12's fleet census): the live child's connection and
  monitor commands, asking which clients the cluster sees.

Each child runs in a fresh interpreter started as ``python -I -S -c <bootstrap>``: ``-I``
isolates it (PYTHON* variables, the user's site-packages and the current directory are
ignored), ``-S`` skips ``site`` (the children need the standard library only: ctypes, os,
errno), and the bootstrap drops the current directory from ``sys.path`` before importing
anything (``-I`` already leaves it out).  The child's modules (the child module,
``_child_io.py`` and ``_ctypes_api.py``) are sent on stdin with the request, as one
``marshal`` record: their compiled code when the child runs this very interpreter (the
package's cached bytecode, read through its loader, so nothing is compiled per run), their
sources otherwise (another ``python``, a zipapp, Python < 3.8).  A child starts the same from
an installed package, a source tree or a zipapp (``python librbd-probe.pyz``): no file path
of this package is handed to the child (code objects are renamed ``<librbd_probe child module
NAME>``), and the child never imports the package.  The child needs neither json nor re: its
answer is written by ``_child_io.dumps``.

On Python >= 3.8 the child is started with ``os.posix_spawn`` (in a new session, inheritable
descriptors closed, SIGPIPE and SIGXFSZ reset, as subprocess does) and its pipes are served with
``select.poll``: the subprocess module (threading, selectors, signal ...) is not imported;
Python 3.6/3.7 use ``subprocess.Popen``.  Both bound the child by ``timeout`` and kill its
process group the same way.

The protocol, the same for both children:

- request (stdin, ``marshal``): ``{"modules": [[name, code or source], ...], "main": name,
  "request": {..., "nonce": hex}}``; a child started early (``start(preload=True)``: the
  scan starts the probe child before it reads the ELF files, the command line even before it
  imports the scan) gets ``"request": {"preload": true, ...}``, then more such records (the
  files to dlopen), then the whole request, each one ``marshal`` record of plain data;
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
import atexit
import errno
import marshal
import os
try:
    import _signal as _sig      # the numbers without signal.py's enums (enum is ~4 ms at start)
except ImportError:             # pragma: no cover - not CPython
    import signal as _sig
import sys
import time

from ..errors import ChildError

DEFAULT_TIMEOUT = 15.0
_MAX_OUTPUT = 1 << 20

#: child name -> its modules in load order (the last one is the child's main module).
CHILDREN = {
    "probe": ("_jsonout", "_child_io", "_ctypes_api", "_probe_child"),
    "live": ("_jsonout", "_child_io", "_ctypes_api", "_live_child"),
    "census": ("_jsonout", "_child_io", "_ctypes_api", "_live_child", "_census_child"),
}
#: child modules that live in the librbd_probe package itself (the one JSON writer)
_PACKAGE_MODULES = ("_jsonout",)

#: The interpreter flags of every child (module docstring).
FLAGS = ("-I", "-S")

# Runs in the child as ``-c``.  Without -I, sys.path[0] would be "" (the current directory):
# dropped first, so a ctypes.py or marshal.py where the user stands is never imported.
BOOTSTRAP = (
    "import sys\n"
    "sys.path[:] = [p for p in sys.path if p not in ('', '.')]\n"
    "import marshal\n"
    "envelope = marshal.load(sys.stdin.buffer)\n"
    "for name, code in envelope['modules']:\n"
    "    module = type(sys)(name)\n"
    "    module.__file__ = '<librbd_probe child module ' + name + '>'\n"
    "    sys.modules[name] = module\n"
    "    exec(code if not isinstance(code, str) else compile(code, module.__file__, 'exec'), module.__dict__)\n"
    "sys.modules[envelope['main']].main(envelope['request'])\n"
)

# marshal's data format that every supported interpreter reads (4: Python 3.4+); code objects
# go only to this very interpreter, in its own format.
_MARSHAL_DATA_VERSION = 4

_SOURCES = {}
_CODE = {}


def _package_loader():
    package = sys.modules[__name__]
    return package, package.__spec__.loader


def source(module):
    """The text of one child module, read through the package loader (zip-safe), once.

    ``loader.get_data`` is what ``pkgutil.get_data`` calls; pkgutil itself imports typing on
    Python 3.11+ (milliseconds per run).
    """
    if module not in _SOURCES:
        package, loader = _package_loader()
        path = _module_path(package, module)
        try:
            data = loader.get_data(path)
        except (OSError, AttributeError) as exc:
            raise ChildError("{}.py: the child module cannot be read from the package: {}".format(module, exc)) from exc
        _SOURCES[module] = data.decode("utf-8")
    return _SOURCES[module]


def _module_path(package, module):
    """The file of one child module: in this directory, or the package's for _PACKAGE_MODULES."""
    here = os.path.dirname(package.__file__)
    return os.path.join(os.path.dirname(here) if module in _PACKAGE_MODULES else here, module + ".py")


def _renamed(code, filename):
    consts = tuple(_renamed(c, filename) if isinstance(c, type(code)) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)  # novermin (Python >= 3.8 only)


def code(module):
    """The compiled code of one child module from the package's cached bytecode, or None.

    Only for a package installed as files (a source loader: its ``__pycache__``); None from a
    zipapp, another loader or Python < 3.8 (no ``CodeType.replace``), and the child compiles the
    source instead.
    """
    if module not in _CODE:
        _CODE[module] = None
        package, loader = _package_loader()
        external = sys.modules.get("_frozen_importlib_external")
        source_loader = getattr(external, "SourceFileLoader", None)
        if (source_loader is not None and type(loader) is source_loader
                and hasattr(_package_loader.__code__, "replace")):
            name = (__name__.rsplit(".", 1)[0] if module in _PACKAGE_MODULES else __name__) + "." + module
            path = _module_path(package, module)
            try:
                compiled = source_loader(name, path).get_code(name)
            except (OSError, ImportError, SyntaxError, ValueError):
                compiled = None
            if compiled is not None:
                _CODE[module] = _renamed(compiled, "<librbd_probe child module " + module + ">")
    return _CODE[module]


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
        import signal
        return signal.Signals(number).name
    except ValueError:
        return "signal {}".format(number)


def _stderr_tail(data):
    text = data.decode("utf-8", "replace").strip().splitlines()
    if not text:
        return ""
    from ..model import line_text
    return line_text(text[-1][:300])         # what a library printed: ESC and all


def label(child):
    """What a child is called on its command line: ``librbd-probe-live-child``."""
    return "librbd-probe-{}-child".format(child)


def envelope(child, request, same_interpreter=False):
    """The bytes sent on the child's stdin: the modules (code for this very interpreter, else
    sources) and the request, one ``marshal`` record."""
    modules = CHILDREN[child]
    compiled = [code(m) for m in modules] if same_interpreter else [None] * len(modules)
    if None in compiled:
        return marshal.dumps({"modules": [[m, source(m)] for m in modules], "main": modules[-1],
                              "request": request}, _MARSHAL_DATA_VERSION)
    return marshal.dumps({"modules": [list(pair) for pair in zip(modules, compiled)], "main": modules[-1],
                          "request": request})


def _json_plain(value):
    """``value`` as a JSON round trip gives it back (tuples -> lists, keys -> str): the child
    sees the request exactly as it did when the envelope was JSON."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                key = {True: "true", False: "false", None: "null"}[key] if key is None or isinstance(key, bool) \
                    else repr(key) if isinstance(key, (int, float)) else None
                if key is None:
                    raise TypeError("request keys must be str, int, float, bool or None")
            out[key] = _json_plain(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise TypeError("Object of type {} is not JSON serializable".format(type(value).__name__))


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
    return start(child, request, timeout=timeout, python=python, env=env).finish(grace_on_interrupt)


def start(child, request, timeout=DEFAULT_TIMEOUT, python=None, env=None, preload=False):
    """Start child ``child`` now and return a ``Pending``: ``finish()`` is ``run``'s answer.

    With ``preload``, ``request`` is only what the child can do before the rest is known (the
    probe child: dlopen the libraries, as its run would; ``{}``: nothing yet, the interpreter
    starts), ``send(part)`` adds to it and ``finish(rest=...)`` sends the whole request.  The scan starts the probe child this way before it reads the ELF files,
    so the child's interpreter start and dlopen overlap the static reading (``timeout`` counts
    from here).  Raises ChildError when the interpreter cannot be started at all.
    """
    return Pending(child, request, timeout, python, env, preload)


class Pending(object):
    """A started child: ``finish(grace_on_interrupt)`` -> (answer, error); ``cancel()`` kills it.

    A Pending dropped unfinished (an exception between start and finish) kills its child when it
    is collected, and at interpreter exit at the latest: no child outlives its bound unattended.
    """

    def __init__(self, child, request, timeout, python, env, preload=False):
        self.nonce = os.urandom(16).hex()
        self.timeout = timeout
        self.preload = preload
        self._completed = False
        self._envelope = lambda req: envelope(child, _json_plain(dict(req, nonce=self.nonce)),
                                              same_interpreter=python is None or python == sys.executable)
        # The last argument only names the child in ps(1) and /proc/<pid>/cmdline (sys.argv[1]).
        argv = [python or sys.executable] + list(FLAGS) + ["-c", BOOTSTRAP, label(child)]
        self._proc = None
        if hasattr(os, "posix_spawn"):
            first = dict(request, preload=True) if preload else request
            self._proc = _Spawned(argv, self._envelope(first), timeout, env, more=preload)
        else:                           # started at finish(), with the whole request
            self._proc = _Popened(argv, None if preload else self._envelope(request), timeout, env)
        _UNFINISHED[id(self)] = self._proc

    def send(self, part):
        """One more partial record for a ``preload`` start (ignored by Python < 3.8's Popen,
        which is started at ``finish`` with the whole request)."""
        if self._proc is None or not self.preload:
            raise ChildError("send() needs a running child started with preload=True")
        self._proc.send(lambda: marshal.dumps(_json_plain(dict(part, preload=True, nonce=self.nonce)),
                                              _MARSHAL_DATA_VERSION))

    def complete(self, rest):
        """A ``preload`` start: send ``rest`` (the whole request) now, so the child works while
        this process does something else; ``finish()`` then only waits."""
        if self._proc is None:
            raise ChildError("this child was already finished or cancelled")
        if self.preload and not self._completed:
            self._completed = True
            self._proc.complete(lambda: self._envelope(rest),
                                lambda: marshal.dumps(_json_plain(dict(rest, nonce=self.nonce)), _MARSHAL_DATA_VERSION))

    def finish(self, grace_on_interrupt=0, rest=None):
        """Wait for the answer; a ``preload`` start sends ``rest`` (the whole request) first
        unless ``complete`` did."""
        if self._proc is not None and self.preload and not self._completed:
            self.complete(rest)
        proc, self._proc = self._proc, None
        if proc is None:
            raise ChildError("this child was already finished or cancelled")
        try:
            outcome = proc.wait(grace_on_interrupt)
        finally:
            _UNFINISHED.pop(id(self), None)
        return _answer(outcome, self.nonce, self.timeout)

    def cancel(self):
        """Kill the child (if still running) and reap it; its answer is never read."""
        proc, self._proc = self._proc, None
        _UNFINISHED.pop(id(self), None)
        if proc is not None:
            proc.cancel()

    def __del__(self):
        if getattr(self, "_proc", None) is not None:
            try:
                self.cancel()
            except Exception:     # noqa: BLE001 - interpreter shutdown: atexit already killed it
                pass


_UNFINISHED = {}
_PRESTARTED = {}
_PRESTARTED_KEYS = {}


def prestart(child, timeout=DEFAULT_TIMEOUT, python=None):
    """Start ``child`` with nothing to do yet (``start(child, {}, preload=True)``), for a later
    ``take_prestarted``: the command line does this before it imports the scan, so the child's
    interpreter start overlaps them.  Never raises (the later start reports a failure)."""
    if child in _PRESTARTED or not hasattr(os, "posix_spawn"):
        return
    try:
        _PRESTARTED[child] = start(child, {}, timeout=timeout, python=python, preload=True)
        _PRESTARTED_KEYS[child] = (timeout, python)
    except (ChildError, OSError, ValueError):
        pass


def take_prestarted(child, timeout=DEFAULT_TIMEOUT, python=None):
    """The child ``prestart`` started, if it was for this timeout and interpreter (else it is
    killed), or None."""
    pending = _PRESTARTED.pop(child, None)
    key = _PRESTARTED_KEYS.pop(child, None)
    if pending is not None and key != (timeout, python):
        pending.cancel()
        return None
    return pending


def _cancel_unfinished():
    for proc in list(_UNFINISHED.values()):
        proc.cancel()
    _UNFINISHED.clear()


atexit.register(_cancel_unfinished)


def _answer(outcome, nonce, timeout):
    """(answer, error) of one finished child from its (returncode, stdout, blank, stderr)."""
    if outcome is None:
        return None, error_record(
            "timeout", "the library did not answer within {:g} s (hung while loading or in a call); "
                       "the child was killed".format(timeout))
    returncode, stdout, stdout_blank, stderr = outcome
    if returncode < 0:
        name = _signal_name(-returncode)
        return None, error_record(
            "crash", "the child crashed with {} while loading or calling the library".format(name),
            signal=name, stderr=_stderr_tail(stderr))
    from .._jsonload import loads
    try:
        answer = loads(stdout[:_MAX_OUTPUT].decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):     # RecursionError: "[[[[..." garbage
        answer = None
    if not isinstance(answer, dict) or answer.get("nonce") != nonce:
        message = ("the child exited with status {} without a valid answer".format(returncode)
                   + (" (its stdout held text that is not the probe's answer)" if not stdout_blank else "")
                   + "; a library constructor probably exited or printed")
        return None, error_record("no-answer" if stdout_blank else "garbage", message,
                                  exit_code=returncode, stderr=_stderr_tail(stderr))
    if returncode != 0:
        return None, error_record("exit", "the child exited with status {}".format(returncode),
                                  exit_code=returncode, stderr=_stderr_tail(stderr))
    answer.pop("nonce", None)
    error = answer.pop("error", None)
    if error is not None and not (isinstance(error, dict) and isinstance(error.get("kind"), str)
                                  and isinstance(error.get("message"), str)):
        error = error_record("garbage", "the child's error record is malformed: {!r}".format(error)[:300])
    elif error is not None:
        # the child's words carry the library's (a dlopen error names a path): one line each
        from ..model import line_text
        error = line_text(error)
    return answer, error


def _cannot_start(executable, exc):
    return ChildError("{}: cannot start the probe interpreter: {}".format(executable, exc))


class _Popened(object):
    """Python < 3.8: subprocess, started at ``wait`` (no head start).  ``wait`` returns
    (returncode, stdout, stdout_blank, stderr), or None on timeout."""

    def __init__(self, argv, data, timeout, env):
        self.argv, self.data, self.timeout, self.env = argv, data, timeout, env

    def cancel(self):
        pass

    def complete(self, whole, rest):
        """A ``preload`` start: nothing was started yet; the whole request goes at ``wait``."""
        self.data = whole()

    def send(self, part):
        pass

    def wait(self, grace_on_interrupt):
        import subprocess
        argv, data, timeout, env = self.argv, self.data, self.timeout, self.env
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True, env=env)
        except OSError as exc:
            raise _cannot_start(argv[0], exc) from exc
        try:
            stdout, stderr = proc.communicate(data, timeout=timeout)
        except BaseException as exc:   # timeout, or a signal handler raising (live mode's SIGINT/SIGTERM)
            if not isinstance(exc, subprocess.TimeoutExpired):
                try:
                    proc.wait(timeout=grace_on_interrupt)
                except subprocess.TimeoutExpired:
                    pass
                _kill_group(proc.pid)
                proc.wait()
                raise
            _kill_group(proc.pid)
            proc.communicate()
            return None
        return proc.returncode, stdout, not stdout.strip(), stderr


_READ = 1 << 16
_STDERR_KEPT = _MAX_OUTPUT     # only its last line is reported


class _LowDescriptor(Exception):
    pass


def _inherited_fds():
    """Descriptors above 2 a child would inherit (subprocess's close_fds closes them too)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return []
    out = []
    for name in names:
        try:
            fd = int(name)
            if fd > 2 and os.get_inheritable(fd):
                out.append(fd)
        except (ValueError, OSError):
            continue              # the listing's own descriptor, already closed
    return out


def _status_code(status):
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _reap(pid, deadline):
    """The child's return code once it exits before ``deadline`` (monotonic; None: no bound).

    A child that closed its pipes is usually still tearing down its address space (librados'
    threads, libceph-common's mappings: several ms).  Its pidfd (Linux 5.3+, Python 3.9+) turns
    readable the moment it exits; without one, short sleeps (at most 2 ms late; subprocess's
    doubling up to 50 ms cost up to 15 ms per run here).
    """
    done, status = os.waitpid(pid, 0 if deadline is None else os.WNOHANG)
    if done:
        return _status_code(status)
    pidfd = None
    try:
        pidfd = os.pidfd_open(pid)  # novermin (guarded: AttributeError before 3.9)
    except (AttributeError, OSError):
        pass
    try:
        delay = 0.0002
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if pidfd is not None:
                import select
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                poller.poll(max(1, int(remaining * 1000 + 1)))
            else:
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.002)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return _status_code(status)
    finally:
        if pidfd is not None:
            os.close(pidfd)


class _Spawned(object):
    """posix_spawn at once (as much of the request written as the pipe takes), then ``wait``
    serves the pipes with poll: (returncode, stdout, stdout_blank, stderr), or None on timeout."""

    def __init__(self, argv, data, timeout, env, more=False):
        self.popen = None
        fds = []
        try:
            in_r, in_w = os.pipe()
            fds += [in_r, in_w]
            out_r, out_w = os.pipe()
            fds += [out_r, out_w]
            err_r, err_w = os.pipe()
            fds += [err_r, err_w]
            if min(fds) <= 2:        # a dup2 onto itself would keep close-on-exec: subprocess copes
                raise _LowDescriptor()
            actions = [(os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),  # novermin
                       (os.POSIX_SPAWN_DUP2, err_w, 2)]  # novermin
            actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds()]  # novermin
            self.pid = os.posix_spawn(argv[0], argv, os.environ if env is None else env,  # novermin
                                      file_actions=actions, setsid=True,
                                      setsigdef=(_sig.SIGPIPE, _sig.SIGXFSZ))
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise _cannot_start(argv[0], exc) from exc
        except _LowDescriptor:                      # this process runs with 0, 1 or 2 closed
            for fd in fds:
                os.close(fd)
            self.popen = _Popened(argv, None if more else data, timeout, env)
            return
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        self.deadline = time.monotonic() + timeout
        self.returncode = None
        self.in_w, self.out_r, self.err_r = in_w, out_r, err_r
        self.open_fds = {in_w, out_r, err_r}
        self.data, self.offset, self.more = data, 0, more
        os.set_blocking(in_w, False)
        self._write()

    def complete(self, whole, rest):
        """The rest of the request (after a ``more`` start); stdin is closed once it is written."""
        if self.popen is not None:
            self.popen.complete(whole, rest)
            return
        self._append(rest(), more=False)

    def send(self, part):
        """A further partial record (after a ``more`` start); stdin stays open."""
        if self.popen is None:
            self._append(part(), more=True)

    def _append(self, data, more):
        self.data, self.offset, self.more = self.data[self.offset:] + data, 0, more
        if self.in_w in self.open_fds:
            self._write()

    def _write(self):
        if self.offset < len(self.data):
            try:
                self.offset += os.write(self.in_w, self.data[self.offset:self.offset + _READ])
            except BlockingIOError:
                return
            except OSError:                 # EPIPE: the child stopped reading
                self.offset, self.more = len(self.data), False
        if self.offset >= len(self.data) and not self.more:
            self._close(self.in_w)

    def _close(self, fd):
        if fd in self.open_fds:
            self.open_fds.discard(fd)
            os.close(fd)

    def cancel(self):
        if self.popen is not None:
            return
        try:
            if self.returncode is None:
                _kill_group(self.pid)
                self.returncode = _reap(self.pid, None)
        finally:
            for fd in list(self.open_fds):
                self._close(fd)

    def wait(self, grace_on_interrupt):
        if self.popen is not None:
            return self.popen.wait(grace_on_interrupt)
        import select
        try:
            poller = select.poll()
            if self.in_w in self.open_fds:
                poller.register(self.in_w, select.POLLOUT)
            poller.register(self.out_r, select.POLLIN)
            poller.register(self.err_r, select.POLLIN)
            stdout, stdout_size, stdout_blank = [], 0, True
            stderr, stderr_size = [], 0
            while self.open_fds:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    break
                for fd, _ in poller.poll(max(1, int(remaining * 1000 + 1))):
                    if fd == self.in_w:
                        self._write()
                        if fd not in self.open_fds:
                            poller.unregister(fd)
                        continue
                    chunk = os.read(fd, _READ)
                    if not chunk:
                        poller.unregister(fd)
                        self._close(fd)
                    elif fd == self.out_r:
                        stdout_blank = stdout_blank and not chunk.strip()
                        if stdout_size <= _MAX_OUTPUT:  # memory bounded; the rest is read and dropped
                            stdout.append(chunk)
                            stdout_size += len(chunk)
                    else:
                        stderr.append(chunk)
                        stderr_size += len(chunk)
                        while stderr_size > 2 * _STDERR_KEPT and len(stderr) > 1:
                            stderr_size -= len(stderr.pop(0))
            if not self.open_fds:
                self.returncode = _reap(self.pid, self.deadline)
            if self.returncode is None:                      # the timeout
                self.cancel()
                return None
            return self.returncode, b"".join(stdout), stdout_blank, b"".join(stderr)[-_STDERR_KEPT:]
        except BaseException:   # a signal handler raising (live mode's SIGINT/SIGTERM) while waiting
            if self.returncode is None:
                try:
                    self.returncode = _reap(self.pid, time.monotonic() + grace_on_interrupt)
                finally:
                    self.cancel()
            raise
        finally:
            for fd in list(self.open_fds):
                self._close(fd)


def _kill_group(pid):
    """SIGKILL the child's process group (its session: it and whatever it started)."""
    try:
        os.killpg(pid, _sig.SIGKILL)
    except OSError:
        try:
            os.kill(pid, _sig.SIGKILL)
        except OSError:
            pass
