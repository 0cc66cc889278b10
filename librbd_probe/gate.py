"""Build gates on a scan: required capabilities, a baseline report, a policy file.

Pure: snapshots (``snapshot.py``) and policy text in, one line per failure out.  Unknown
never passes: a capability that is ``unknown``, a release that was not identified or a
function list that could not be read is a failure, never a pass.

Policy file format (one directive per line; ``#`` starts a comment; words separated by
spaces or commas; every directive may repeat)::

    require      create.options clone.features   # capability ids that must be yes
    features     layering exclusive-lock 61      # feature rows that must be yes (names or a mask)
    min-release  16.2.0                          # identified release must be >= this upstream version
    allow        shadowed-copy.* explicit-choice.*   # problem ids (shell globs) that never fail
    fail-on      warning                         # lowest problem severity that fails: error (default),
                                                 #  warning, info, or none
"""
from .errors import KnowledgeBaseError, ProbeError, RequirementError, UsageError  # noqa: F401 (re-exported)

SEVERITIES = ("info", "warning", "error")
DIRECTIVES = ("require", "features", "min-release", "allow", "fail-on")


def _kn():
    # imported on first use: importing the package (or its pytest plugin) must stay free of
    # the knowledge base
    from . import _kn as adapter
    return adapter


def unmet(capabilities, required):
    """[(id, status, reason)] for each required id that is not ``yes`` (absent: unknown).

    ``capabilities`` maps id -> {"status", "reason"} (a snapshot's, or a report's to_dict()).
    """
    out = []
    for cap_id in required:
        cap = capabilities.get(cap_id)
        if cap is None:
            out.append((cap_id, "unknown", "not reported by this scan"))
        elif cap.get("status") != "yes":
            out.append((cap_id, cap.get("status") or "unknown", cap.get("reason") or ""))
    return out


def check_known(required):
    """UsageError naming every id that is neither a capability nor a feature row."""
    known = set(_kn().capability_ids())
    bad = [r for r in required if r not in known]
    if bad:
        raise UsageError("unknown capability {} (known: {})".format(", ".join(bad), ", ".join(sorted(known))))


def baseline_regressions(baseline, current):
    """One line per regression of ``current`` against ``baseline`` (both snapshots): a
    capability that was yes and is now no/unknown/absent, an exported function that
    disappeared, or a function list that cannot be compared."""
    lines = []
    base_caps, caps = baseline.get("capabilities") or {}, current.get("capabilities") or {}
    for cap_id in sorted(base_caps):
        if base_caps[cap_id].get("status") != "yes":
            continue
        now = caps.get(cap_id)
        status = now.get("status") if now else "absent"
        if status != "yes":
            lines.append("regression: {} was yes in the baseline, now {}{}".format(
                cap_id, status, ": " + now["reason"] if now and now.get("reason") else ""))
    for name in sorted(baseline.get("libraries") or {}):
        old = baseline["libraries"][name]
        new = (current.get("libraries") or {}).get(name) or {}
        if not old.get("found"):
            continue
        if not new.get("found"):
            lines.append("regression: {} was found in the baseline, now missing".format(name))
            continue
        if old.get("functions") is None or new.get("functions") is None:
            side = "baseline" if old.get("functions") is None else "current"
            lines.append("regression: {} functions of the {} unknown ({}): cannot show none disappeared".format(
                name, side, (old if side == "baseline" else new).get("functions_from") or "not read"))
            continue
        for key in sorted(set(old["functions"]) - set(new["functions"])):
            lines.append("regression: {} function {} disappeared".format(name, key))
    return lines


def _usage(message):
    """UsageError with every control character of a policy line's tokens escaped (one line)."""
    from .safeio import one_line
    return UsageError(one_line(message))


def parse_policy(text, source):
    """Policy text -> dict; UsageError ``source:line: reason`` for anything not understood."""
    policy = {"require": [], "features": [], "min_release": None, "allow": [], "fail_on": "error",
              "source": source}
    known_caps = set(_kn().capability_ids())
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].replace(",", " ").split()
        if not line:
            continue
        where = "{}:{}".format(source, number)
        directive, args = line[0].lower(), line[1:]
        if directive not in DIRECTIVES:
            raise _usage("{}: unknown directive {!r} (known: {})".format(where, line[0], ", ".join(DIRECTIVES)))
        if not args:
            raise _usage("{}: {} needs a value".format(where, directive))
        if directive == "require":
            bad = [a for a in args if a not in known_caps]
            if bad:
                raise _usage("{}: unknown capability {}".format(where, ", ".join(bad)))
            policy["require"].extend(a for a in args if a not in policy["require"])
        elif directive == "features":
            for token in args:
                try:
                    names = _kn().feature_names(token)
                except KnowledgeBaseError as exc:
                    raise _usage("{}: {}".format(where, exc)) from exc
                policy["features"].extend(n for n in names if n not in policy["features"])
        elif directive == "min-release":
            if len(args) != 1 or not all(part.isdigit() for part in args[0].split(".")) \
                    or _kn().version_key(args[0]) == (-1,):      # e.g. 5,000 digits: no version
                raise _usage("{}: min-release takes one upstream version such as 16.2.0".format(where))
            policy["min_release"] = args[0]
        elif directive == "allow":
            policy["allow"].extend(args)
        else:
            if len(args) != 1 or args[0] not in SEVERITIES + ("none",):
                raise _usage("{}: fail-on takes one of {}".format(where, ", ".join(SEVERITIES + ("none",))))
            policy["fail_on"] = args[0]
    return policy


def _release_failure(release, minimum):
    release = release or {}
    version, low = release.get("version"), release.get("min")
    if version:
        if _kn().version_key(version) >= _kn().version_key(minimum):
            return None
        return "release {} is older than min-release {}".format(version, minimum)
    if low:
        if _kn().version_key(low) >= _kn().version_key(minimum):
            return None
        if release.get("before") and _kn().version_key(release["before"]) <= _kn().version_key(minimum):
            return "release {} .. before {} is older than min-release {}".format(low, release["before"], minimum)
        return "release is only known as {}{}: cannot show it is at least {}".format(
            low, " .. before " + release["before"] if release.get("before") else " or later", minimum)
    return "release not identified (unknown never passes min-release {})".format(minimum)


def check_policy(policy, snapshot):
    """One line per policy failure for a snapshot (empty: the policy holds)."""
    lines = []
    caps = snapshot.get("capabilities") or {}
    wanted = list(policy["require"]) + ["feature." + n for n in policy["features"]
                                        if "feature." + n not in policy["require"]]
    for cap_id, status, reason in unmet(caps, wanted):
        lines.append("policy: {} is {}{}".format(cap_id, status, ": " + reason if reason else ""))
    if policy.get("min_release"):
        failure = _release_failure(snapshot.get("release"), policy["min_release"])
        if failure:
            lines.append("policy: " + failure)
    if policy["fail_on"] != "none":
        import fnmatch                  # here: importing the package (and its pytest plugin) stays light
        floor = SEVERITIES.index(policy["fail_on"])
        for problem in snapshot.get("problems") or []:
            severity = problem.get("severity")
            rank = SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
            if rank < floor or any(fnmatch.fnmatchcase(problem.get("id") or "", pat) for pat in policy["allow"]):
                continue
            lines.append("policy: problem {} ({}): {}".format(problem.get("id"), severity, problem.get("message")))
    return lines
