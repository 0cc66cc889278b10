"""A report as node_exporter's textfile-collector format (Prometheus text exposition 0.0.4).

``render(report_dict, timestamp)`` is pure: the JSON form of a report (``Report.to_dict()``)
in, the text out.  ``write_textfile`` is the one piece of I/O: write next to the target and
rename, so the collector (which reads ``*.prom`` files of its directory at every scrape) never
sees half a file.  The report itself stays free of time stamps; the scan time lives only here,
as ``librbd_probe_scan_timestamp_seconds``.

Every sample is a gauge:
  librbd_probe_release_info{release,version,label,codename,confidence,min,before,candidates,mode}  1
      release: the version, else the only candidate, else "min..before" (for grouping/alerts)
  librbd_probe_rbd_version_info{version,source} 1; librbd_probe_rados_version_info{...} 1
  librbd_probe_capability{capability}   1 yes, 0 no, -1 unknown
  librbd_probe_problem{id,severity}     how many problems with that id the scan found
  librbd_probe_problems{severity}       count per severity (all three, 0 included)
  librbd_probe_config_default_features  rbd_default_features as read (mask), when parsed
  librbd_probe_config_default_format    rbd_default_format as read, when parsed
  librbd_probe_exit_code                the scan's exit code (0 ok, 1 requirement, 3 undetermined)
  librbd_probe_scan_timestamp_seconds   when the scan ran (Unix time)
"""
import os

from .errors import UsageError

PREFIX = "librbd_probe_"
CAPABILITY_VALUE = {"yes": 1, "no": 0, "unknown": -1}
SEVERITIES = ("error", "warning", "info")


def _escape_label(value):
    # exposition format: in label values, backslash, double quote and line feed are escaped
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text):
    # in HELP lines, only backslash and line feed
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class _Families(object):
    """Metric families in the order they are added; samples sorted within a family."""

    def __init__(self):
        self._order = []
        self._help = {}
        self._samples = {}

    def add(self, name, help_text, value, **labels):
        name = PREFIX + name
        if name not in self._help:
            self._order.append(name)
            self._help[name] = help_text
            self._samples[name] = {}
        key = tuple(sorted(labels.items()))
        # one series per label set: a repeated one is summed (never two lines with one identity)
        self._samples[name][key] = self._samples[name].get(key, 0) + value

    def declare(self, name, help_text):
        """A family that may end up without samples still gets HELP/TYPE (stable for dashboards)."""
        name = PREFIX + name
        if name not in self._help:
            self._order.append(name)
            self._help[name] = help_text
            self._samples[name] = {}

    def text(self):
        lines = []
        for name in self._order:
            lines.append("# HELP {} {}".format(name, _escape_help(self._help[name])))
            lines.append("# TYPE {} gauge".format(name))
            for key in sorted(self._samples[name]):
                labels = ",".join('{}="{}"'.format(k, _escape_label(v)) for k, v in key)
                lines.append("{}{} {}".format(name, "{" + labels + "}" if labels else "",
                                              _number(self._samples[name][key])))
        return "\n".join(lines) + "\n"


def _triple(value):
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) for v in value):
        return ".".join(str(v) for v in value)
    return None


def _library_version(report, library, runtime_key, call):
    """(version, source): the runtime call's answer, else the version in the file name."""
    runtime = report.get("runtime") or {}
    version = _triple(runtime.get(runtime_key))
    if version:
        return version, call
    lib = (report.get("libraries") or {}).get(library) or {}
    for candidate in lib.get("candidates") or ():
        if candidate.get("chosen") and candidate.get("file_version"):
            return candidate["file_version"], "file name"
    return None, None


def release_name(release):
    """One value for dashboards and alerts: the version, else the only candidate, else the
    range "min..before" ("" when nothing is known)."""
    if release.get("version"):
        return release["version"]
    candidates = release.get("candidates") or ()
    if len(candidates) == 1:
        return candidates[0]
    if release.get("min") or release.get("before"):
        return "{}..{}".format(release.get("min") or "", release.get("before") or "")
    return ""


