"""Compare two snapshots (``snapshot.py``): what a consumer of the new library gains and loses.

Pure: snapshots in, a JSON-ready result out; the exit code is a bitfield in the manner of
libabigail's ``abidiff`` (bit values can be tested with ``&``):

    0   no change
    4   something changed (EXIT_CHANGE): only compatible changes when bit 8 is clear --
        functions or version nodes added, a capability gained, the release, NEEDED or
        RUNPATH changed
    8   incompatible (EXIT_INCOMPATIBLE, always with 4, so 12): a function or version node
        removed, a capability that was ``yes`` is now ``no``/``unknown``, the soname or the
        architecture changed,
        a library vanished, or a known consumer needs a removed function
    2   usage error; 3 a side could not be read, or a side's functions are unknown (the
        comparison is then incomplete and must not pass)

The text and Markdown forms are at the end (they decide nothing).
"""
from . import _kn
from .textout import join_lines

SCHEMA_VERSION = 1
EXIT_NONE = 0
EXIT_UNDETERMINED = 3
EXIT_CHANGE = 4
EXIT_INCOMPATIBLE = 8


def _split(key):
    name, _, node = key.partition("@")
    return name, node or None


def _function_entry(key):
    name, node = _split(key)
    first, exact, _ = _kn.function_first(name)
    return {"function": name, "node": node, "first": first, "first_exact": exact}


def _side(snap):
    rel = snap.get("release") or {}
    return {"source": snap.get("source"), "kind": snap.get("kind"), "release": release_text(rel)}


def release_text(rel):
    """One phrase for a report's release section: '16.2.15 (pacific)', '18.2.7 .. before 20.2.4'."""
    if not rel:
        return "unknown"
    if rel.get("version"):
        return _kn.release_label(rel["version"])
    if rel.get("min"):
        return "{}{}".format(rel["min"], " .. before " + rel["before"] if rel.get("before") else " or later")
    return "not identified"


def _list_change(old, new):
    old, new = list(old or []), list(new or [])
    return {"added": [x for x in new if x not in old], "removed": [x for x in old if x not in new]}


def _library(name, old, new, incompatible, compatible, unknown):
    out = {"found": {"old": bool(old.get("found")), "new": bool(new.get("found"))}}
    if not old.get("found") and not new.get("found"):
        return out
    if old.get("found") and not new.get("found"):
        incompatible.append("{}: present in the old side, missing in the new one".format(name))
        return out
    if not old.get("found"):
        compatible.append("{}: new in the new side".format(name))
        return out
    if old.get("arch") and new.get("arch") and old["arch"] != new["arch"]:
        # a program built for the old architecture cannot load the new library at all
        out["arch"] = {"old": old["arch"], "new": new["arch"]}
        incompatible.append("{}: architecture {} -> {}".format(name, old["arch"], new["arch"]))
    if old.get("soname") != new.get("soname"):
        out["soname"] = {"old": old.get("soname"), "new": new.get("soname")}
        incompatible.append("{}: soname {} -> {}".format(name, old.get("soname"), new.get("soname")))
    for key in ("needed", "version_definitions"):
        change = _list_change(old.get(key), new.get(key))
        if change["added"] or change["removed"]:
            out[key] = change
            label = "NEEDED" if key == "needed" else "version node"
            for item in change["added"]:
                compatible.append("{}: {} {} added".format(name, label, item))
            for item in change["removed"]:
                (incompatible if key == "version_definitions" else compatible).append(
                    "{}: {} {} removed".format(name, label, item))
    for key, label in (("runpath", "RUNPATH"), ("rpath", "RPATH")):
        if list(old.get(key) or []) != list(new.get(key) or []):
            out[key] = {"old": list(old.get(key) or []), "new": list(new.get(key) or [])}
            compatible.append("{}: {} {} -> {}".format(name, label, ":".join(old.get(key) or []) or "none",
                                                      ":".join(new.get(key) or []) or "none"))
    old_f, new_f = old.get("functions"), new.get("functions")
    if old_f is None or new_f is None:
        which = [side for side, f in (("old", old_f), ("new", new_f)) if f is None]
        unknown.append("{}: functions of the {} side unknown ({})".format(
            name, " and ".join(which), (old if old_f is None else new).get("functions_from") or "not read"))
        out["functions"] = None
        return out
    added = sorted(set(new_f) - set(old_f))
    removed = sorted(set(old_f) - set(new_f))
    out["functions"] = {"added": [_function_entry(k) for k in added],
                        "removed": [_function_entry(k) for k in removed],
                        "old_count": len(old_f), "new_count": len(new_f)}
    for key in added:
        compatible.append("{}: function {} added".format(name, key))
    for key in removed:
        incompatible.append("{}: function {} removed".format(name, key))
    return out


