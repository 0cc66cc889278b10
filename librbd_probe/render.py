"""Turn a report into text (80 columns), JSON or Markdown.  Decides nothing."""
import json

WIDTH = 80


def to_json(data):
    """Canonical JSON: sorted keys, 2-space indent, final newline; same bytes for same input."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _triple(value):
    return ".".join(str(v) for v in value) if value else "?"


def _wrap(text, indent, width=WIDTH):
    import textwrap  # only the text table needs it; --json stays lean
    return textwrap.wrap(text, width=width, initial_indent=indent,
                         subsequent_indent=" " * len(indent), break_on_hyphens=False) or [indent]


def report_text(report):
    """The human table for a scan Report."""
    lines = []
    mode = "static scan" if report.mode == "static" else "runtime probe"
    lines.append("librbd_probe: {}{}".format(mode, " of root " + report.root if report.root else ""))
    lines.append("")
    lines.append("Libraries")
    for name in ("librbd", "librados", "libceph-common"):
        lib = report.libraries.get(name)
        if lib is None:
            continue
        if not lib.found:
            lines.append("  {:<15} not found".format(name))
            continue
        lines.extend(_wrap("{} ({}{})".format(lib.realpath or lib.path, lib.arch or "?",
                                              ", via " + lib.chosen_by if lib.chosen_by else ""),
                           "  {:<15} ".format(name)))
        if lib.error:
            lines.extend(_wrap("error: " + lib.error, " " * 18))
        others = [c for c in lib.candidates if not c.chosen]
        for cand in others:
            lines.extend(_wrap("also: {} ({}, {}{})".format(
                cand.realpath, cand.source, cand.file_version or "unversioned",
                "" if cand.compatible else "; skipped: " + (cand.note or "incompatible")), " " * 18))
    lines.append("")
    runtime = report.runtime
    lines.append("Runtime")
    if not runtime.attempted:
        lines.extend(_wrap("not run: " + (runtime.skipped or "?"), "  "))
    elif runtime.error:
        lines.extend(_wrap("failed: " + runtime.error.get("message", "?"), "  "))
    else:
        ceph = runtime.ceph_version or "?"
        if runtime.ceph_release:
            ceph += " ({})".format(runtime.ceph_release)
        lines.append("  rbd_version {}   rados_version {}   Ceph {}".format(
            _triple(runtime.rbd_version), _triple(runtime.rados_version), ceph))
    if report.release:
        rel = report.release
        lines.append("")
        lines.append("Release")
        lines.extend(_wrap("{} {} (confidence: {})".format(
            rel.get("version") or "unknown", rel.get("codename") or "", rel.get("confidence", "?")), "  "))
    lines.append("")
    lines.append("Capabilities")
    lines.append("  {:<22} {:<8} {}".format("ID", "STATUS", "REASON"))
    for cap in report.capabilities:
        lines.extend(_wrap(cap.reason, "  {:<22} {:<8} ".format(cap.id, cap.status)))
    for section in _extra_sections(report):
        lines.append("")
        lines.extend(section)
    lines.append("")
    if report.problems:
        lines.append("Problems")
        for problem in report.problems:
            lines.extend(_wrap(problem.message, "  [{}] ".format(problem.severity)))
            if problem.fix:
                lines.extend(_wrap("fix: " + problem.fix, "      "))
    else:
        lines.append("Problems: none")
    return "\n".join(lines) + "\n"


def _extra_sections(report):
    """Sections that later features add (config, kernel client, live trials)."""
    return []


def report_markdown(report):
    """A Markdown table of the capability matrix, for build logs and tickets."""
    lines = ["| capability | status | reason |", "|---|---|---|"]
    for cap in report.capabilities:
        lines.append("| `{}` | {} | {} |".format(cap.id, cap.status, cap.reason.replace("|", "\\|")))
    if report.problems:
        lines.append("")
        for problem in report.problems:
            lines.append("- **{}**: {}".format(problem.severity, problem.message))
    return "\n".join(lines) + "\n"