def render(report, timestamp, exit_code=None):
    """Text of the textfile for ``report`` (a report's JSON dict) scanned at ``timestamp``."""
    fam = _Families()
    release = report.get("release") or {}
    fam.add("release_info",
            "Ceph release of this host's RBD client as identified by librbd_probe (value always 1)", 1,
            release=release_name(release), label=release.get("label") or "",
            version=release.get("version") or "", codename=release.get("codename") or "",
            confidence=release.get("confidence") or "none", min=release.get("min") or "",
            before=release.get("before") or "", candidates=",".join(release.get("candidates") or ()),
            mode=report.get("mode") or "")
    fam.declare("rbd_version_info", "librbd API version: rbd_version() when the library loaded, "
                                    "else the version in the file name (value always 1)")
    version, source = _library_version(report, "librbd", "rbd_version", "rbd_version()")
    if version:
        fam.add("rbd_version_info", "", 1, version=version, source=source)
    fam.declare("rados_version_info", "librados API version: rados_version() when the library loaded, "
                                      "else the version in the file name (value always 1)")
    version, source = _library_version(report, "librados", "rados_version", "rados_version()")
    if version:
        fam.add("rados_version_info", "", 1, version=version, source=source)

    fam.declare("capability", "What the RBD client can do: 1 yes, 0 no, -1 unknown (unknown never passes)")
    for cap_id, cap in sorted((report.get("capabilities") or {}).items()):
        fam.add("capability", "", CAPABILITY_VALUE.get(cap.get("status"), -1), capability=cap_id)

    fam.declare("problem", "Problems the scan found, by id and severity (number of findings)")
    counts = dict((s, 0) for s in SEVERITIES)
    for problem in report.get("problems") or ():
        severity = problem.get("severity") or "error"
        fam.add("problem", "", 1, id=problem.get("id") or "?", severity=severity)
        counts[severity] = counts.get(severity, 0) + 1
    for severity in sorted(counts):
        fam.add("problems", "Number of problems the scan found, by severity", counts[severity],
                severity=severity)

    config = report.get("config") or {}
    features = (config.get("rbd_default_features") or {}).get("value")
    if isinstance(features, int) and not isinstance(features, bool):
        fam.add("config_default_features",
                "rbd_default_features of the client configuration as the library read it (bit mask)",
                features)
    fmt = (config.get("rbd_default_format") or {}).get("value")
    if isinstance(fmt, int) and not isinstance(fmt, bool):
        fam.add("config_default_format", "rbd_default_format of the client configuration", fmt)
    if exit_code is not None:
        fam.add("exit_code", "Exit code of the scan: 0 ok, 1 a --require failed, 3 could not determine",
                int(exit_code))
    fam.add("scan_timestamp_seconds", "When the scan ran, in seconds since the Unix epoch",
            float(timestamp))
    return fam.text()


def _one(text):
    from .safeio import one_line
    return one_line(text)


def check_path(path):
    """Refuse, before scanning, a --prometheus FILE that cannot be written (one-line UsageError).

    An existing FILE must be a regular file: the write renames a temporary file over it, which
    would replace a device node (``/dev/null`` as root) or a FIFO instead of writing to it."""
    from .safeio import kind_problem, one_line
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError("{}: --prometheus is a directory".format(one_line(path)))
    if not os.path.isdir(directory):
        raise UsageError("{}: --prometheus directory {} does not exist".format(one_line(path), one_line(directory)))
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError("{}: --prometheus directory {} is not writable".format(one_line(path), one_line(directory)))
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    problem = kind_problem(mode)
    if problem:
        raise UsageError("{}: --prometheus {} (it would be replaced, not written to)".format(one_line(path), problem))


def write_textfile(path, report, timestamp, exit_code=None, clean=None):
    """Write ``render(...)`` to ``path`` atomically: a hidden temporary file in the same
    directory (not ``*.prom``, so the collector ignores it), fsync, then rename over ``path``.
    ``clean``: the CLI's output filter (secrets redacted, control characters escaped)."""
    import tempfile
    check_path(path)
    text = render(report, timestamp, exit_code=exit_code)
    if clean is not None:
        text = clean(text)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    except OSError as exc:
        raise UsageError("{}: --prometheus cannot be written: {}".format(_one(path), exc.strerror or exc)) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)   # mkstemp's 0600 would hide it from a node_exporter running as its own user
        os.replace(temp, path)
    except OSError as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise UsageError("{}: --prometheus cannot be written: {}".format(_one(path), exc.strerror or exc)) from exc
    return text
