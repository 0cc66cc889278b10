"""Every problem id the code can emit is produced by some test (issue 8, item 8).

The ids are read from the source (every ``Problem("<id>"`` / ``Problem("<prefix>." + ...``
in librbd_probe/), not from a hand-written list; each must appear as a quoted string in
another test file (an expectation: an id compared, asserted, or looked up in a report),
a prefix id as ``"<prefix>.<something>"``.
"""
import glob
import os
import re

from conftest import HERE, PROJECT

_EMIT = re.compile(r'Problem\(\s*"([^"]+)"(\s*\+)?')


def emitted_ids():
    found = {}
    for path in sorted(glob.glob(os.path.join(PROJECT, "librbd_probe", "**", "*.py"), recursive=True)):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        for match in _EMIT.finditer(text):
            key = (match.group(1), bool(match.group(2)))
            found.setdefault(key, os.path.relpath(path, PROJECT))
    return found


def _test_texts():
    texts = {}
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        if os.path.basename(path) == os.path.basename(__file__):
            continue
        with open(path, encoding="utf-8") as handle:
            texts[os.path.basename(path)] = handle.read()
    return texts


def test_the_source_scan_finds_the_emitters():
    ids = {i for i, _ in emitted_ids()}
    # a sanity floor: the scan really reads the package (these exist in locate/config/probe)
    assert {"librbd-missing", "config.unknown-features", "runtime-failed"} <= ids
    assert len(ids) >= 20


def test_every_problem_id_is_expected_by_a_test():
    texts = _test_texts()
    missing = []
    for (problem_id, is_prefix), where in sorted(emitted_ids().items()):
        if is_prefix:
            pattern = re.compile(r'["\']' + re.escape(problem_id) + r'[\w.-]+["\']')
        else:
            pattern = re.compile(r'["\']' + re.escape(problem_id) + r'["\']')
        if not any(pattern.search(text) for text in texts.values()):
            missing.append("{}{} ({})".format(problem_id, "*" if is_prefix else "", where))
    assert not missing, "problem ids no test expects: " + ", ".join(missing)
