"""Every client host in one report: the stale one flagged, with its fix.

``aggregate()`` is pure: host inputs (each a scan report's JSON, or why a host could not be
scanned) -> one Fleet record: a row per host (release, create paths, feature bits,
configuration, problems, status, fix), the majority release, the targets (``--target-release``,
or the cluster's ``require_min_compat_client`` and daemon versions from a live report), the
capabilities that are not uniform, and the cluster's own view of its clients (census) matched
to hosts by address.  ``load_inputs()`` is the I/O edge: report files, a directory collected by
contrib/ansible (layout: /work/briefs/h12-contract.md, README "Fleet"), or the JSON that
Ansible's ``json`` stdout callback prints.
"""
import collections
import os
import re

from . import safeio, savedjson
from .errors import InputError, UsageError
from .model import Record
from .savedjson import NONE, Map

SCHEMA_VERSION = 1
SCAN_TASK = "librbd-probe scan"          # the task name in contrib/ansible's role
CREATE_PATHS = ("create.format1", "create.format2", "create.striping", "create.options")
# Worst first: the order a host's status is chosen in, and the order hosts are listed in.
STATUSES = ("failed", "below-target", "stale", "running-older", "unknown", "problems", "behind-daemons", "differs",
            "ok")
FLAGGED = frozenset(STATUSES) - {"ok"}


# --- knowledge: asked of the knowledge layer, once per aggregation -------------------------
class Knowledge(object):
    """Version order, codenames and labels (librbd_probe.knowledge), cached per aggregation."""

    def __init__(self):
        from . import knowledge
        self._kn = knowledge
        self.codenames = []
        for rel in knowledge.releases():
            if rel.codename and rel.codename not in self.codenames:
                self.codenames.append(rel.codename)
        self._labels = {}

    def key(self, version):
        return self._kn.version_key(version)

    def upstream(self, version):
        return self._kn.upstream_version(version)

    def codename(self, version):
        return self._kn.codename(version)

    def first_of(self, codename):
        for rel in self._kn.releases():
            if rel.codename == codename:
                return rel.version
        return None

    def label(self, version):
        if version not in self._labels:
            self._labels[version] = self._kn.release_label(version)
        return self._labels[version]


# --- records ----------------------------------------------------------------------------
class HostInput(
        metaclass=Record,
        fields="name report failure addresses origin client conf",
        defaults=(None, None, (), None, None, None)):
    """One host as read: its report (dict) or its failure (dict: rc, stderr, msg)."""
    __slots__ = ()


class FleetHost(
        metaclass=Record,
        fields="name status flags reasons fixes release release_label mode capabilities features_yes "
        "features_no config_features config_unknown problems addresses origin error cluster_view"):
    """One row of the fleet grid."""
    __slots__ = ()

    def to_dict(self):
        from .model import to_plain
        return to_plain(dict(self._asdict()))


class Fleet(metaclass=Record, fields="hosts majority targets non_uniform census unmatched_clients summary"):
    """The whole fleet: rows, reference release, targets, non-uniform capabilities, census."""
    __slots__ = ()

    def flagged(self):
        return [h for h in self.hosts if h.status in FLAGGED]

    def to_dict(self):
        from .model import to_plain
        return {"schema_version": SCHEMA_VERSION, "hosts": [h.to_dict() for h in self.hosts],
                "majority": to_plain(self.majority), "targets": to_plain(self.targets),
                "non_uniform": to_plain(self.non_uniform), "census": to_plain(self.census),
                "unmatched_clients": to_plain(self.unmatched_clients),
                "flagged": [h.name for h in self.flagged()], "summary": to_plain(self.summary)}


# --- pure aggregation -------------------------------------------------------------------
def _release_of(report, kn):
    """(label, lower version, upper key or None, exact) of a report's release."""
    rel = report.get("release") or {}
    version = rel.get("version")
    if version:
        return kn.label(version), version, (kn.key(version), True), True
    low, before = rel.get("min"), rel.get("before")
    if low and before:
        label = "{} .. before {}".format(low, before)
        if rel.get("codename"):
            label += " ({})".format(rel["codename"])
        return label, low, (kn.key(before), False), False
    if low:
        return "{} or later".format(kn.label(low)), low, None, False
    return None, None, None, False


