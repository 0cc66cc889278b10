"""``explain`` on the holdout set: real texts from public issue threads collected AFTER the engine
was tuned on the field set (tests/data/holdout; none of their threads is in tests/data/field).
The oracle is each thread's established cause, recorded in the case file; the classification
(right / honest-undecided / missed / confident-wrong) and the cause-id to cause-key table are
the field test's (tests/test_explain_field.py), so both sets are judged by one rule.
"""
import collections
import glob
import json
import os

import pytest

from conftest import PROJECT
from librbd_probe import explain
from test_explain_field import KEYS, check_case, host, judge  # noqa: F401  (host: the shared fixture)

HOLDOUT = os.path.join(PROJECT, "tests", "data", "holdout")
FIELD = os.path.join(PROJECT, "tests", "data", "field")

#: cases explain does not get right yet, each with the reason (strict: a fix must remove it)
KNOWN_MISSES = {
}


def _load(directory):
    return [json.load(open(path, encoding="utf-8")) for path in sorted(glob.glob(os.path.join(directory, "*.json")))]


CASES = _load(HOLDOUT)


def _explain(case, host):
    report, context = host
    return explain.explain(report, case["text"], source=case["id"], context=context)


def classify(case, result):
    """'right', 'honest-undecided', 'missed' or 'confident-wrong' (the README's definitions)."""
    right, wrong, _ = judge(case, result)
    if wrong:
        return "confident-wrong"
    if not right:
        return "missed"
    confident = [f for f in result.findings if f.confidence in ("high", "medium")]
    if case.get("in_scope", True) and not confident:
        return "honest-undecided"
    return "right"


def test_holdout_is_out_of_sample():
    """No holdout thread is one of the field set's, and every case has what the format requires."""
    field_sources = {case["source"] for case in _load(FIELD)}
    assert len(CASES) >= 25
    for case in CASES:
        assert case["source"] not in field_sources, case["id"]
        assert case["text"] and case["thread_cause"] and case["expected"]["cause_key"], case["id"]
        assert case["expected"]["confidence"] in explain.CONFIDENCES, case["id"]
        assert os.path.exists(os.path.join(HOLDOUT, case["id"] + ".json"))
    known = set().union(*KEYS.values())
    for case in CASES:
        if case.get("in_scope", True):
            # an in-scope cause must be one explain can name, else the case can never be right
            assert case["expected"]["cause_key"] in known, case["id"]


@pytest.mark.skipif(not CASES, reason="no holdout cases in tests/data/holdout")
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_holdout_case(case, host):
    check_case(case, _explain(case, host), KNOWN_MISSES)


def test_holdout_figure(host, capsys):
    """The out-of-sample figure for the README, per family and in total."""
    by_family = collections.defaultdict(collections.Counter)
    total = collections.Counter()
    for case in CASES:
        verdict = classify(case, _explain(case, host))
        scope = "in" if case.get("in_scope", True) else "out"
        by_family[case["family"]][verdict] += 1
        total[(scope, verdict)] += 1
    with capsys.disabled():
        print("\nholdout set: {} cases; in scope: {} right, {} honest-undecided, {} missed, {} confident wrong; "
              "out of scope: {} without a confident cause, {} confident wrong".format(
                  len(CASES), total[("in", "right")], total[("in", "honest-undecided")], total[("in", "missed")],
                  total[("in", "confident-wrong")], total[("out", "right")], total[("out", "confident-wrong")]))
        for family in sorted(by_family):
            print("  {}: {}".format(family, dict(sorted(by_family[family].items()))))
    assert total[("in", "confident-wrong")] + total[("out", "confident-wrong")] == 0