def _capabilities(old, new, incompatible, compatible):
    rows = []
    for cap_id in sorted(set(old) | set(new)):
        before = (old.get(cap_id) or {}).get("status")
        after = (new.get(cap_id) or {}).get("status")
        if before == after:
            continue
        if before == "yes":
            change = "regressed"
        elif after == "yes":
            change = "gained"
        else:
            change = "changed"
        rows.append({"id": cap_id, "kind": "feature" if cap_id.startswith("feature.") else "capability",
                     "old": before, "new": after, "change": change,
                     "reason": (new.get(cap_id) or {}).get("reason")})
        line = "capability {}: {} -> {}".format(cap_id, before or "absent", after or "absent")
        (incompatible if change == "regressed" else compatible).append(line)
    return rows


def _release(old_rel, new_rel, compatible):
    old_rel, new_rel = old_rel or {}, new_rel or {}
    before, after = release_text(old_rel), release_text(new_rel)
    out = {"old": before, "new": after, "changed": before != after, "direction": "same"}
    if before != after:
        a, b = old_rel.get("version") or old_rel.get("min"), new_rel.get("version") or new_rel.get("min")
        if a and b:
            out["direction"] = "upgrade" if _kn.version_key(b) > _kn.version_key(a) else (
                "downgrade" if _kn.version_key(b) < _kn.version_key(a) else "same")
        else:
            out["direction"] = "unknown"
        compatible.append("release {} -> {}".format(before, after))
    return out


def _consumers(consumers, libraries, incompatible):
    """Consumers (path + needed function names) that need a function the new side removed."""
    removed = set()
    for lib in libraries.values():
        for entry in (lib.get("functions") or {}).get("removed", []):
            removed.add(entry["function"])
    out = []
    for consumer in consumers or ():
        hit = sorted(set(consumer["needs"]) & removed)
        out.append({"path": consumer["path"], "needs_removed": hit, "needs": len(consumer["needs"])})
        for name in hit:
            incompatible.append("consumer {} needs removed function {}".format(consumer["path"], name))
    return out


def compare(old, new, consumers=None):
    """The difference between two snapshots, with its exit code (see the module docstring).

    ``consumers``: optional list of ``{"path", "needs": [function names]}``.
    """
    incompatible, compatible, unknown = [], [], []
    libraries = {}
    for name in sorted(set(old.get("libraries", {})) | set(new.get("libraries", {}))):
        libraries[name] = _library(name, old["libraries"].get(name) or {}, new["libraries"].get(name) or {},
                                   incompatible, compatible, unknown)
    release = _release(old.get("release"), new.get("release"), compatible)
    capabilities = _capabilities(old.get("capabilities") or {}, new.get("capabilities") or {},
                                 incompatible, compatible)
    consumer_rows = _consumers(consumers, libraries, incompatible)
    code = EXIT_NONE
    if compatible or incompatible:
        code |= EXIT_CHANGE
    if incompatible:
        code |= EXIT_INCOMPATIBLE
    if unknown:
        code = EXIT_UNDETERMINED
    return {"schema_version": SCHEMA_VERSION, "old": _side(old), "new": _side(new), "release": release,
            "libraries": libraries, "capabilities": capabilities, "consumers": consumer_rows,
            "changes": {"compatible": compatible, "incompatible": incompatible, "unknown": unknown},
            "exit_code": code, "verdict": verdict(code)}


def verdict(code):
    if code == EXIT_UNDETERMINED:
        return "undetermined"
    if code & EXIT_INCOMPATIBLE:
        return "incompatible"
    if code & EXIT_CHANGE:
        return "compatible"
    return "no change"


_VERDICT_TEXT = {
    "no change": "no change (exit 0)",
    "compatible": "compatible changes only (exit 4)",
    "incompatible": "INCOMPATIBLE (exit 12: bits 4|8)",
    "undetermined": "could not compare completely (exit 3)",
}


def _since(entry):
    if not entry.get("first"):
        return "not in the knowledge base"
    return "since {}{}".format(entry["first"], "" if entry.get("first_exact") else ", first seen in a Debian build")


def _key(entry):
    return entry["function"] + ("@" + entry["node"] if entry.get("node") else "")


