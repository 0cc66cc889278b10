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
