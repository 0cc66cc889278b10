"""Peak RSS of a child process, measured so the test runner's own size does not leak into it.

On Linux, ``ru_maxrss`` of a process started from a big parent (pytest after a few hundred tests:
400+ MiB) is at least the parent's size: subprocess and posix_spawn start the child with vfork,
and exec records the shared address space's high-water mark in the child's ``maxrss``
(kernel ``setmax_mm_hiwater_rss`` at exec).  So:

* a process measuring itself reads ``VmHWM`` from /proc/self/status (its own address space's
  high-water mark, reset by exec): ``SELF_HWM_KIB`` is a Python expression for that;
* a process measured from outside is started through ``LAUNCHER``: a small interpreter that
  fork()s (a real copy of its own few MiB) and execs the command, then reports ``ru_maxrss`` of
  ``wait4`` (the command and every descendant it waited for) in a file, and exits as the command
  did (the same code, or the same signal).  GNU time does the same.
"""
import sys

SELF_HWM_KIB = ("int([l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1])")

LAUNCHER = r"""
import os, signal, sys
report, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as handle:
    handle.write(str(usage.ru_maxrss))
if os.WIFSIGNALED(status):
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
os._exit(os.WEXITSTATUS(status))
"""


def launcher_argv(report_path, argv):
    """``argv`` run through LAUNCHER, which writes the command's peak RSS (KiB) to report_path."""
    return [sys.executable, "-S", "-c", LAUNCHER, report_path] + list(argv)


def read_report(report_path):
    """The peak RSS in KiB the launcher wrote, or None when it wrote nothing (killed)."""
    try:
        with open(report_path) as handle:
            return int(handle.read().strip() or 0) or None
    except (OSError, ValueError):
        return None