def _older_than(upper, target_key):
    """Is every version the host may have older than target?  None when it cannot be told."""
    if upper is None:
        return None
    key, inclusive = upper
    return key < target_key if inclusive else key <= target_key


def targets_from_reports(inputs, kn):
    """The cluster's requirements, from the live sections of the reports (pure)."""
    found = []
    for item in inputs:
        live = (item.report or {}).get("live") or {}
        cluster = live.get("cluster") or {}
        need = cluster.get("require_min_compat_client")
        if need and kn.first_of(need):
            found.append({"kind": "require_min_compat_client", "version": kn.first_of(need), "codename": need,
                          "severity": "error", "from": item.name,
                          "why": "the cluster's require_min_compat_client is {} (osd dump, live report of {})".format(
                              need, item.name)})
        versions = []
        for text in ((cluster.get("versions") or {}).get("overall") or {}):
            match = re.search(r"ceph version (\d+\.\d+\.\d+)", text)
            if match:
                versions.append(match.group(1))
        if versions:
            oldest = min(versions, key=kn.key)
            # a client of the daemons' release series is current: compare with that series' first
            series_first = kn.first_of(kn.codename(oldest)) if kn.codename(oldest) else None
            found.append({"kind": "daemons", "version": series_first or oldest, "codename": kn.codename(oldest),
                          "severity": "warning", "from": item.name,
                          "why": "the cluster's daemons run {} (mon command versions, live report of {})".format(
                              ", ".join(sorted(set(versions), key=kn.key)), item.name)})
    unique = {}
    for target in found:
        unique.setdefault((target["kind"], target["version"]), target)
    return [unique[k] for k in sorted(unique)]


def _census_clients(inputs):
    clients = []
    for item in inputs:
        section = ((item.report or {}).get("live") or {}).get("census") or {}
        for client in section.get("clients") or ():
            clients.append(dict(client, seen_by=item.name))
    return clients


def aggregate(inputs, target_release=None, kn=None):
    """Host inputs -> Fleet (pure)."""
    kn = kn or Knowledge()
    targets = []
    if target_release:
        if not kn.upstream(target_release):
            raise UsageError("--target-release {!r}: not a Ceph version (e.g. 16.2.15)".format(target_release))
        targets.append({"kind": "target-release", "version": target_release, "codename": kn.codename(target_release),
                        "severity": "error", "from": "--target-release",
                        "why": "--target-release {}".format(target_release)})
    targets.extend(targets_from_reports(inputs, kn))

    rows = []
    counts = collections.Counter()
    newest_of_label = {}
    for item in inputs:
        if item.report is None:
            continue
        label, low, upper, exact = _release_of(item.report, kn)
        if label:
            counts[label] += 1
            newest_of_label[label] = (upper[0] if upper else kn.key(low), low, upper)
    majority = None
    if counts:
        label = max(counts, key=lambda lab: (counts[lab], newest_of_label[lab][0]))
        tied = sorted(lab for lab in counts if counts[lab] == counts[label])
        # a tie has no majority: the newest of the tied releases is the reference, and it says so
        majority = {"label": label, "version": newest_of_label[label][1], "hosts": counts[label],
                    "of": sum(counts.values()), "unanimous": len(counts) == 1, "tie": tied if len(tied) > 1 else []}
    census_clients = _census_clients(inputs)
    by_address = collections.defaultdict(list)
    for client in census_clients:
        if client.get("address"):
            by_address[client["address"]].append(client)
    matched = set()
    cap_status = collections.defaultdict(collections.Counter)
    cap_hosts = collections.defaultdict(lambda: collections.defaultdict(list))

    for item in inputs:
        row, used = _host_row(item, kn, majority, targets, by_address)
        matched.update(used)
        rows.append(row)
        for cap_id, status in row.capabilities.items():
            cap_status[cap_id][status] += 1
            cap_hosts[cap_id][status].append(row.name)

    non_uniform = []
    scanned = sum(1 for r in rows if r.status != "failed")
    for cap_id in sorted(cap_status):
        statuses = cap_status[cap_id]
        if len(statuses) > 1 or sum(statuses.values()) < scanned:
            non_uniform.append({"id": cap_id, "counts": dict(statuses),
                                "hosts": {s: sorted(h) for s, h in cap_hosts[cap_id].items()}})
    rows.sort(key=lambda r: (STATUSES.index(r.status), r.name))
    unmatched = [c for c in census_clients if id(c) not in matched]
    status_counts = collections.Counter(r.status for r in rows)
    summary = {"hosts": len(rows), "flagged": sum(1 for r in rows if r.status in FLAGGED),
               "by_status": {s: status_counts[s] for s in STATUSES if status_counts[s]},
               "releases": dict(counts)}
    census = None
    if census_clients or any(((i.report or {}).get("live") or {}).get("census") for i in inputs):
        census = {"clients": len(census_clients), "matched": len(census_clients) - len(unmatched)}
    return Fleet(hosts=tuple(rows), majority=majority, targets=targets, non_uniform=non_uniform,
                 census=census, unmatched_clients=unmatched, summary=summary)


