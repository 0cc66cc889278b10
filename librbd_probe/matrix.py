"""Evidence x knowledge layer -> capability matrix, built in one pass (pure: no I/O).

A capability is ``yes`` only when the library itself exports every function of one of its
alternatives (static symbol table), and, when the runtime probe ran, the loader resolved each
of them to that same file.  Capabilities that also depend on the release (``release_policy``
in capabilities.json, e.g. format-1 creation) and the feature rows follow the identified
release's facts and the per-release effects of the knowledge layer.  Anything that cannot be
decided is ``unknown``, never ``yes``.
"""
import errno
import os

from . import knowledge as kn
from .model import Capability, Problem, Record


class Evidence(
        metaclass=Record,
        fields="librbd_found librbd_name librbd_realpath librbd_symbols librbd_needed "
        "runtime unreadable_reason unusable_reason",
        defaults=(None, None)):
    """What the lower layers observed, in the shape the matrix needs."""
    # Fields (immutable):
    #   librbd_found: bool
    #   librbd_name: str  # file name, for sentences
    #   librbd_realpath: Optional[str]
    #   librbd_symbols: Optional[FrozenSet[str]]  # defined functions; None when unreadable
    #   librbd_needed: Tuple[str, ...]
    #   runtime: RuntimeReport  # .loaded, .symbols {name: {found, owner}}, .features_check {mask: {rc}}
    #   unreadable_reason: Optional[str] = None
    #   unusable_reason: Optional[str] = None  # identify.unusable_reason(): an ELF file, not a library
    __slots__ = ()


_NO_RELEASE = "release not identified"


class _Release(object):
    """The facts and the versions (for per-release effects) of whatever ``release`` is."""
    __slots__ = ("facts", "versions")

    def __init__(self, release):
        self.facts, self.versions = {}, ()
        if release is None:
            return
        facts = getattr(release, "facts", None)
        if facts is None and hasattr(release, "items"):
            facts = release
        for key, value in (facts or {}).items():
            if isinstance(value, kn.Fact):
                self.facts[key] = (value.value, value.source if value.unverified is None else value.unverified)
            elif isinstance(value, tuple) and len(value) == 2:
                self.facts[key] = value
            elif hasattr(value, "get"):
                self.facts[key] = (value.get("value"), value.get("source"))
        version = getattr(release, "version", None)
        candidates = getattr(release, "candidates", None)
        if getattr(release, "versions", None):
            self.versions = tuple(release.versions)
        elif version:
            self.versions = (version,)
        elif candidates:
            self.versions = tuple(candidates)

    def fact(self, key):
        return self.facts.get(key, (None, _NO_RELEASE))


def build(evidence, release=None, environ=None, definitions=None, feature_defs=None):
    """Every row of the capability matrix -> (capabilities tuple, problems tuple).

    ``release``: the identify.Identification (its facts and the versions it spans), or a
    mapping of facts (knowledge.Fact or (value, source)); None when not identified.
    ``environ``: the environment the client runs with (RBD_FORCE_ALLOW_V1).
    ``definitions``/``feature_defs``: knowledge records (default: the knowledge layer's).
    """
    rel = _Release(release)
    environ = {} if environ is None else environ
    definitions = kn.capabilities() if definitions is None else definitions
    feature_defs = kn.features() if feature_defs is None else feature_defs
    rows, problems = [], []
    for cap in definitions:
        row, problem = _row(cap, evidence, rel, environ)
        rows.append(row)
        if problem:
            problems.append(problem)
    feature_caps, feature_problems = _feature_rows(evidence, rel, feature_defs)
    rows.extend(feature_caps)
    problems.extend(feature_problems)
    return tuple(rows), tuple(problems)


def _missing(alternative, symbols):
    return [name for name in alternative if name not in symbols]


