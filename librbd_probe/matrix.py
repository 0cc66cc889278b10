"""Evidence x knowledge base -> capability matrix (pure: no I/O).

A capability is ``yes`` only when the library itself exports every function of one of its
alternatives (static symbol table), and, when the runtime probe ran, the loader resolved each
of them to that same file.  Anything that cannot be decided is ``unknown``, never ``yes``.
"""
import os

from . import kb
from .model import Capability, Problem, record


class Evidence(record(
        "Evidence",
        "librbd_found librbd_name librbd_realpath librbd_symbols librbd_needed "
        "runtime unreadable_reason",
        (None,))):
    """What the lower layers observed, in the shape the matrix needs."""
    # Fields (immutable):
    #   librbd_found: bool
    #   librbd_name: str  # file name, for sentences
    #   librbd_realpath: Optional[str]
    #   librbd_symbols: Optional[FrozenSet[str]]  # defined functions; None when unreadable
    #   librbd_needed: Tuple[str, ...]
    #   runtime: RuntimeReport
    #   unreadable_reason: Optional[str] = None
    __slots__ = ()


def _missing(alternative, symbols):
    return [name for name in alternative if name not in symbols]


def _runtime_view(names, evidence):
    """(agrees, evidence lines, disagreement) for ``names`` from the runtime probe."""
    runtime = evidence.runtime
    if not runtime.loaded:
        return True, (), None
    lines = []
    for name in names:
        seen = runtime.symbols.get(name)
        if seen is None:
            continue
        if not seen.get("found"):
            return False, (), "dlsym did not find {} although the file exports it".format(name)
        owner = seen.get("owner")
        if evidence.librbd_realpath and owner and owner != evidence.librbd_realpath:
            return False, (), "{} resolves to {} at run time, not to the chosen librbd".format(name, owner)
        lines.append("runtime: dlsym+dladdr {} -> {}".format(name, os.path.basename(owner or "?")))
    return True, tuple(lines), None


def capability_rows(evidence, definitions=None):
    """Return (capabilities, problems) for the evidence."""
    definitions = kb.capabilities() if definitions is None else definitions
    rows = []
    problems = []
    for cap in definitions:
        row, problem = _row(cap, evidence)
        rows.append(row)
        if problem:
            problems.append(problem)
    return tuple(rows), tuple(problems)


def _row(cap, evidence):
    binding = cap.get("binding")
    if not evidence.librbd_found:
        return Capability(cap["id"], "unknown", "no librbd found on this host", (), binding), None
    if evidence.librbd_symbols is None:
        reason = "librbd could not be read: {}".format(evidence.unreadable_reason or "unknown error")
        return Capability(cap["id"], "unknown", reason, (), binding), None
    symbols = evidence.librbd_symbols
    name = evidence.librbd_name
    satisfied = [alt for alt in cap["requires"] if not _missing(alt, symbols)]
    if not satisfied:
        closest = min(cap["requires"], key=lambda alt: len(_missing(alt, symbols)))
        missing = _missing(closest, symbols)
        reason = "{} does not export {}".format(name, ", ".join(missing))
        evidence_lines = tuple("static: {} lacks {}".format(name, m) for m in missing)
        return Capability(cap["id"], "no", reason, evidence_lines, binding), None
    alternative = satisfied[0]
    lines = ["static: {} exports {}".format(name, ", ".join(alternative))]
    needs = cap.get("needs_library")
    if needs:
        linked = [n for n in evidence.librbd_needed if n.startswith(needs)]
        if not linked:
            reason = "{} exports {} but is not linked with {}*".format(name, alternative[0], needs)
            return Capability(cap["id"], "no", reason, tuple(lines), binding), None
        lines.append("static: DT_NEEDED {}".format(linked[0]))
    agrees, runtime_lines, disagreement = _runtime_view(alternative, evidence)
    if not agrees:
        problem = Problem("runtime-disagrees." + cap["id"], "warning",
                          "{}: {}".format(cap["id"], disagreement),
                          "check LD_PRELOAD and which librbd the process really loads",
                          tuple(lines))
        return Capability(cap["id"], "unknown", disagreement, tuple(lines), binding), problem
    reason = "{} exports {}".format(name, " + ".join(alternative))
    return Capability(cap["id"], "yes", reason, tuple(lines) + runtime_lines, binding), None