def _host_row(item, kn, majority, targets, by_address):
    flags, reasons, fixes = [], [], []
    used = set()
    cluster_view, seen_clients = [], []
    for address in item.addresses:
        for client in by_address.get(address, ()):
            if id(client) in used:
                continue
            used.add(id(client))
            seen_clients.append(client)
            cluster_view.append(client.get("text") or "{} at {}".format(client.get("entity"), address))
    if item.report is None:
        failure = item.failure or {}
        stderr = (failure.get("stderr") or "").strip().splitlines()
        detail = failure.get("error") or (stderr[-1] if stderr else None) or failure.get("msg") or "no report"
        flags.append("failed")
        reasons.append("could not be scanned (exit {}): {}".format(failure.get("rc"), detail))
        if "not reached" in detail or "ssh" in detail.lower():
            fixes.append("check that the controller reaches {} over ssh, then collect again".format(item.name))
        else:
            fixes.append("run librbd-probe on {} by hand and fix what stops it".format(item.name))
        return FleetHost(name=item.name, status="failed", flags=tuple(flags), reasons=tuple(reasons),
                         fixes=tuple(fixes), release=None, release_label=None, mode=None, capabilities={},
                         features_yes=(), features_no=(), config_features=None, config_unknown=(), problems=(),
                         addresses=tuple(item.addresses), origin=item.origin, error=detail,
                         cluster_view=tuple(cluster_view)), used
    report = item.report
    label, low, upper, exact = _release_of(report, kn)
    caps = {cap_id: (cap or {}).get("status", "unknown") for cap_id, cap in (report.get("capabilities") or {}).items()}
    feats_yes = tuple(c[8:] for c in sorted(caps) if c.startswith("feature.") and caps[c] == "yes")
    feats_no = tuple(c[8:] for c in sorted(caps) if c.startswith("feature.") and caps[c] != "yes")
    conf = report.get("config") or {}
    conf_feats = conf.get("rbd_default_features") or {}
    problems = tuple({"id": p.get("id"), "severity": p.get("severity"), "message": p.get("message"),
                      "fix": p.get("fix")} for p in report.get("problems") or ())
    upgrade_to = None
    if label is None:
        flags.append("unknown")
        reasons.append("release not identified: unknown never passes")
    for target in targets:
        older = None
        if label:
            # at least the target for sure (lower bound), older for sure (upper bound), or cannot tell
            older = False if kn.key(low) >= kn.key(target["version"]) else _older_than(upper, kn.key(target["version"]))
            if older is False and kn.key(low) < kn.key(target["version"]):
                older = None
        if older or (older is None and label and target["severity"] == "error"):
            kind = "below-target" if target["severity"] == "error" else "behind-daemons"
            flags.append(kind)
            reasons.append("client {} is {} {} ({})".format(
                label, "older than" if older else "not known to be at least", kn.label(target["version"]),
                target["why"]))
            if upgrade_to is None or kn.key(target["version"]) > kn.key(upgrade_to):
                upgrade_to = target["version"]
    if majority and label and label != majority["label"]:
        older = _older_than(upper, kn.key(majority["version"]))
        flags.append("stale" if older else "differs")
        if majority["tie"]:
            reasons.append("client {} {} {}, the newest of the releases tied for the majority ({}, {} host{} each)".format(
                label, "is older than" if older else "differs from", majority["label"], ", ".join(majority["tie"]),
                majority["hosts"], "" if majority["hosts"] == 1 else "s"))
        else:
            reasons.append("client {} {} the fleet's majority {} ({} of {} hosts)".format(
                label, "is older than" if older else "differs from", majority["label"], majority["hosts"],
                majority["of"]))
        if older and (upgrade_to is None or kn.key(majority["version"]) > kn.key(upgrade_to)):
            upgrade_to = majority["version"]
    # The cluster's own view: a connected client whose feature bits say an older release than
    # the library scanned here is a process still running an old librados (not restarted after
    # an upgrade, or loading another copy).  Kernel clients ("partial") are not comparable.
    codename = (report.get("release") or {}).get("codename") or ""
    mine = [c for c in codename.split("/") if c in kn.codenames]
    for client in seen_clients:
        decoded = client.get("decoded") or {}
        theirs = decoded.get("release")
        if decoded.get("relation") not in ("exact", "at-least") or theirs not in kn.codenames or not mine:
            continue
        if kn.codenames.index(theirs) < kn.codenames.index(mine[0]):
            flags.append("running-older")
            reasons.append("the cluster sees {} at {} speaking {}, older than the {} scanned here: a running "
                           "process still uses an older client library".format(
                               client.get("entity"), client.get("address"), theirs, label))
            fix = ("restart the processes on {} that connect as {} so they load the library scanned here, or find "
                   "the older copy they load (librbd-probe consumers)".format(item.name, client.get("entity")))
            if fix not in fixes:
                fixes.append(fix)
    errors = [p for p in problems if p["severity"] == "error"]
    if errors:
        flags.append("problems")
        reasons.extend("{}: {}".format(p["id"], p["message"]) for p in errors)
    if upgrade_to:
        fixes.append("upgrade librbd1/librados2 on {} to {} or later".format(item.name, kn.label(upgrade_to)))
    for problem in problems:
        if problem["fix"] and problem["fix"] not in fixes and problem["severity"] in ("error", "warning"):
            fixes.append(problem["fix"])
    status = min(flags, key=STATUSES.index) if flags else "ok"
    return FleetHost(
        name=item.name, status=status, flags=tuple(flags), reasons=tuple(reasons), fixes=tuple(fixes),
        release={"version": (report.get("release") or {}).get("version"), "min": low,
                 "codename": (report.get("release") or {}).get("codename"),
                 "confidence": (report.get("release") or {}).get("confidence")},
        release_label=label, mode=report.get("mode"), capabilities=caps, features_yes=feats_yes,
        features_no=feats_no,
        config_features={"value": conf_feats.get("value"), "names": conf_feats.get("names") or [],
                         "file": conf.get("file"), "client": conf.get("client")} if conf else None,
        config_unknown=tuple(conf_feats.get("unknown_to_library") or ()), problems=problems,
        addresses=tuple(item.addresses), origin=item.origin, error=None, cluster_view=tuple(cluster_view)), used


