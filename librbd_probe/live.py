"""Live mode: ask a real cluster, and try every create path for real on scratch images.

Only with an explicit ``--live``.  Planning (which trials, what each should give) and judging
(what the image really got) are pure; ``run_live`` starts one live child
(``children/_live_child.py``, through ``children.run``) per trial so each is bounded in time
and independent, and removes scratch images on success, error, SIGINT and SIGTERM.  It only
ever touches images named ``librbd-probe-<time>-<host>-<pid>-<rand>-<n>``.  Errors come back
as the one error-record shape of ``librbd_probe.children``.
"""
import errno
import hashlib
import os
import signal
import socket
import time
import uuid

from . import knowledge as kn
from . import safeio
from .children import describe_rc, errno_name
from .errors import ProbeError
from .model import Problem, Record, line_text, to_plain

PREFIX = "librbd-probe-"
_SIZE = 1 << 22                      # one 4 MiB object: cheap to create and remove


class LiveOptions(
        metaclass=Record,
        fields="conf client_id client_name keyring pool namespace data_pool dry_run "
        "timeout trial_timeout stale_after",
        defaults=(None, None, None, None, "rbd", None, None, False, 30.0, 30.0, 3600.0)):
    """What the operator asked for (CLI options of live mode)."""
    __slots__ = ()


