"""Turn a report into text (80 columns), JSON or Markdown.  Decides nothing."""
from . import knowledge as kn
from .model import to_plain
from .rootfs import Root
from .textout import join_lines, line as _text_line, wrap as _text_wrap

WIDTH = 80


def to_json(data):
    """Canonical JSON: sorted keys, 2-space indent, final newline; same bytes for same input."""
    from ._jsonout import to_json as canonical
    return canonical(data)


def _triple(value):
    return ".".join(str(v) for v in value) if value else "?"


def _wrap(text, indent, width=WIDTH):
    text = _text_line(text)  # a newline inside a value is shown as \n, never wrapped into a line break
    return _text_wrap(text, width, indent, " " * len(indent)) or [indent]


def report_text(report):
    """The human table for a scan Report."""
    lines = []
    mode = "static scan" if report.mode == "static" else "runtime probe"
    lines.append("librbd_probe: {}{}".format(mode, " of root " + report.root if report.root else ""))
    lines.append("")
    lines.append("Libraries")

    # under --root, show the target system's path (the root is named in the heading)
    shown = Root(report.root, check=False).target

    for name in ("librbd", "librados", "libceph-common"):
        lib = report.libraries.get(name)
        if lib is None:
            continue
        if not lib.found:
            lines.append("  {:<15} not found".format(name))
            continue
        lines.extend(_wrap("{} ({}{})".format(shown(lib.realpath or lib.path), lib.arch or "?",
                                              ", via " + lib.chosen_by if lib.chosen_by else ""),
                           "  {:<15} ".format(name)))
        if lib.error:
            lines.extend(_wrap("error: " + lib.error, " " * 18))
        others = [c for c in lib.candidates if not c.chosen]
        for cand in others:
            lines.extend(_wrap("also: {} ({}, {}{})".format(
                shown(cand.realpath), cand.source, cand.file_version or "unversioned",
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
        rel = to_plain(report.release)
        lines.append("")
        lines.append("Release")
        label = rel.get("label")
        what = "Ceph " + label if label and (rel.get("version") or rel.get("min")) else "not identified"
        lines.extend(_wrap("{} (confidence: {})".format(what.strip(), rel.get("confidence", "?")), "  "))
        for item in rel.get("evidence", [])[:4]:
            lines.extend(_wrap(item, "    - "))
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
    return join_lines(lines)


def _extra_sections(report):
    """Configuration and kernel-client sections."""
    sections = []
    conf = report.config
    if conf:
        lines = ["Client configuration"]
        lines.extend(_wrap("{} ({}), [{}]; read by {}".format(
            conf.get("file") or "no ceph.conf", conf.get("found_via") or "defaults", conf.get("client"),
            conf.get("read_by")), "  "))
        feats = conf.get("rbd_default_features")
        if feats:
            lines.extend(_wrap("rbd default features = {} ({})".format(
                feats.get("raw"), ", ".join(feats.get("names") or []) or "none"), "  "))
            if feats.get("unknown_to_library"):
                lines.extend(_wrap("unknown to this librbd: " + ", ".join(feats["unknown_to_library"]), "    "))
        fmt = conf.get("rbd_default_format")
        if fmt:
            lines.append("  rbd default format = {}".format(fmt.get("raw")))
        sections.append(lines)
    krbd = report.krbd
    if krbd:
        lines = ["Kernel client (krbd)"]
        if krbd.get("supported_features") is None:
            lines.extend(_wrap("unknown: " + (krbd.get("reason") or "?"), "  "))
        else:
            lines.extend(_wrap("supports 0x{:x} ({})".format(krbd["supported_features"], ", ".join(krbd.get("names") or [])), "  "))
            if krbd.get("rejected_by_rbd_map"):
                lines.extend(_wrap("rbd map would reject: " + ", ".join(krbd["rejected_by_rbd_map"]), "  "))
        sections.append(lines)
    if report.live is not None:
        sections.append(_live_lines(report.live))
    return sections


def _live_lines(live):
    lines = ["Live trials (pool {}{})".format(live.get("pool"), ", namespace " + live["namespace"] if live.get("namespace") else "")]
    if live.get("dry_run"):
        lines.append("  dry run: nothing was created; the plan:")
        for item in live.get("plan", []):
            lines.extend(_wrap("{} via {} as {} (expect {})".format(
                item["id"], item["path"], item["name"], item.get("expect") or "?"), "    - "))
        return lines
    if live.get("error"):
        lines.extend(_wrap("not connected: " + live["error"].get("message", "?"), "  "))
        return lines
    cluster = live.get("cluster") or {}
    overall = sorted((cluster.get("versions") or {}).get("overall", {}))
    lines.extend(_wrap("cluster: {}; require_min_compat_client {}, min_compat_client {}, require_osd_release {}".format(
        "; ".join(overall) or "versions unknown", cluster.get("require_min_compat_client"),
        cluster.get("min_compat_client"), cluster.get("require_osd_release")), "  "))
    lines.append("  {:<34} {:<12} {:<18} {}".format("TRIAL", "PATH", "RESULT", "AS EXPECTED"))
    for trial in live.get("trials", []):
        result = trial.get("result")
        if result == "refused":
            result = "refused " + (trial.get("errno") or "")
        elif trial.get("dropped_bits"):
            result += " -bits " + ",".join(str(b) for b in trial["dropped_bits"])
        expected = {True: "yes", False: "NO", None: "-"}[trial.get("as_expected")]
        lines.append("  {:<34} {:<12} {:<18} {}".format(trial["id"], trial["path"], result, expected))
    cleanup = live.get("cleanup") or {}
    stale = (cleanup.get("before") or {}).get("removed") or []
    if stale:
        lines.extend(_wrap("removed {} scratch image(s) left by earlier runs: {}".format(
            len(stale), ", ".join(item["name"] for item in stale)), "  "))
    left = (cleanup.get("after") or {}).get("scratch") or []
    lines.extend(_wrap("scratch images removed after the run; left in the pool: {}".format(
        ", ".join(left) if left else "none"), "  "))
    for client in (live.get("census") or {}).get("clients") or ():       # issue 12's --census
        if client.get("text"):
            lines.extend(_wrap(client["text"], "  census: "))
    return lines


def report_markdown(report):
    """A Markdown table of the capability matrix, for build logs and tickets."""
    lines = ["| capability | status | reason |", "|---|---|---|"]
    for cap in report.capabilities:
        lines.append("| `{}` | {} | {} |".format(cap.id, cap.status, cap.reason.replace("|", "\\|")))
    if report.problems:
        lines.append("")
        for problem in report.problems:
            lines.append("- **{}**: {}".format(problem.severity, problem.message))
    return join_lines(lines)


def explain_text(result):
    """The human answer of ``explain``: one block per finding (cause, this host, fix)."""
    lines = []
    host = result.host
    lines.extend(_wrap("librbd_probe explain: {} finding{} in {}".format(
        len(result.findings), "" if len(result.findings) == 1 else "s", result.source), ""))
    lines.extend(_wrap("host: {} ({}), {}".format(host.get("librbd"), host.get("release"), host.get("mode")), "  "))
    if not result.findings:
        lines.append("")
        lines.extend(_wrap("No known Ceph RBD client error signature in this text.  Known families: "
                           "FunctionNotSupported/InvalidArgument from RBD.create, \"librbd does not support "
                           "requested features\", \"Format 1 image creation unsupported\", \"undefined symbol: "
                           "rbd_/rados_...\", \"cannot open shared object file\", rbd map feature mismatches, "
                           "libceph \"feature set mismatch\", and bare errno forms.", ""))
        # what was not read (a bomb stopped, a truncated stream) matters most when nothing was found
        for notice in getattr(result, "notices", ()) or ():
            lines.extend(_wrap(notice, "note: "))
        return join_lines(lines)
    for number, finding in enumerate(result.findings, 1):
        # confidence, decides, last_line, times and related come with issue 10's explain
        # (getattr: an explanation without them renders as before)
        lines.append("")
        last_line = getattr(finding, "last_line", None)
        if finding.count > 1 and last_line:
            where = "lines {}-{}, {} times".format(finding.line, last_line, finding.count)
        else:
            where = "line {}{}".format(finding.line, ", {} times".format(finding.count) if finding.count > 1 else "")
        lines.extend(_wrap("{} ({})".format(finding.title, where), "[{}] ".format(number)))
        first_time, last_time = getattr(finding, "first_time", None), getattr(finding, "last_time", None)
        if first_time:
            lines.extend(_wrap(first_time + ("" if last_time in (None, first_time) else " .. " + last_time),
                               "    when:    "))
        lines.extend(_wrap(finding.match, "    matched: "))
        confidence = getattr(finding, "confidence", None)
        if confidence:
            candidates = getattr(finding, "candidates", ()) or ()
            lines.extend(_wrap(confidence + (" (candidates: {})".format(", ".join(candidates)) if candidates else ""),
                               "    confidence: "))
        lines.extend(_wrap(finding.cause, "    cause:   "))
        if getattr(finding, "decides", None):
            lines.extend(_wrap(finding.decides, "    decides: "))
        if finding.evidence:
            lines.append("    on this host:")
            for item in finding.evidence:
                lines.extend(_wrap(item, "      - "))
        lines.append("    fix:")
        for item in finding.fix:
            lines.extend(_wrap(item, "      - "))
        lines.extend(_wrap(finding.source, "    source:  "))
        for item in getattr(finding, "related", ()) or ():
            lines.extend(_wrap(item, "    explains: "))
    for notice in getattr(result, "notices", ()) or ():
        lines.extend(_wrap(notice, "note: "))
    return join_lines(lines)


def consumers_text(report, results):
    """The human answer of ``consumers``: each consumer, the loader's verdict, what its user sees."""
    lines = []
    librbd = report.libraries.get("librbd")
    rel = to_plain(report.release) or {}
    label = rel.get("label") or "unidentified release"
    lines.extend(_wrap("librbd_probe consumers: the loader's choice here is {} ({})".format(
        librbd.realpath if librbd is not None and librbd.found else "no librbd", label), ""))
    if not results:
        lines.append("")
        lines.append("No program or module that uses librbd/librados was found; give ELF paths to check.")
        return join_lines(lines)
    for consumer in results:
        lines.append("")
        lines.extend(_wrap("{} ({})".format(consumer.path, consumer.kind), ""))
        if consumer.error:
            lines.extend(_wrap("error: " + consumer.error, "  "))
            if not consumer.needs:
                continue
        lines.extend(_wrap("needs {} Ceph symbols{}; loads {}".format(
            len(consumer.needs), " (+{} weak)".format(len(consumer.weak)) if consumer.weak else "",
            ", ".join(consumer.library_paths) or "no Ceph library"), "  "))
        others = 0
        for item in consumer.not_found or ():
            if not item.get("ceph"):
                others += 1
                continue
            lines.extend(_wrap("not found: {} (needed by {}){}".format(
                item["name"], item["needed_by"], "; skipped " + "; ".join(item["skipped"]) if item["skipped"] else ""),
                "  "))
        if others:
            lines.extend(_wrap("({} other libraries of its closure not found here: {})".format(
                others, ", ".join(sorted({i["name"] for i in consumer.not_found if not i.get("ceph")}))), "  "))
        pairing = consumer.pairing or {}
        if pairing.get("libceph_common"):
            lines.extend(_wrap("libceph-common: {} ({}){}".format(
                pairing["libceph_common"], pairing.get("release") or "release unknown",
                "" if pairing.get("ok") else ": {} symbols of librbd/librados unbound, e.g. {}".format(
                    pairing.get("unbound"), "; ".join(pairing.get("examples") or ()))), "  "))
        if consumer.other_failures:
            sample = [o.get("demangled") or o.get("symbol") or "version " + str(o.get("version"))
                      for o in consumer.other_failures[:3]]
            lines.extend(_wrap("{} unbound outside the Ceph libraries, e.g. {}".format(
                len(consumer.other_failures), "; ".join(sample)), "  "))
        if consumer.ceph_ok and not consumer.missing:
            lines.append("  ok: the loader binds every Ceph symbol" + (
                "" if consumer.loads else " (but the program fails to load for the reasons above)"))
            continue
        if consumer.missing:
            lines.append("  MISSING {}:".format(len(consumer.missing)))
        for item in consumer.missing:
            if item.get("symbol") is None:
                lines.extend(_wrap("version {} of {} ({})".format(item["version"], item.get("file"), item["cause"]),
                                   "    - "))
                continue
            shown = item.get("demangled") or item["symbol"]
            lines.extend(_wrap("{} ({}{}): {}".format(
                shown, item["library"], ", version " + item["version"] if item.get("version") else "",
                item.get("cause") or "not exported"), "    - "))
        if consumer.sees:
            lines.extend(_wrap("you will see: " + consumer.sees, "  "))
    return join_lines(lines)
