"""Start ``_child.py`` in a fresh interpreter, bound it in time, and judge what comes back.

The parent never loads a Ceph library itself.  Whatever happens in the child -- a signal in a
library constructor, a hang, an early ``exit(0)``, stray text on stdout -- becomes a record
with a one-line message.  The child's answer is trusted only if it is one JSON object that
carries the random nonce this process sent it.
"""
import json
import os
import signal
import subprocess
import sys
import uuid

from .errors import ChildError

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_child.py")
DEFAULT_TIMEOUT = 15.0
_MAX_OUTPUT = 1 << 20


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return "signal {}".format(number)


def _stderr_tail(data):
    text = data.decode("utf-8", "replace").strip().splitlines()
    return text[-1][:300] if text else ""


def run_child(request, timeout=DEFAULT_TIMEOUT, python=None, script=CHILD, env=None, grace_on_interrupt=0):
    """Run a child script with ``request``; return (result dict or None, error dict or None).

    If the caller is interrupted (an exception raised by a signal handler while waiting), the
    child gets ``grace_on_interrupt`` seconds to finish before it is killed; then the
    exception propagates.
    """
    nonce = uuid.uuid4().hex
    request = dict(request, nonce=nonce)
    argv = [python or sys.executable, "-E", "-s", script]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, env=env)
    except OSError as exc:
        raise ChildError("{}: cannot start the probe interpreter: {}".format(argv[0], exc)) from exc
    try:
        stdout, stderr = proc.communicate(json.dumps(request).encode("utf-8"), timeout=timeout)
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
        return None, {"kind": "timeout",
                      "message": "the library did not answer within {:g} s (hung while loading or "
                                 "in a call); the child was killed".format(timeout)}
    if proc.returncode < 0:
        return None, {"kind": "crash", "signal": _signal_name(-proc.returncode),
                      "message": "the child crashed with {} while loading or calling the library"
                                 .format(_signal_name(-proc.returncode)),
                      "stderr": _stderr_tail(stderr)}
    result = None
    try:
        result = json.loads(stdout[:_MAX_OUTPUT].decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        result = None
    if not isinstance(result, dict) or result.get("nonce") != nonce:
        kind = "garbage" if stdout.strip() else "no-answer"
        message = ("the child exited with status {} without a valid answer".format(proc.returncode)
                   + (" (its stdout held text that is not the probe's answer)" if stdout.strip() else "")
                   + "; a library constructor probably exited or printed")
        return None, {"kind": kind, "exit_code": proc.returncode, "message": message,
                      "stderr": _stderr_tail(stderr)}
    if proc.returncode != 0:
        return None, {"kind": "exit", "exit_code": proc.returncode,
                      "message": "the child exited with status {}".format(proc.returncode),
                      "stderr": _stderr_tail(stderr)}
    result.pop("nonce", None)
    return result, None


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        try:
            proc.kill()
        except OSError:
            pass


def probe_libraries(librbd, librados, symbols, feature_masks=(), config=None,
                    timeout=DEFAULT_TIMEOUT, python=None):
    """Load the chosen files in a child and return (answer, error)."""
    request = {"librbd": librbd, "librados": librados, "symbols": sorted(symbols),
               "feature_masks": list(feature_masks), "config": config}
    return run_child(request, timeout=timeout, python=python)