def host_tag():
    """Eight hex digits naming this host inside scratch image names."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _value(facts, key):
    """The value of one release fact (a knowledge.Fact or a (value, source) pair), or None."""
    fact = (facts or {}).get(key)
    if fact is None:
        return None
    return fact.value if hasattr(fact, "value") else fact[0]


# knowledge Effect.effect -> a trial's expectation; anything else (e.g. "removed-rc0") or no
# recorded effect for the release: no expectation (unknown never passes as expected).
_EXPECT = {"EINVAL": "EINVAL", "dropped": "dropped", "kept": "created"}


def _versions(release):
    """The versions an identification spans (its exact version, else its candidates)."""
    if release is None:
        return ()
    if getattr(release, "version", None):
        return (release.version,)
    return tuple(getattr(release, "candidates", None) or ())


def expectation(feature, situation, versions):
    """What a create asking for ``feature`` in ``situation`` should give on ``versions``
    ("EINVAL", "dropped", "created"), from the knowledge layer's per-release effects; None
    when no verified effect covers every version."""
    answers = set()
    for version in versions:
        effect = kn.feature_effect(feature.name, situation, version)
        if effect is None or not effect.verified:
            return None
        answers.add(_EXPECT.get(effect.effect))
    return answers.pop() if len(answers) == 1 else None


def plan(symbols, release, options, features=None):
    """The trials for a library exporting ``symbols`` (pure).

    ``release`` is the report's Identification (facts and the versions it spans; None when
    unidentified); ``features`` the knowledge layer's Feature records (default: all).  Each
    trial: id, path, requested format/features/stripe, and ``expect`` (what the knowledge
    base says should happen for that release, or None).
    """
    features = kn.features() if features is None else features
    facts = getattr(release, "facts", None) or {}
    versions = _versions(release)
    trials = []
    format1 = _value(facts, "format1_create")
    by_name = {f.name: f for f in features}
    known = _value(facts, "rbd_features_all")

    def add(trial_id, path, **kw):
        if path in symbols:
            trials.append(dict(id=trial_id, path=path, **kw))

    refused = format1 is not None and format1.startswith("refused")
    add("create.default", "rbd_create", expect=None,
        note="rbd_create makes the format rbd_default_format says (format 1 only before 0.56.7/0.61.3)")
    if "rbd_create4" in symbols:
        add("create.format1", "rbd_create4", format=1, expect="EINVAL" if refused else "created" if format1 else None)
        add("create.format1.forced", "rbd_create4", format=1, force_v1=True, expect="created" if format1 else None)
    add("create.format2", "rbd_create2", features=1, expect="created")
    add("create.striping", "rbd_create3", features=1 | 2, stripe_unit=1 << 16, stripe_count=16, expect="created")
    add("create.options", "rbd_create4", format=2, features=1, expect="created")
    if options.data_pool:
        add("create.data-pool", "rbd_create4", format=2, features=1, data_pool=options.data_pool, expect="created")
    path = "rbd_create4" if "rbd_create4" in symbols else "rbd_create2"
    for feature in features:
        mask = feature.mask
        if known is not None and not known & mask:
            continue
        deps = 0
        for needed in feature.requires:
            deps |= by_name[needed].mask
            for deeper in by_name[needed].requires:
                deps |= by_name[deeper].mask
        base = dict(format=2) if path == "rbd_create4" else {}
        if feature.dropped_at_create:
            add("feature." + feature.name, path, features=1 | mask,
                expect=expectation(feature, "at-create", versions), **base)
            continue
        if any(e.situation == "no-stripe-settings" for e in feature.effects):
            expect = expectation(feature, "no-stripe-settings", versions)
        else:
            expect = "created"
        add("feature." + feature.name, path, features=mask | deps, expect=expect, **base)
        if deps:
            add("feature.{}.alone".format(feature.name), path, features=mask,
                expect=expectation(feature, "alone", versions), **base)
    return trials


def judge(trial, answer, error=None):
    """Classify one trial: what was asked, what the image got, as expected or not (pure).

    ``answer``/``error`` are what ``children.run("live", ...)`` returned for the trial.
    """
    out = {k: trial[k] for k in ("id", "path", "expect") if k in trial}
    out["requested"] = {k: trial[k] for k in ("format", "features", "stripe_unit", "stripe_count", "data_pool",
                                               "force_v1") if trial.get(k) is not None}
    if error is not None:
        out.update(result="timeout" if error.get("kind") == "timeout" else "error", rc=error.get("rc"),
                   note=error.get("message"), as_expected=False)
        return out
    answer = answer or {}
    rc = answer.get("rc")
    out["rc"] = rc
    out["errno"] = errno_name(rc)
    out["decoded"] = describe_rc(rc)
    if rc != 0:
        out["result"] = "refused"
        out["as_expected"] = trial.get("expect") == errno_name(rc) if trial.get("expect") else None
        return out
    got = answer.get("got") or {}
    out["got"] = got
    asked = trial.get("features")
    dropped, added = [], []
    if asked is not None and "features" in got:
        dropped = _bits(asked & ~got["features"])
        added = _bits(got["features"] & ~asked)
    out["dropped_bits"], out["added_bits"] = dropped, added
    differs = bool(dropped) or bool(trial.get("format") and "format" in got and got["format"] != trial["format"])
    out["result"] = "created-different" if differs else "created"
    expect = trial.get("expect")
    if expect == "dropped":
        out["as_expected"] = bool(dropped)
    elif expect:
        # "created" means created as asked: a dropped bit or another format is a surprise
        out["as_expected"] = expect == "created" and not differs
    else:
        out["as_expected"] = None
    if answer.get("remove_rc"):
        out["remove_rc"] = answer["remove_rc"]
    return out


def _bits(mask):
    return [bit for bit in range(64) if mask & (1 << bit)]


# (stage, errno) -> what to tell the operator; {rc} renders as "-13 EACCES".
CONNECT_ERRORS = {
    ("connect", errno.EACCES): "permission denied ({rc}): wrong key or missing caps for {who}; "
                               "check --keyring and --id/--name",
    ("connect", errno.ETIMEDOUT): "no monitor answered within {timeout:g} s ({rc}): check 'mon host' in {conf}",
    ("connect", errno.ENOENT): "no usable configuration or keyring ({rc}) for {who}: check --conf and --keyring",
    ("pool", errno.ENOENT): "pool {pool} does not exist ({rc}): give an existing pool with --pool",
    ("pool", errno.EACCES): "no access to pool {pool} ({rc}): the key's caps do not cover it",
    ("conf", errno.ENOENT): "cannot read the configuration {conf} ({rc})",
}


def connection_message(error, options):
    """One line for a failed connection step (an error record of the live child; pure)."""
    rc = error.get("rc")
    who = options.client_name or "client.{}".format(options.client_id or "admin")
    template = CONNECT_ERRORS.get((error.get("stage"), -rc if isinstance(rc, int) else None))
    if template:
        text = template.format(who=who, timeout=options.timeout, conf=options.conf or "the default ceph.conf",
                               pool=options.pool, rc="{} {}".format(rc, errno_name(rc)))
    elif error.get("stage") is None:
        text = error.get("message") or "the live child failed"
    else:
        text = "{} failed: {}".format(error.get("stage"), error.get("message") or describe_rc(rc))
    return line_text(text)          # a path or the library's words: one line for an embedder's log too


def _request(librbd, librados, options, **extra):
    req = {"librbd": librbd, "librados": librados, "conf": options.conf, "client_id": options.client_id,
           "client_name": options.client_name, "keyring": options.keyring, "pool": options.pool,
           "namespace": options.namespace, "connect_timeout": options.timeout}
    req.update(extra)
    return req


def keyring_refusal(fifos):
    """The one line for keyrings or keyfiles that are FIFOs (config.file_fifos: librados 16.2.15
    blocks on them, in rados_conf_read_file or rados_connect)."""
    more = " (and {} more)".format(len(fifos) - 1) if len(fifos) > 1 else ""
    return ("keyring or keyfile {}{}: is a FIFO (named pipe), not a regular file: librados would "
            "block opening it, so live mode does not connect".format(safeio.one_line(fifos[0]), more))


def conf_refusal(conf):
    """Why ``conf`` is not handed to the live child's rados_conf_read_file, or None: only a
    regular file within its limit is (a FIFO would block the client; a device, directory or
    socket is refused as the scan refuses it), and the null device, an empty configuration
    as librados reads it (config.choose_conf)."""
    if not conf or safeio.is_null_device(conf):
        return None
    try:
        info = safeio.check_regular(conf, "ceph.conf")
    except ProbeError as exc:
        return "{}: not handed to librados".format(exc)
    if info.st_size > safeio.LIMITS["ceph.conf"]:
        return "ceph.conf {}: {} bytes, over the limit of {}: not handed to librados".format(
            safeio.one_line(conf), info.st_size, safeio.human_size(safeio.LIMITS["ceph.conf"]))
    return None


def run_live(librbd, librados, symbols, release, options, python=None, features=None, keyring_fifos=()):
    """Connect, read cluster facts, run the trials, clean up.  Returns the JSON 'live' section.

    ``keyring_fifos``: keyrings or keyfiles the configuration names that are FIFOs (the
    configuration section's ``keyring_fifos``): librados would block on them, so nothing
    connects."""
    from . import children
    started = int(time.time())
    run_prefix = "{}{}-{}-{}-{}-".format(PREFIX, started, host_tag(), os.getpid(), uuid.uuid4().hex[:8])
    trials = plan(symbols, release, options, features)
    section = {"pool": options.pool, "namespace": options.namespace, "run_prefix": run_prefix,
               "connected": False, "error": None, "cluster": None, "trials": [], "cleanup": None,
               "plan": [dict(t, name=run_prefix + str(i)) for i, t in enumerate(trials)]}
    if options.dry_run:
        section["dry_run"] = True
        return section
    refused = conf_refusal(options.conf)
    if refused:
        section["error"] = {"stage": "conf", "rc": None, "message": refused}
        return section
    if keyring_fifos:
        section["error"] = {"stage": "keyring", "rc": None, "message": keyring_refusal(keyring_fifos)}
        return section
    answer, error = children.run("live", _request(librbd, librados, options, action="facts"),
                                 timeout=options.timeout + 15, python=python)
    if error:
        section["error"] = dict(error, message=connection_message(error, options))
        return section
    section["connected"] = True
    section["cluster"] = answer.get("facts")
    cleanup = {"host": host_tag(), "parent_pid": os.getpid(), "stale_before": started - options.stale_after}
    previous = _install_handlers()
    try:
        first = _cleanup(librbd, librados, options, python, dict(cleanup))
        section["cleanup"] = {"before": first}
        if first.get("error"):
            section["error"] = dict(first["error"], message=connection_message(first["error"], options))
            return section
        for index, trial in enumerate(trials):
            trial = dict(trial, name=run_prefix + str(index), size=_SIZE)
            # On SIGINT/SIGTERM the trial child is allowed to finish (it removes its own image;
            # killing it with the image open would leave a watch that blocks removal for 30 s).
            answer, error = children.run("live", _request(librbd, librados, options, action="trial", trial=trial),
                                         timeout=options.trial_timeout, python=python,
                                         grace_on_interrupt=options.trial_timeout)
            section["trials"].append(judge(trial, answer, error))
    finally:
        # Whatever happened (an error, SIGINT, SIGTERM), this run's images go.
        section["cleanup"] = dict(section.get("cleanup") or {}, after=_cleanup(
            librbd, librados, options, python, dict(cleanup, run_prefix=run_prefix)))
        _restore_handlers(previous)
    return section


def _cleanup(librbd, librados, options, python, rules):
    from . import children
    answer, error = children.run("live", _request(librbd, librados, options, action="cleanup", **rules),
                                 timeout=options.timeout + 60, python=python)
    out = {k: answer.get(k) for k in ("removed", "failed", "scratch") if answer and answer.get(k) is not None}
    if error:
        out["error"] = error
    return out


class Interrupted(Exception):
    """SIGINT or SIGTERM during live trials (after cleanup the CLI exits 130/143)."""

    def __init__(self, signum):
        Exception.__init__(self, signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum, _frame):
    raise Interrupted(signum)


def _install_handlers():
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, _raise_interrupted)
        except ValueError:            # not the main thread: the caller handles signals
            pass
    return previous


def _restore_handlers(previous):
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def codename_order(releases=None):
    """Release codenames oldest first (from the knowledge layer's releases, sorted by version)."""
    order = []
    for rel in kn.releases() if releases is None else releases:
        if rel.codename and rel.codename not in order:
            order.append(rel.codename)
    return order


def _outcome(trial):
    """What a judged trial gave, in words: "-22 (EINVAL: Invalid argument)", "created without
    bits 4", "created", "timeout"."""
    result = trial.get("result")
    if result == "refused":
        return trial.get("decoded") or result
    if result == "created-different":
        parts = []
        if trial.get("dropped_bits"):
            parts.append("without bits " + ", ".join(str(b) for b in trial["dropped_bits"]))
        got_format = (trial.get("got") or {}).get("format")
        if got_format is not None and got_format != (trial.get("requested") or {}).get("format", got_format):
            parts.append("as format {}".format(got_format))
        return "created " + " and ".join(parts) if parts else result
    return result or "no answer"


def live_problems(section, release, releases=None):
    """Compare cluster facts with the client; connection errors and surprises (pure).

    ``release`` is the report's Identification (or its dict shape); ``releases`` the
    knowledge layer's Release records (default: all).
    """
    problems = []
    if section.get("error"):
        problems.append(Problem("live.connect", "error", section["error"].get("message", "?")))
        return problems
    cluster = section.get("cluster") or {}
    need = cluster.get("require_min_compat_client")
    order = codename_order(releases)
    client = (to_plain(release) or {}).get("codename") or ""
    client_names = [c for c in client.split("/") if c in order]
    if need in order and client_names:
        if order.index(client_names[-1]) < order.index(need):
            problems.append(Problem(
                "live.min-compat-client", "error",
                "the cluster requires clients of at least {} (require_min_compat_client) but this client is {}".format(
                    need, client),
                "upgrade librbd1/librados2 on this host to {} or later".format(need)))
    for trial in section.get("trials", []):
        if trial.get("as_expected") is False:
            problems.append(Problem(
                "live.unexpected." + trial["id"], "warning",
                "{} via {}: expected {}, the cluster gave {}".format(
                    trial["id"], trial["path"], trial.get("expect"), _outcome(trial)),
                None))
    return problems