def to_text(result):
    lines = ["librbd-probe diff", "  old: {} ({})".format(result["old"]["source"], result["old"]["release"]),
             "  new: {} ({})".format(result["new"]["source"], result["new"]["release"])]
    rel = result["release"]
    lines.append("Release: {}".format("{} -> {} ({})".format(rel["old"], rel["new"], rel["direction"])
                                      if rel["changed"] else "unchanged, " + rel["old"]))
    for name, lib in sorted(result["libraries"].items()):
        lines.append("{}:".format(name))
        if not lib["found"]["old"] or not lib["found"]["new"]:
            lines.append("  found: old {} -> new {}".format(lib["found"]["old"], lib["found"]["new"]))
            continue
        if lib.get("arch"):
            lines.append("  architecture {} -> {}".format(lib["arch"]["old"], lib["arch"]["new"]))
        if lib.get("soname"):
            lines.append("  soname {} -> {}".format(lib["soname"]["old"], lib["soname"]["new"]))
        for key, label in (("needed", "NEEDED"), ("version_definitions", "version node")):
            for item in (lib.get(key) or {}).get("added", []):
                lines.append("  {} + {}".format(label, item))
            for item in (lib.get(key) or {}).get("removed", []):
                lines.append("  {} - {}".format(label, item))
        for key, label in (("runpath", "RUNPATH"), ("rpath", "RPATH")):
            if lib.get(key):
                lines.append("  {} {} -> {}".format(label, ":".join(lib[key]["old"]) or "none",
                                                  ":".join(lib[key]["new"]) or "none"))
        funcs = lib.get("functions")
        if funcs is None:
            lines.append("  functions: unknown")
            continue
        lines.append("  functions: {} -> {} ({} added, {} removed)".format(
            funcs["old_count"], funcs["new_count"], len(funcs["added"]), len(funcs["removed"])))
        for entry in funcs["added"]:
            lines.append("    + {:<44} {}".format(_key(entry), _since(entry)))
        for entry in funcs["removed"]:
            lines.append("    - {}".format(_key(entry)))
    if result["capabilities"]:
        lines.append("Capabilities and feature rows:")
        for row in result["capabilities"]:
            lines.append("  {:<26} {} -> {}{}".format(row["id"], row["old"] or "absent", row["new"] or "absent",
                                                      "   REGRESSED" if row["change"] == "regressed" else ""))
    for consumer in result["consumers"]:
        lines.append("Consumer {}: {}".format(consumer["path"], "needs removed " + ", ".join(
            consumer["needs_removed"]) if consumer["needs_removed"] else "needs nothing that was removed"))
    for item in result["changes"]["unknown"]:
        lines.append("Unknown: " + item)
    lines.append("Result: " + _VERDICT_TEXT[result["verdict"]])
    return join_lines(lines)


def to_markdown(result):
    rel = result["release"]
    lines = ["### librbd-probe diff: {} ({}) -> {} ({})".format(result["old"]["source"], rel["old"],
                                                              result["new"]["source"], rel["new"]), "",
             "**Result:** {}".format(_VERDICT_TEXT[result["verdict"]]), "",
             "| change | library | item | since |", "|---|---|---|---|"]
    for name, lib in sorted(result["libraries"].items()):
        if lib.get("arch"):
            lines.append("| changed | {} | architecture {} -> {} | |".format(name, lib["arch"]["old"], lib["arch"]["new"]))
        for entry in (lib.get("functions") or {}).get("removed", []):
            lines.append("| removed | {} | `{}` | |".format(name, _key(entry)))
        for entry in (lib.get("functions") or {}).get("added", []):
            lines.append("| added | {} | `{}` | {} |".format(name, _key(entry), entry.get("first") or "?"))
        for key, label in (("needed", "NEEDED"), ("version_definitions", "version node")):
            for item in (lib.get(key) or {}).get("added", []):
                lines.append("| added | {} | {} `{}` | |".format(name, label, item))
            for item in (lib.get(key) or {}).get("removed", []):
                lines.append("| removed | {} | {} `{}` | |".format(name, label, item))
    for row in result["capabilities"]:
        lines.append("| {} | | `{}`: {} -> {} | |".format(row["change"], row["id"], row["old"] or "absent",
                                                        row["new"] or "absent"))
    for item in result["changes"]["incompatible"]:
        if item.startswith("consumer "):
            lines.append("| consumer | | {} | |".format(item))
    for item in result["changes"]["unknown"]:
        lines.append("| unknown | | {} | |".format(item))
    return join_lines(lines)