def _runtime_view(names, evidence):
    """(agrees, evidence lines, disagreement) for ``names`` from the runtime probe."""
    runtime = evidence.runtime
    if runtime is None or not runtime.loaded:
        return True, (), None
    lines = []
    for name in names:
        seen = (runtime.symbols or {}).get(name)
        if seen is None:
            continue
        if not seen.get("found"):
            return False, (), "dlsym did not find {} although the file exports it".format(name)
        owner = seen.get("owner")
        if evidence.librbd_realpath and owner and owner != evidence.librbd_realpath:
            return False, (), "{} resolves to {} at run time, not to the chosen librbd".format(name, owner)
        lines.append("runtime: dlsym+dladdr {} -> {}".format(name, os.path.basename(owner or "?")))
    return True, tuple(lines), None


def _no_librbd(evidence):
    """The reason every row is unknown, or None when librbd was found and read."""
    if not evidence.librbd_found:
        return "no librbd found on this host"
    if evidence.unusable_reason:
        return "{} is not a usable shared library: {}".format(evidence.librbd_name, evidence.unusable_reason)
    if evidence.librbd_symbols is None:
        return "librbd could not be read: {}".format(evidence.unreadable_reason or "unknown error")
    return None


def _row(cap, evidence, rel, environ):
    binding = cap.binding
    unknown = _no_librbd(evidence)
    if unknown:
        return Capability(cap.id, "unknown", unknown, (), binding), None
    symbols = evidence.librbd_symbols
    name = evidence.librbd_name
    satisfied = [alt for alt in cap.requires if not _missing(alt, symbols)]
    if not satisfied:
        closest = min(cap.requires, key=lambda alt: len(_missing(alt, symbols)))
        missing = _missing(closest, symbols)
        reason = "{} does not export {}".format(name, ", ".join(missing))
        evidence_lines = tuple("static: {} lacks {}".format(name, m) for m in missing)
        return Capability(cap.id, "no", reason, evidence_lines, binding), None
    alternative = satisfied[0]
    lines = ["static: {} exports {}".format(name, ", ".join(alternative))]
    needs = cap.needs_library
    if needs:
        linked = [n for n in evidence.librbd_needed if n.startswith(needs)]
        if not linked:
            reason = "{} exports {} but is not linked with {}*".format(name, alternative[0], needs)
            return Capability(cap.id, "no", reason, tuple(lines), binding), None
        lines.append("static: DT_NEEDED {}".format(linked[0]))
    agrees, runtime_lines, disagreement = _runtime_view(alternative, evidence)
    if not agrees:
        problem = Problem("runtime-disagrees." + cap.id, "warning",
                          "{}: {}".format(cap.id, disagreement),
                          "check LD_PRELOAD and which librbd the process really loads",
                          tuple(lines))
        return Capability(cap.id, "unknown", disagreement, tuple(lines), binding), problem
    reason = "{} exports {}".format(name, " + ".join(alternative))
    row = Capability(cap.id, "yes", reason, tuple(lines) + runtime_lines, binding)
    if cap.release_policy:
        row = _policy(row, cap.release_policy, rel, environ)
    return row, None


def _policy(row, key, rel, environ):
    """A 'yes' on symbols that the release's policy fact (format1_create) can still turn."""
    policy, source = rel.fact(key)
    if policy is None:
        return row._replace(status="unknown", reason="{}, but whether this release still allows it is not known "
                            "({})".format(row.reason, source),
                            evidence=row.evidence + ("release policy {}: {}".format(key, source),))
    if policy == "allowed":
        return row._replace(reason=row.reason + "; allowed in this release",
                            evidence=row.evidence + ("release policy {}: allowed, {}".format(key, source),))
    variable = policy[len("refused-unless-"):] if policy.startswith("refused-unless-") else None
    forced = bool(variable) and variable in environ
    reason = ("this release refuses it with -EINVAL (\"Format 1 image creation unsupported\")"
              + (" unless {} is set in the client's environment".format(variable) if variable else "")
              + (" (it is set in this environment)" if forced else ""))
    return row._replace(status="no", reason=reason,
                        evidence=row.evidence + ("release policy {}: {}, {}".format(key, policy, source),))


def known_symbol_names(definitions=None):
    """Every function any capability mentions (what the runtime probe looks up)."""
    definitions = kn.capabilities() if definitions is None else definitions
    names = set()
    for cap in definitions:
        for alt in cap.requires:
            names.update(alt)
    return frozenset(names)


