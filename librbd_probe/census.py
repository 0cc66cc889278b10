"""The cluster's own view of its clients, decoded into releases (pure).

The monitors know every connected peer's feature bits: ``features`` groups them (mask, the
release the monitor infers, count) and each monitor's ``sessions`` lists them one by one
(entity, address, ``con_features``).  This module turns those answers into records such as
"client.cinder at 10.0.0.12 speaks jewel", using a table of CEPH_FEATURE_* bits and
CEPH_FEATURES_ALL per release read from upstream ``ceph_features.h`` at release tags
(knowledge/data/ceph_features.json).

Two readings of one mask are kept side by side, because they differ:
* the build: a client of release R advertises CEPH_FEATURES_ALL of R, so an exact match names
  the release, and the newest release whose whole mask is present gives a lower bound;
* the monitor's rule (``ceph_release_from_features``): its steps stop at luminous, so the
  monitor calls every luminous-or-newer client "luminous".
"""
import functools
import json
import re

from .errors import KnowledgeBaseError

DATA = "ceph_features.json"         # in knowledge/data, read through the knowledge layer


@functools.lru_cache(maxsize=None)
def table():
    """The feature table: releases with masks (verified ones only) and the monitor's rule."""
    from . import knowledge
    doc = knowledge.load(DATA)
    if not isinstance(doc.get("releases"), list):
        raise KnowledgeBaseError("data/{}: 'releases' must be a list".format(DATA))
    releases = []
    names = {}          # (version, bit) -> names the bit has in that release's header (advertised)
    for entry in doc["releases"]:
        if not entry.get("verified") or not entry.get("features_all"):
            continue
        mask = int(entry["features_all"], 16)
        releases.append((entry["version"], entry["codename"], mask, entry.get("source_kind") or "header"))
        for bit in entry.get("bits", ()):
            if bit["kind"] != "retired" and mask >> bit["bit"] & 1:
                names.setdefault((entry["version"], bit["bit"]), set()).add(bit["name"])
    mon = doc.get("mon_inference") or {}
    numbers = mon.get("release_numbers") or {}
    by_number = {n: c for c, n in numbers.items()}
    steps = [(numbers[s["through"]], int(s["mask"], 16)) for s in mon.get("steps", ())]
    return {"releases": tuple(releases), "names": names, "steps": tuple(steps), "by_number": by_number,
            "max_number": max(numbers.values()) + 1 if numbers else 1, "mon_source": mon.get("source"),
            "unverified": tuple(e["version"] for e in doc["releases"] if not e.get("verified"))}


def _release_features(number, steps):
    """ceph_release_features(r) of src/common/ceph_strings.cc, from the table's steps."""
    for through, mask in steps:
        if number <= through:
            return mask
    return steps[-1][1] if steps else 0


def monitor_rule(mask, tab=None):
    """The release name the monitor's ceph_release_from_features() gives ``mask`` (or None)."""
    tab = tab or table()
    steps, top = tab["steps"], tab["max_number"]
    if not steps:
        return None
    # the first release whose requirements the mask lacks, minus one (bounded: never past the
    # release after the newest, CEPH_RELEASE_MAX)
    number = 1
    while number < top and _release_features(number, steps) & mask == _release_features(number, steps):
        number += 1
    number -= 1
    need = _release_features(number, steps)
    while number > 1 and _release_features(number - 1, steps) == need:
        number -= 1          # "we want the first release that looks like this"
    return tab["by_number"].get(number)


def _meaning(bit, after, tab):
    """(version, names) of the first release after ``after`` whose clients advertise ``bit``.

    Bits are retired and reused (ceph_features.h, "Notes on deprecation"): a bit is named only
    by a release that sends it, never by an older meaning.
    """
    seen = False
    for version, _codename, mask, _kind in tab["releases"]:
        if version == after:
            seen = True
            continue
        if seen and mask >> bit & 1:
            return version, sorted(tab["names"].get((version, bit), ()))
    return None, []


def decode(mask, tab=None):
    """What a feature mask says about the peer's release.

    Returns {mask, relation, release, version, versions, extra_bits, extra_named, monitor_rule,
    text}: relation is "exact" (the mask is CEPH_FEATURES_ALL of these releases), "at-least"
    (it holds the whole mask of ``version`` plus bits of later releases), "newer" (it holds the
    whole mask of the newest release known here plus bits no known header names), "partial"
    (no release's whole mask: kernel clients and other implementations; the monitor's rule
    is the only reading) or "unknown".
    """
    tab = tab or table()
    releases = tab["releases"]
    out = {"mask": "0x{:x}".format(mask), "monitor_rule": monitor_rule(mask, tab)}
    exact = [r for r in releases if r[2] == mask]
    below = [r for r in releases if r[2] & mask == r[2]]
    if exact:
        out.update(relation="exact", release=exact[-1][1], version=exact[-1][0],
                   versions=[r[0] for r in exact], extra_bits=[], extra_named=[],
                   text="speaks {} ({})".format(exact[-1][1], "{}: its CEPH_FEATURES_ALL exactly".format(exact[-1][0])
                                                if exact[-1][3] == "header" else
                                                "the mask {} builds send, as observed".format(exact[-1][0])))
        return out
    if below:
        base = below[-1]
        extra = [b for b in range(64) if (mask & ~base[2]) >> b & 1]
        named, unnamed = [], []
        for b in extra:
            version, names = _meaning(b, base[0], tab)
            if version:
                named.append("{} ({}, from {})".format(b, "/".join(names) or "?", version))
            else:
                unnamed.append(b)
        out.update(release=base[1], version=base[0], versions=[base[0]], extra_bits=extra, extra_named=named)
        if unnamed:
            out.update(relation="newer",
                       text="speaks a release newer than {} ({}): it sends every bit of {} plus bit{} {} that no "
                            "release known here sends".format(base[1], base[0], base[0], "s" if len(unnamed) > 1 else "",
                                                              ", ".join(str(b) for b in unnamed)))
        else:
            out.update(relation="at-least",
                       text="speaks {} or a later point release ({} plus bit {})".format(
                           base[1], base[0], ", ".join(named)))
        return out
    rule = out["monitor_rule"]
    out.update(relation="partial" if rule else "unknown", release=rule, version=None, versions=[],
               extra_bits=[], extra_named=[],
               text="sends no known release's whole feature set (a kernel client, another implementation, or a "
                    "point release whose bits differ from its series' first); by the monitor's rule: {}".format(
                        rule or "unknown"))
    return out


