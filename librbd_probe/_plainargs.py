"""The scan's options in their plain forms, parsed without argparse.

Building cli.py's argparse parser (some 30 add_argument calls, gettext's locale look-ups) is
1.5 ms of every run, and importing argparse 1.6 ms more before the probe child can be started
(bench/bench_startup.py).  ``plain_scan_args`` parses a command line only when every argument
is a plain form: ``--option VALUE`` with a value that does not start with ``-``, flags, each
option spelt in full, no conflicting pair; for anything else it returns None and cli.py asks
argparse (which parses or rejects it with its usual message).  tests/test_startup.py checks the
table against ``cli.build_parser()`` and the results against argparse's on many command lines.
"""

#: option -> (dest, kind); kind: flag (store_true), value (store), append, seconds (a number > 0)
PLAIN_OPTIONS = {
    "--librbd": ("librbd", "value"), "--librados": ("librados", "value"), "--root": ("root", "value"),
    "--no-runtime": ("no_runtime", "flag"), "--timeout": ("timeout", "seconds"), "--conf": ("conf", "value"),
    "--id": ("client_id", "value"), "--name": ("client_name", "value"), "--sysfs": ("sysfs", "value"),
    "--live": ("live", "flag"), "--keyring": ("keyring", "value"), "--pool": ("pool", "value"),
    "--namespace": ("namespace", "value"), "--data-pool": ("data_pool", "value"), "--dry-run": ("dry_run", "flag"),
    "--trial-timeout": ("trial_timeout", "seconds"), "--census": ("census", "flag"), "--json": ("json", "flag"),
    "--markdown": ("markdown", "flag"), "--require": ("require", "append"), "--baseline": ("baseline", "value"),
    "--policy": ("policy", "value"), "--save-baseline": ("save_baseline", "value"),
    "--prometheus": ("prometheus", "value"),
}
#: defaults other than False (flags), None (values) and [] (append); timeout: cli.DEFAULT_TIMEOUT
PLAIN_DEFAULTS = {"timeout": 15.0, "sysfs": "/sys", "pool": "rbd", "trial_timeout": 30.0}
#: argparse's mutually exclusive groups
PLAIN_EXCLUSIVE = (("json", "markdown"), ("client_id", "client_name"))


class PlainArgs(object):
    """The parsed scan options (argparse.Namespace's attributes)."""

    def __init__(self, values):
        self.__dict__.update(values)


def _seconds(text):
    """cli._positive_float's value, or None where it raises."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def plain_scan_args(argv):
    """A PlainArgs for a command line of plain forms only, else None (see the module's text)."""
    values = {dest: PLAIN_DEFAULTS.get(dest, False if kind == "flag" else None)
              for dest, kind in PLAIN_OPTIONS.values()}
    values["require"] = []
    seen = set()
    index = 0
    while index < len(argv):
        spec = PLAIN_OPTIONS.get(argv[index])
        if spec is None:
            return None
        dest, kind = spec
        seen.add(dest)
        if kind == "flag":
            values[dest] = True
            index += 1
            continue
        value = argv[index + 1] if index + 1 < len(argv) else ""
        if not value or value.startswith("-"):
            return None
        if kind == "seconds":
            value = _seconds(value)
            if value is None:
                return None
        if kind == "append":
            values[dest].append(value)
        else:
            values[dest] = value
        index += 2
    if any(a in seen and b in seen for a, b in PLAIN_EXCLUSIVE):
        return None
    return PlainArgs(values)