# --- I/O edge: reading what was collected -------------------------------------------------
_STR = (str, NONE)
_STRS = ([str], NONE)
_ANY = (str, int, float, bool, dict, list, NONE)
#: the fields of a scan report that slim() keeps and aggregate() reads (savedjson.problem)
REPORT_SHAPE = {
    "schema_version": (int, float, str, NONE),
    "mode": _STR,
    "libraries": (dict, NONE),
    "release": ({"version": _STR, "min": _STR, "before": _STR, "codename": _STR, "confidence": _STR}, NONE),
    "capabilities": (Map(({"status": _STR}, NONE)), NONE),
    "problems": ([{"id": _STR, "severity": _STR, "message": _STR, "fix": _STR}], NONE),
    "config": ({"file": _STR, "client": _STR,
                "rbd_default_features": ({"value": (int, str, NONE), "names": _STRS,
                                          "unknown_to_library": _STRS}, NONE)}, NONE),
    "live": ({"cluster": ({"require_min_compat_client": _STR,
                           "versions": ({"overall": (Map(_ANY), NONE)}, NONE)}, NONE),
              "census": ({"clients": ([{"address": _STR, "entity": _STR, "text": _STR,
                                        "decoded": ({"release": _STR, "relation": _STR}, NONE)}], NONE)},
                         NONE)}, NONE),
}
#: a collection failure record (contrib/ansible's <host>.failed.json)
FAILURE_SHAPE = {"host": str, "rc": (int, str, NONE), "stderr": _STR, "msg": _STR, "error": _STR}
#: contrib/ansible's _hosts.json index
INDEX_SHAPE = {"hosts": (Map(({"addresses": ([_ANY], NONE), "ansible_host": _STR, "rc": (int, str, NONE)}, NONE)),
                         NONE)}
