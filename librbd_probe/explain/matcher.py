"""Find error signatures in a stream of log bytes: linear time, bounded memory (pure: no I/O).

How it stays linear and small whatever the input looks like:
- a prefilter: a few literal anchors (and two short regexes for bare errno forms) from
  ``knowledge/data/explain.json`` are searched over each 1 MiB chunk by the regex engine in C; only the lines
  holding an anchor are decoded and given to the signatures' own patterns;
- a line longer than ``LONG_LINE`` bytes is not matched whole: only ``WINDOW`` bytes either
  side of each anchor are examined, and a notice says so (a line without a newline of any
  size is read in segments that overlap by ``OVERLAP`` bytes);
- the signatures' patterns have bounded repetitions, so one attempt costs at most a few
  hundred steps; an optional leading group (an object or file name before the message) may
  start only where a token starts (a lookbehind), so a long run of its characters is tried
  once, not at each of its positions (tests/test_hostile_cli.py holds every pattern to 100 ms
  on 20 KB runs);
- findings are aggregated as they are found (one record per signature and key values, with
  counts, first/last line numbers and timestamps), and the context a later analysis needs
  is cut out once, for the first occurrence of each key only.

A bare errno (``generic`` signature) or a signature that names what supersedes it is kept
only when no related specific finding lies within ``BEFORE`` lines before or ``AFTER`` lines
after it (and, when both lines carry request ids, they share one).
"""
import collections
import re

from . import normalise as _norm

LONG_LINE = 65536          # bytes; longer lines are examined only around their anchors
WINDOW = 2048              # bytes either side of an anchor in a long line
OVERLAP = 4096             # bytes shared by two segments of a line without newline
MAX_CARRY = 4 * 1024 * 1024  # a partial line is carried over chunks up to this size
BEFORE = 10                # lines a superseding finding may precede a subordinate one
AFTER = 5                  # lines it may follow it (dmesg lines after "rbd: map failed")
CONTEXT_LINES = 30         # preceding lines kept as context for the first occurrence
AFTER_LINES = 10           # following lines kept with it (the same command's next step, its command line)
CONTEXT_BYTES = 8192
_TEXT_CHARS = 2048         # of the line itself, kept with the first occurrence
_RELATED_CHARS = 512       # of a related line's text, kept for the analyses
_HISTORY = 65536           # bytes of the previous chunk kept for context

_REQ_IDS = re.compile(r"\breq-[0-9a-fA-F-]{8,64}|\bReq-ID: [\w-]{4,128}")
_TIMESTAMPS = (
    re.compile(r"^\s*(?:[\w.-]{1,64}: )?(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)"),
    re.compile(r"^\s*([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})"),
    re.compile(r"^\s*\[\s*(\d{1,10}\.\d{1,9})\]"),
    re.compile(r"^[IWEF](\d{4} \d{2}:\d{2}:\d{2}\.\d{1,9})"),
)


class CompiledSignature(object):
    __slots__ = ("doc", "id", "patterns", "keywords", "generic", "superseded_by", "key", "errno_check", "context")

    def __init__(self, doc):
        self.doc = doc
        self.id = doc["id"]
        self.patterns = tuple(re.compile(p) for p in doc["patterns"])
        self.keywords = tuple(doc.get("keywords") or ())
        self.generic = bool(doc.get("generic"))
        self.superseded_by = tuple(doc.get("superseded_by") or ())
        self.key = doc.get("key")
        self.errno_check = doc.get("analysis") == "errno"
        self.context = bool(doc.get("context"))