def _effect_text(feature, situation, rel):
    """(effect, short text, evidence lines) for the identified release; text says unknown when no
    range read covers it."""
    effect = kn.feature_effect(feature.name, situation, rel.versions) if rel.versions else None
    if effect is None:
        where = ", ".join(rel.versions) if rel.versions else "an unidentified release"
        return None, "unknown for {}".format(where), (
            "knowledge base: {} {}: no source read covers {}".format(feature.name, situation, where),)
    span = effect.min if effect.min == effect.max else "{}..{}".format(effect.min, effect.max)
    return effect, "{} ({})".format(effect.summary, span), (
        "knowledge base: {} {}: {} in {}: {}".format(feature.name, situation, effect.effect, span, effect.source),)


def _feature_rows(evidence, rel, feature_defs):
    """Rows ``feature.<name>``: can this library create an image with the bit?

    The knowledge layer gives RBD_FEATURES_ALL of the identified release; on octopus and later
    the child also asked the library itself (rbd_features_to_string returns -EINVAL for a bit
    it does not know).  When both speak and disagree, the library's own answer wins and the
    disagreement is a problem.
    """
    all_mask, all_source = rel.fact("rbd_features_all")
    unknown = _no_librbd(evidence)
    check = (evidence.runtime.features_check if evidence.runtime is not None else None) or {}
    rows, problems = [], []
    for feature in feature_defs:
        mask, name = feature.mask, feature.name
        row_id = "feature." + name
        if unknown:
            rows.append(Capability(row_id, "unknown", unknown, ()))
            continue
        lines = []
        kb_known = None if all_mask is None else bool(all_mask & mask)
        if kb_known is not None:
            lines.append("knowledge base: RBD_FEATURES_ALL 0x{:x} from {}".format(all_mask, all_source))
        answer = check.get(str(mask))
        lib_known = None
        if answer is not None:
            lib_known = answer.get("rc") != -errno.EINVAL
            lines.append("runtime: rbd_features_to_string(0x{:x}) = {}".format(mask, answer.get("rc")))
        if kb_known is not None and lib_known is not None and kb_known != lib_known:
            problems.append(Problem(
                "feature-disagrees." + name, "warning",
                "the knowledge base says this release {} {} but the library itself says it {}".format(
                    "knows" if kb_known else "does not know", name, "does" if lib_known else "does not"),
                "a patched build: trust the library's answer", tuple(lines)))
        known = lib_known if lib_known is not None else kb_known
        if known is None:
            reason = "cannot tell which features this librbd knows ({})".format(all_source)
            rows.append(Capability(row_id, "unknown", reason, tuple(lines)))
        elif not known:
            reason = ("this librbd does not know {} (bit {}): any create asking for it fails "
                      "with -ENOSYS".format(name, feature.bit))
            rows.append(Capability(row_id, "no", reason, tuple(lines)))
        elif feature.create_via:
            effect, text, more = _effect_text(feature, "at-create", rel)
            rows.append(Capability(row_id, "yes", "set by librbd for {}; the bit asked for itself: {}".format(
                feature.create_via, text), tuple(lines) + more + ("knowledge base: " + feature.create_via_source,)))
        elif feature.internal or feature.dropped_at_create:
            effect, text, more = _effect_text(feature, "at-create", rel)
            status = "unknown" if effect is None else "yes" if effect.effect == "kept" else "no"
            rows.append(Capability(row_id, status, "internal: librbd manages it; asked for at create: " + text,
                                   tuple(lines) + more))
        else:
            reason = "this librbd can create images with {}".format(name)
            more = ()
            if feature.requires:
                effect, text, extra = _effect_text(feature, "alone", rel)
                reason += "; needs {} too, asked without: {}".format(" and ".join(feature.requires), text)
                more += extra
            if any(e.situation == "no-stripe-settings" for e in feature.effects):
                effect, text, extra = _effect_text(feature, "no-stripe-settings", rel)
                reason += "; without stripe unit/count: " + text
                more += extra
            rows.append(Capability(row_id, "yes", reason, tuple(lines) + more))
    return tuple(rows), tuple(problems)