#: Ansible's json stdout callback
ANSIBLE_SHAPE = {"plays": ([{"tasks": ([{"task": ({"name": _STR}, NONE),
                                         "hosts": (Map(({"stdout": _STR, "stderr": _STR, "msg": _STR,
                                                         "rc": (int, str, NONE)}, NONE)), NONE)}], NONE)}], NONE)}


def _read_json(path, what):
    """The JSON document of ``path``: UsageError (one line) when it cannot be read or parsed."""
    try:
        return savedjson.read(path, what, error=UsageError)
    except InputError as exc:           # not a regular file, over the size limit, unreadable
        raise UsageError(str(exc)) from exc


def _shaped(doc, shape, source, what):
    """``doc`` when it has ``shape``; else UsageError naming the first field that does not."""
    wrong = savedjson.problem(doc, shape)
    if wrong:
        raise UsageError("{}: {} of the wrong shape: {}".format(safeio.one_line(source), what, wrong))
    return doc


def slim(report):
    """The part of a scan report the fleet uses (keeps memory flat for thousands of hosts)."""
    conf = report.get("config") or {}
    live = report.get("live") or {}
    return {"schema_version": report.get("schema_version"), "libraries": {}, "mode": report.get("mode"),
            "release": report.get("release"),
            "capabilities": {k: {"status": (v or {}).get("status")} for k, v in (report.get("capabilities") or {}).items()},
            "problems": report.get("problems") or [],
            "config": {"file": conf.get("file"), "client": conf.get("client"),
                       "rbd_default_features": conf.get("rbd_default_features")} if conf else None,
            "live": {"cluster": live.get("cluster"), "census": live.get("census")} if live else None}


def _is_report(doc):
    return isinstance(doc, dict) and "schema_version" in doc and "libraries" in doc and "capabilities" in doc


def _report_problem(doc):
    """None for a usable report, else why not (one phrase)."""
    if not _is_report(doc):
        return "not a librbd-probe report"
    wrong = savedjson.problem(doc, REPORT_SHAPE)
    return "a librbd-probe report of the wrong shape: {}".format(wrong) if wrong else None


def _addresses(entry):
    out = []
    for text in (entry or {}).get("addresses") or ():
        out.extend(str(text).split())
    host = (entry or {}).get("ansible_host")
    if host and re.match(r"^[0-9.]+$|^[0-9a-fA-F:]+$", host) and host not in out:
        out.append(host)
    return tuple(out)


def from_ansible_json(doc, origin):
    """Ansible's json stdout callback -> HostInputs of the task named 'librbd-probe scan'."""
    out = []
    _shaped(doc, ANSIBLE_SHAPE, origin, "Ansible json output")
    for play in doc.get("plays") or ():
        for task in play.get("tasks") or ():
            # a role prefixes its tasks' names: "librbd_probe : librbd-probe scan"
            if not ((task.get("task") or {}).get("name") or "").endswith(SCAN_TASK):
                continue
            for host, result in sorted((task.get("hosts") or {}).items()):
                result = result or {}
                report, failure = None, None
                try:
                    parsed = savedjson.loads(result.get("stdout") or "", origin, "stdout of " + host, UsageError)
                    report = slim(parsed) if _report_problem(parsed) is None else None
                except UsageError:
                    report = None
                if report is None:
                    failure = {"rc": result.get("rc"), "stderr": result.get("stderr") or "",
                               "msg": result.get("msg") or ("skipped: the host was not reached"
                                                            if result.get("skipped") else None)}
                out.append(HostInput(name=host, report=report, failure=failure, origin=origin))
    if not out:
        raise UsageError("{}: Ansible output without a task named {!r}".format(origin, SCAN_TASK))
    return out