class Compiled(object):
    """The signatures and the prefilter, compiled once."""

    def __init__(self, signatures, prefilter):
        self.signatures = tuple(CompiledSignature(s) for s in signatures)
        self.by_id = {s.id: s for s in self.signatures}
        # anchor -> the signatures a line holding it may match: those with a keyword containing
        # the anchor (or naming it in "anchors"); a signature some keyword of which holds no
        # anchor is tried on every line that passed the prefilter.
        names = tuple(prefilter["literals"]) + tuple(prefilter["patterns"])
        by_anchor = [[] for _ in names]
        always = []
        for number, sig in enumerate(self.signatures):
            explicit = sig.doc.get("anchors")
            if explicit:
                for name in explicit:
                    by_anchor[names.index(name)].append(number)
                continue
            hits = set()
            for keyword in sig.keywords:
                found = [i for i, name in enumerate(names[:len(prefilter["literals"])]) if name in keyword]
                if not found:
                    hits = None
                    break
                hits.update(found)
            if not hits:
                always.append(number)
                continue
            for i in hits:
                by_anchor[i].append(number)
        self.anchor_signatures = tuple(frozenset(v) for v in by_anchor)
        self.supersedes = {}
        for sig in self.signatures:
            for other in sig.superseded_by:
                self.supersedes.setdefault(other, []).append(sig.id)
        self.always = frozenset(always)
        self.anchors = tuple(re.compile(re.escape(lit.encode("utf-8"))) for lit in prefilter["literals"]) + \
            tuple(re.compile(p.encode("utf-8")) for p in prefilter["patterns"])
        if len(self.anchors) > 64:
            raise ValueError("at most 64 prefilter anchors")

    def line_passes(self, line):
        """Does the prefilter let this line through? (for tests of the anchors)"""
        data = line.encode("utf-8", "surrogateescape")
        return any(rx.search(data) for rx in self.anchors)


class Occurrence(object):
    """What is kept of a signature's first occurrence with given key values, and its counts."""
    __slots__ = ("sig", "groups", "match", "line", "last_line", "count", "first_time", "last_time",
                 "context", "variants", "related", "related_text", "req_ids", "text", "after")

    def __init__(self, sig, groups, match, line, timestamp, context, req_ids, text=""):
        self.sig = sig
        self.text = text
        self.groups = groups
        self.match = match
        self.line = line
        self.last_line = line
        self.count = 1
        self.first_time = timestamp
        self.last_time = timestamp
        self.context = context
        self.variants = {}
        self.related = []
        self.related_text = []     # the whole lines of the related ones (cut), for the analyses
        self.after = ""            # the lines after the first occurrence (in the same chunk), for the analyses
        self.req_ids = req_ids


def _plausible_errno(groups):
    """'(6) No such device or address' only when the text is strerror(6), not any '(3) Foo'."""
    import os
    try:
        number = abs(int(groups["errno"]))
    except (KeyError, TypeError, ValueError):
        return False
    if not 0 < number < 4096:
        return False
    text = groups.get("text")
    if text is None:
        return True
    return os.strerror(number).lower().startswith(text.strip().lower()[:12])


def _timestamp(line):
    head = line[:96]
    for rx in _TIMESTAMPS:
        match = rx.match(head)
        if match:
            return match.group(1)
    return None