def known_symbol_names(definitions=None):
    """Every function any capability mentions (what the runtime probe looks up)."""
    definitions = kb.capabilities() if definitions is None else definitions
    names = set()
    for cap in definitions:
        for alt in cap["requires"]:
            names.update(alt)
    return frozenset(names)


_EINVAL, _ERANGE = -22, -34


def feature_rows(facts, feature_defs, features_check):
    """Rows ``feature.<name>``: can this library create an image with the bit?

    The knowledge base gives RBD_FEATURES_ALL of the identified release; on octopus and later
    the child also asked the library itself (rbd_features_to_string returns -EINVAL for a
    bit it does not know).  When both speak and disagree, the library's own answer wins and
    the disagreement is a problem.
    """
    all_mask, all_source = facts.get("rbd_features_all", (None, "release not identified"))
    rows, problems = [], []
    for feature in feature_defs:
        mask, name = feature["mask"], feature["name"]
        evidence = []
        kb_known = None if all_mask is None else bool(all_mask & mask)
        if kb_known is not None:
            evidence.append("knowledge base: RBD_FEATURES_ALL 0x{:x} from {}".format(all_mask, all_source))
        answer = (features_check or {}).get(str(mask))
        lib_known = None
        if answer is not None:
            lib_known = answer.get("rc") != _EINVAL
            evidence.append("runtime: rbd_features_to_string(0x{:x}) = {}".format(mask, answer.get("rc")))
        if kb_known is not None and lib_known is not None and kb_known != lib_known:
            problems.append(Problem(
                "feature-disagrees." + name, "warning",
                "the knowledge base says this release {} {} but the library itself says it {}".format(
                    "knows" if kb_known else "does not know", name, "does" if lib_known else "does not"),
                "a patched build: trust the library's answer", tuple(evidence)))
        known = lib_known if lib_known is not None else kb_known
        row_id = "feature." + name
        if known is None:
            reason = "cannot tell which features this librbd knows ({})".format(all_source)
            rows.append(Capability(row_id, "unknown", reason, tuple(evidence)))
        elif not known:
            reason = ("this librbd does not know {} (bit {}): any create asking for it fails "
                      "with -ENOSYS".format(name, feature["bit"]))
            rows.append(Capability(row_id, "no", reason, tuple(evidence)))
        elif feature.get("dropped_at_create"):
            how = ("set by librbd when a data pool is given (rbd_create4 with a data-pool option); "
                   "asking for the bit itself is silently dropped") if name == "data-pool" else (
                "internal: librbd manages it; a create asking for it has it silently dropped")
            status = "yes" if name == "data-pool" else "no"
            rows.append(Capability(row_id, status, how, tuple(evidence) + (feature.get("dropped_source", ""),)))
        else:
            reason = "this librbd can create images with {}".format(name)
            if feature.get("requires"):
                reason += "; needs {} too, else {}".format(
                    " and ".join(feature["requires"]),
                    "it is silently dropped" if feature.get("requires_effect") == "dropped" else "-EINVAL")
            rows.append(Capability(row_id, "yes", reason, tuple(evidence)))
    return tuple(rows), tuple(problems)


def format1_row(row, facts, environ):
    """Make ``create.format1`` honest: since mimic, librbd refuses format 1 without an env var."""
    if row.status != "yes":
        return row
    policy, source = facts.get("format1_create", (None, "release not identified"))
    if policy is None:
        return row._replace(status="unknown", reason="rbd_create exists, but whether this release still creates "
                            "format 1 images is not known ({})".format(source),
                            evidence=row.evidence + ("format-1 policy: " + source,))
    if policy == "allowed":
        return row._replace(reason=row.reason + "; format 1 creation allowed in this release",
                            evidence=row.evidence + ("format-1 policy: allowed, " + source,))
    forced = "RBD_FORCE_ALLOW_V1" in environ
    reason = ("format 1 creation is refused with -EINVAL (\"Format 1 image creation unsupported\") "
              "unless RBD_FORCE_ALLOW_V1 is set in the client's environment"
              + (" (it is set in this environment)" if forced else ""))
    return row._replace(status="no", reason=reason, evidence=row.evidence + ("format-1 policy: {}, {}".format(policy, source),))