def _from_directory(path):
    index = {}
    index_path = os.path.join(path, "_hosts.json")
    if os.path.lexists(index_path):
        doc = _shaped(_read_json(index_path, "the host index"), INDEX_SHAPE, index_path, "the host index")
        index = {k: v or {} for k, v in (doc.get("hosts") or {}).items()} if isinstance(doc, dict) else {}
    out = []
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise UsageError("{}: {}".format(safeio.one_line(path), safeio.os_reason(exc, path))) from exc
    for name in names:
        full = os.path.join(path, name)
        # every *.json entry is read, so that one that is not a regular file (a FIFO, a
        # directory) is that host's failure, said, and never opened
        if not name.endswith(".json") or name.startswith("_"):
            continue
        if name.endswith(".failed.json"):
            host = name[:-len(".failed.json")]
            try:
                failure = _shaped(_read_json(full, "failure record"), FAILURE_SHAPE, full, "failure record")
            except UsageError as exc:
                failure = {"error": str(exc)}
            out.append(HostInput(name=host, report=None, failure=failure, addresses=_addresses(index.get(host)),
                                 origin=full))
            continue
        host = name[:-len(".json")]
        try:
            doc = _read_json(full, "report")
        except UsageError as exc:
            # one broken file in a collected directory is that host's failure, not the run's
            out.append(HostInput(name=host, report=None, failure={"error": str(exc)},
                                 addresses=_addresses(index.get(host)), origin=full))
            continue
        why = _report_problem(doc)
        if why:
            out.append(HostInput(name=host, report=None, failure={"error": "{}: {}".format(safeio.one_line(full), why)},
                                 addresses=_addresses(index.get(host)), origin=full))
            continue
        out.append(HostInput(name=host, report=slim(doc), addresses=_addresses(index.get(host)), origin=full))
    seen = {i.name for i in out}
    for host, entry in sorted(index.items()):
        if host not in seen:
            out.append(HostInput(name=host, report=None, addresses=_addresses(entry), origin=index_path,
                                 failure={"rc": entry.get("rc"), "error": "listed in _hosts.json but no report was gathered"}))
    return out


def load_inputs(paths):
    """Report files, collected directories and Ansible json output -> HostInputs (I/O)."""
    if not paths:
        raise UsageError("give report files, a directory of reports, or Ansible's JSON output")
    out = []
    for path in paths:
        name = safeio.one_line(path)
        if "\0" in os.fsdecode(path):
            raise UsageError("{}: a path cannot hold a NUL character".format(name))
        if not os.path.exists(path):
            raise UsageError("{}: does not exist".format(name))
        if os.path.isdir(path):
            found = _from_directory(path)
            if not found:
                raise UsageError("{}: no *.json reports in this directory".format(name))
            out.extend(found)
            continue
        doc = _read_json(path, "report")
        base = os.path.basename(path)
        stem = base[:-5] if base.endswith(".json") else base
        if _is_report(doc):
            why = _report_problem(doc)
            if why:
                raise UsageError("{}: {}".format(name, why))
            out.append(HostInput(name=stem, report=slim(doc), origin=path))
        elif isinstance(doc, dict) and "plays" in doc:
            out.extend(from_ansible_json(doc, path))
        elif isinstance(doc, dict) and doc.get("collect_schema") and "host" in doc:
            out.append(HostInput(name=doc["host"], report=None,
                                 failure=_shaped(doc, FAILURE_SHAPE, path, "collection failure record"), origin=path))
        else:
            raise UsageError("{}: not a librbd-probe report, a collection failure record or Ansible json output"
                             .format(name))
    # a host's name comes from a file name or a document: control characters escaped, so a
    # name cannot break a table row or forge a line of the text output
    out = [i if safeio.one_line(i.name) == i.name else i._replace(name=safeio.one_line(i.name)) for i in out]
    names = collections.Counter(i.name for i in out)
    twice = sorted(n for n, c in names.items() if c > 1)
    if twice:
        raise UsageError("host {} given more than once ({})".format(
            safeio.one_line(twice[0]), ", ".join(safeio.one_line(i.origin) for i in out if i.name == twice[0])))
    return out