class Matcher(object):
    """Feed chunks of bytes with ``feed``; ``finish`` returns (occurrences, notices, lines)."""

    def __init__(self, compiled):
        self.compiled = compiled
        self.found = collections.OrderedDict()   # key -> Occurrence (final)
        self.pending = collections.OrderedDict()  # (line, key) -> Occurrence (subordinate, waiting)
        self.recent = {}                          # signature id -> (line, req_ids, key) of its last hit
        self.notices = []
        self._carry = b""
        self._base = 1              # line number of the first byte of the next region
        self._continued = 0         # bytes of the current line already examined in earlier segments
        self._dup_limit = 0         # anchors ending before this offset were seen in the last segment
        self._history = b""
        self._long = [0, None, 0]   # count, first line, longest
        self._last_long = None
        self._bytes = 0

    # --- chunks and regions -------------------------------------------------------------

    def feed(self, chunk):
        self._bytes += len(chunk)
        buf = self._carry + chunk if self._carry else chunk
        cut = buf.rfind(b"\n") + 1
        if cut:
            self._region(buf[:cut], complete=True)
            self._carry = buf[cut:]
        elif len(buf) >= MAX_CARRY:
            # One line longer than MAX_CARRY with no newline yet: examine it in segments.
            self._region(buf[:-OVERLAP], complete=False)
            self._carry = buf[-OVERLAP:]
        else:
            self._carry = buf

    def finish(self):
        if self._carry:
            self._region(self._carry + b"\n", complete=True, final=True)
            self._carry = b""
        for key in list(self.pending):
            self._finalize(self.pending.pop(key))
        count, first, longest = self._long
        if count:
            self.notices.append(
                "{} line{} longer than {} bytes (the longest {} bytes, first at line {}): in {} only the {} "
                "bytes either side of each keyword were examined".format(
                    count, "s" if count > 1 else "", LONG_LINE, longest, first,
                    "them" if count > 1 else "it", WINDOW))
        lines = self._base - 1
        return list(self.found.values()), self.notices, lines

    def _region(self, region, complete, final=False):
        # each hit as position * 64 + anchor number: one sort orders them, the anchor rides along
        positions = []
        dup = self._dup_limit
        for number, rx in enumerate(self.compiled.anchors):
            for match in rx.finditer(region):
                if match.end() <= dup:
                    continue
                positions.append(match.start() * 64 + number)
        if positions:
            positions.sort()
            self._lines_with_hits(region, positions, complete)
        if complete:
            self._base += region.count(b"\n")
            self._continued = 0
            self._dup_limit = 0
            self._history = region[-_HISTORY:]
        else:
            self._continued += len(region)
            self._dup_limit = OVERLAP
            self._history = b""

    def _lines_with_hits(self, region, positions, complete):
        count_from = 0
        line_no = self._base
        index = 0
        total = len(positions)
        end_of_region = len(region)
        while index < total:
            pos = positions[index] >> 6
            start = region.rfind(b"\n", count_from, pos) + 1
            line_no += region.count(b"\n", count_from, start)
            count_from = start
            end = region.find(b"\n", pos)
            if end < 0:
                end = end_of_region
            group = []
            anchors = set()
            limit = end << 6
            while index < total and positions[index] < limit:
                group.append(positions[index] >> 6)
                anchors.add(positions[index] & 63)
                index += 1
            admitted = set(self.compiled.always)
            for number in anchors:
                admitted.update(self.compiled.anchor_signatures[number])
            admitted = sorted(admitted)
            prior = self._continued if start == 0 else 0
            length = prior + end - start
            if length > LONG_LINE:
                self._note_long(line_no, length)
                for lo, hi in _windows(group, start, end):
                    self._line(line_no, region, start, lo, hi, admitted)
            else:
                self._line(line_no, region, start, start, end, admitted)

    def _note_long(self, line_no, length):
        stats = self._long
        if self._last_long != line_no:
            self._last_long = line_no
            stats[0] += 1
            if stats[1] is None:
                stats[1] = line_no
        stats[2] = max(stats[2], length)

    # --- one line (or window of a long line) ---------------------------------------------

    def _line(self, line_no, region, line_start, lo, hi, admitted):
        raw = region[lo:hi].decode("utf-8", "replace")
        if raw.endswith("\r"):
            raw = raw[:-1]
        parts = _norm.unfold(raw)
        timestamp = None
        req_ids = None
        context_cache = []
        signatures = self.compiled.signatures
        for index, part in enumerate(parts):
            for number in admitted:
                sig = signatures[number]
                if sig.keywords and not any(k in part for k in sig.keywords):
                    continue
                for rx in sig.patterns:
                    for match in rx.finditer(part):
                        groups = {k: v for k, v in match.groupdict().items() if v is not None}
                        if sig.errno_check and not _plausible_errno(groups):
                            continue
                        if timestamp is None:
                            timestamp = _timestamp(raw) or ""
                            req_ids = frozenset(_REQ_IDS.findall(raw))
                        self._hit(sig, groups, " ".join(match.group(0).split())[:240], line_no, timestamp or None,
                                  req_ids, lambda: self._context(context_cache, region, line_start, parts, index),
                                  part[:_TEXT_CHARS], after_fn=lambda: self._after(region, hi, parts, index))

    @staticmethod
    def _after(region, end, parts, index):
        """Up to AFTER_LINES lines after this one (within the chunk read so far), cut to 2048 characters each."""
        following = region[end + 1:end + 1 + CONTEXT_BYTES].decode("utf-8", "replace").split("\n")[:AFTER_LINES]
        return "\n".join(parts[index + 1:] + [line[:2048] for line in following])

    def _context(self, cache, region, line_start, parts, index):
        if not cache:
            if line_start >= CONTEXT_BYTES:
                before = region[line_start - CONTEXT_BYTES:line_start]
            else:
                before = (self._history[-CONTEXT_BYTES:] + region[:line_start])[-CONTEXT_BYTES:]
            lines = before.decode("utf-8", "replace").split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            lines = lines[-CONTEXT_LINES:]
            unfolded = []
            for line in lines:
                unfolded.extend(_norm.unfold(line[:2048]))
            cache.append(unfolded)
        return "\n".join(cache[0][-CONTEXT_LINES:] + parts[:index + 1])

    # --- relations and aggregation -------------------------------------------------------

    def _key(self, sig, groups):
        if sig.key is None:
            return (sig.id,) + tuple(sorted(groups.items()))
        return (sig.id,) + tuple((n, groups.get(n, "")) for n in sig.key)

    def _superseder(self, sig, line_no, req_ids):
        """The key of a recent finding that explains this subordinate one, or None."""
        if sig.generic:
            candidates = [sid for sid in self.recent if sid != sig.id and not self.compiled.by_id[sid].generic]
        else:
            candidates = [sid for sid in sig.superseded_by if sid in self.recent]
        for sid in candidates:
            line, their_ids, key = self.recent[sid]
            if line_no - BEFORE <= line <= line_no and _compatible(req_ids, their_ids):
                return key
        return None

    def _hit(self, sig, groups, match, line_no, timestamp, req_ids, context_fn, text, after_fn=None):
        key = self._key(sig, groups)
        subordinate = sig.generic or bool(sig.superseded_by)
        if subordinate:
            explained_by = self._superseder(sig, line_no, req_ids)
            if explained_by is not None:
                self._relate(explained_by, sig, match, line_no, text=text)
                return
        self.recent[sig.id] = (line_no, req_ids, key)
        self._expire(line_no)
        slot = (line_no, key)
        if key in self.found:
            self._count(self.found[key], line_no, timestamp, groups)
        elif subordinate and slot in self.pending:
            self._count(self.pending[slot], line_no, timestamp, groups)
        elif subordinate:
            self.pending[slot] = Occurrence(sig, groups, match, line_no, timestamp,
                                            context_fn() if sig.context else "", req_ids, text)
            if sig.context and after_fn is not None:
                self.pending[slot].after = after_fn()
        else:
            self.found[key] = Occurrence(sig, groups, match, line_no, timestamp,
                                         context_fn() if sig.context else "", req_ids, text)
            if sig.context and after_fn is not None:
                self.found[key].after = after_fn()
        self._release_pending(sig, line_no, req_ids, key, slot)

    def _release_pending(self, sig, line_no, req_ids, key, own):
        """A finding explains the subordinate ones of the last AFTER lines (a specific one every
        bare errno, any one those that name it in superseded_by)."""
        if not self.pending or (sig.generic and not self.compiled.supersedes.get(sig.id)):
            return
        for slot in list(self.pending):
            if slot == own:
                continue
            occ = self.pending[slot]
            if occ.line < line_no - AFTER:
                continue
            if (occ.sig.generic and not sig.generic) or sig.id in occ.sig.superseded_by:
                if _compatible(occ.req_ids, req_ids):
                    del self.pending[slot]
                    self._relate(key, occ.sig, occ.match, occ.line, later=occ, text=occ.text)

    def _relate(self, key, sig, match, line_no, later=None, text=""):
        target = self.found.get(key)
        if target is None:
            for occ in self.pending.values():
                if self._key(occ.sig, occ.groups) == key:
                    target = occ
                    break
        if target is not None and len(target.related) < 5:
            entry = "line {}: {}".format(line_no, match)
            if entry not in target.related:
                target.related.append(entry)
                target.related_text.append((line_no, (text or match)[:_RELATED_CHARS]))

    def _expire(self, line_no):
        while self.pending:
            slot = next(iter(self.pending))
            if slot[0] >= line_no - AFTER:
                break
            self._finalize(self.pending.pop(slot))

    def _finalize(self, occ):
        key = self._key(occ.sig, occ.groups)
        existing = self.found.get(key)
        if existing is None:
            self.found[key] = occ
            return
        existing.count += occ.count
        existing.last_line = max(existing.last_line, occ.last_line)
        if occ.last_time:
            existing.last_time = occ.last_time

    @staticmethod
    def _count(occ, line_no, timestamp, groups):
        occ.count += 1
        occ.last_line = line_no
        if timestamp:
            occ.last_time = timestamp
        if occ.sig.key is not None and len(occ.variants) < 64:
            for name, value in groups.items():
                if name not in occ.sig.key and occ.groups.get(name) != value:
                    values = occ.variants.setdefault(name, [])
                    if value not in values and len(values) < 20:
                        values.append(value)


def _compatible(ours, theirs):
    return not (ours and theirs and not (ours & theirs))


def _windows(positions, start, end):
    lo = hi = None
    for pos in positions:
        a, b = max(start, pos - WINDOW), min(end, pos + WINDOW)
        if hi is not None and a <= hi:
            hi = max(hi, b)
            continue
        if hi is not None:
            yield lo, hi
        lo, hi = a, b
    if hi is not None:
        yield lo, hi