_ADDR = re.compile(r"^\[?([^\]]*?)\]?(?::(\d+))?$")


def split_address(text):
    """'10.0.0.12:0' -> ('10.0.0.12', 0); '[::1]:6789' -> ('::1', 6789); '' -> (None, None)."""
    if not text or text.startswith("("):
        return None, None
    text = text.split("/", 1)[0]
    if text.count(":") > 1 and not text.startswith("["):
        return text, None            # bare IPv6 without a port
    match = _ADDR.match(text)
    if not match or not match.group(1):
        return None, None
    return match.group(1), int(match.group(2)) if match.group(2) else None


def parse_sessions(text):
    """A monitor's ``sessions`` answer (JSON list of session objects) -> plain session dicts."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    out = []
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                socket = (item.get("socket_addr") or {}).get("addr")
                addrvec = ((item.get("addrs") or {}).get("addrvec") or [{}])
                address, _ = split_address(socket)
                if address is None:
                    address, _ = split_address((addrvec[0] or {}).get("addr"))
                hexmask = item.get("con_features_hex")
                mask = int(hexmask, 16) if hexmask else item.get("con_features")
                out.append({"name": item.get("name"), "entity": item.get("entity_name") or item.get("name"),
                            "type": item.get("con_type"), "address": address,
                            "nonce": (item.get("socket_addr") or {}).get("nonce"),
                            "mask": mask, "monitor_release": item.get("con_features_release"),
                            "remote_host": item.get("remote_host") or None})
    return out


def parse_features(text):
    """The monitors' ``features`` answer -> [{type, mask, monitor_release, num}]."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    groups = []
    for kind in sorted(data or {}):
        items = data[kind]
        if isinstance(items, dict):
            items = [items]
        for item in items or ():
            if isinstance(item, dict) and item.get("features"):
                groups.append({"type": kind, "mask": int(item["features"], 16),
                               "monitor_release": item.get("release"), "num": item.get("num")})
    return groups


def build(raw):
    """The census section from the child's raw answers (pure): groups and one row per client."""
    tab = table()
    section = {"error": None, "groups": [], "clients": [], "monitors": sorted((raw.get("sessions") or {})),
               "source": {"features_table": "knowledge/data/" + DATA, "monitor_rule": tab["mon_source"]},
               "unverified_releases": list(tab["unverified"])}
    if raw.get("features_rc") not in (0, None) or raw.get("features") is None:
        section["error"] = "the monitors did not answer 'features' (rc {})".format(raw.get("features_rc"))
    for group in parse_features(raw.get("features") or ""):
        decoded = decode(group["mask"], tab)
        section["groups"].append(dict(group, mask="0x{:x}".format(group["mask"]), decoded=decoded,
                                      agrees=decoded["monitor_rule"] == group["monitor_release"]))
    seen = set()
    for mon, answer in sorted((raw.get("sessions") or {}).items()):
        if answer.get("rc") != 0:
            section.setdefault("session_errors", []).append({"monitor": mon, "rc": answer.get("rc"),
                                                             "status": answer.get("status")})
            continue
        for session in parse_sessions(answer.get("text") or ""):
            if session["type"] != "client" or session["mask"] is None:
                continue
            key = (session["address"], session["nonce"], session["entity"], session["mask"])
            if key in seen:
                # one client, listed under a provisional ("client.?") and its final name
                for client in section["clients"]:
                    if (client["address"], client["nonce"], client["entity"], int(client["mask"], 16)) == key \
                            and client["session"].endswith("?"):
                        client["session"] = session["name"]
                continue
            seen.add(key)
            decoded = decode(session["mask"], tab)
            section["clients"].append({
                "entity": session["entity"], "session": session["name"], "address": session["address"],
                "nonce": session["nonce"], "remote_host": session["remote_host"], "monitor": mon,
                "mask": "0x{:x}".format(session["mask"]), "monitor_release": session["monitor_release"],
                "decoded": decoded, "agrees": decoded["monitor_rule"] == session["monitor_release"],
                "text": "{} at {} {}".format(session["entity"], session["address"] or "an unknown address",
                                             decoded["text"])})
    section["clients"].sort(key=lambda c: (c["address"] or "", c["entity"] or "", c["nonce"] or 0))
    return section
