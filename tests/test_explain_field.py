"""``explain`` on the field set: real texts users pasted in public issue threads, each with the
cause its thread established (tests/data/field, collected by another helper; the oracle is the
thread, not this code).

A case is right when a finding names the thread's cause with confidence high or medium, or,
when the text does not decide, when explain stays undecided (nothing high or medium) and names
the thread's cause among its candidates with what would decide it.  A confident wrong cause is
a finding with confidence high or medium whose cause is one of the case's ``must_not`` causes;
for an out-of-scope text any high or medium finding counts.  The translation from explain's
cause ids to the field set's cause keys is the table below (words of two vocabularies, no
results).
"""
import glob
import json
import os

import pytest

from conftest import PROJECT
from librbd_probe import consumers, explain, scan
from librbd_probe.explain import hostinfo

FIELD = os.path.join(PROJECT, "tests", "data", "field")

#: explain cause id -> the field set's cause keys it amounts to
KEYS = {
    "doubled-client-prefix": {"auth.doubled_client_prefix"},
    "cephx-key-rejected": {"auth.key_entity_mismatch"},
    "entity-unknown": {"auth.key_entity_mismatch"},
    "keyring-of-another-entity": {"auth.keyring_other_entity"},
    "auth-settings-disagree": {"auth.auth_settings_disagree"},
    "global-id-reclaim": {"auth.global_id_reclaim"},
    "no-keyring-for-entity": {"auth.no_keyring"},
    "key-type-unsupported-by-librados": {"auth.aes256k_key_old_librados"},
    "keyring-malformed": {"auth.keyring_malformed"},
    "conf-parse-error": {"auth.conf_no_final_newline"},
    "client-too-old-for-msgr2-addrs": {"auth.client_cannot_parse_v2_addrs"},
    "caps-forbid-blocklist": {"auth.caps_blocklist", "auth.missing_caps"},
    "missing-caps": {"auth.missing_caps"},
    "format1-refused": {"binding.format1_creation_refused"},
    "invalid-feature-combination": {"binding.invalid_features"},
    "features-unknown-to-librbd": {"skew.library_version"},
    "librbd-plugin-load-failed": {"binding.librbd_plugin_load_failed"},
    "python-binding-too-old": {"binding.python_binding_too_old"},
    "python-binding-missing": {"binding.python_binding_missing"},
    "qemu-built-against-older-librbd": {"qemu.built_against_older_librbd"},
    "ceph-library-missing": {"loader.library_not_found"},
    "dependency-missing": {"loader.dependency_missing"},
    "symbol-missing-from-library": {"loader.symbol_missing_in_library"},
    "ec-pool-without-overwrites": {"ec.no_overwrites"},
    "image-metadata-on-ec-pool": {"ec.metadata_on_ec_pool"},
    "headers-older-than-go-ceph-expects": {"goceph.headers_older_than_api"},
    "kernel-without-rbd": {"kmod.kernel_without_rbd", "kmod.module_missing"},
    "lib-modules-not-visible": {"kmod.container_no_lib_modules", "kmod.module_missing"},
    "kernel-modules-not-installed": {"kmod.module_missing"},
    "kmod-insert-failed": {"kmod.container_modprobe_cannot_load"},
    "image-features-unsupported-by-kernel": {"krbd.image_features_unsupported"},
    "kernel-msgr1-to-v2-port": {"msgr.kernel_v1_only_to_3300"},
    "v2-addresses-without-ms-mode": {"msgr.v2_addr_without_ms_mode"},
    "ms-mode-with-v1-addresses": {"msgr.v2_addr_without_ms_mode"},
    "keyring-notice-with-key-given": {"oos.keyring_notice_harmless"},
    "qemu-module-other-build": {"qemu.block_rbd_other_build"},
    "qemu-without-rbd-driver": {"qemu.no_rbd_driver"},
    "rbd-cli-too-old": {"skew.rbd_cli_too_old"},
    "kernel-lacks-cluster-features": {"tunables.kernel_missing_feature", "tunables.kernel_too_old_undecided"},
    "kernel-too-old": {"tunables.kernel_too_old_undecided"},
    "userspace-client-lacks-cluster-features": {"tunables.userspace_client_too_old"},
    "monitors-unreachable": {"oos.network_unreachable"},
    "wrong-mon-address": set(),
    "older-cluster": {"skew.cluster_too_old"},
    "image-or-pool-missing": {"oos.not_found"},
    "osd-io-error": {"oos.io_error"},
}

#: cases explain does not get right yet, each with the reason (strict: a fix must remove it)
KNOWN_MISSES = {
}


def _cases():
    paths = sorted(glob.glob(os.path.join(FIELD, "*.json")))
    return [json.load(open(path, encoding="utf-8")) for path in paths]


CASES = _cases()


@pytest.fixture(scope="module")
def host():
    report = scan.scan(runtime=False)
    context = hostinfo.gather(report, consumers.explain_context(report, with_bindings=False))
    return report, context


def _keys(cause_id):
    return KEYS.get(cause_id, set())


def judge(case, result):
    """(right, confident wrong findings, why) for one case."""
    expected = case["expected"]
    key = expected.get("cause_key")
    forbidden = set(expected.get("must_not_keys") or ())
    in_scope = case.get("in_scope", True)
    confident = [f for f in result.findings if f.confidence in ("high", "medium")]
    wrong = [f for f in confident if not in_scope or (_keys(f.cause_id) & forbidden)]
    if not in_scope:
        return not confident, wrong, "out of scope: {} confident findings".format(len(confident))
    if any(key in _keys(f.cause_id) for f in confident):
        return True, wrong, "decided"
    if not confident:
        honest = [f for f in result.findings if f.decides and (
            key in _keys(f.cause_id) or any(key in _keys(c) for c in f.candidates))]
        if honest:
            return True, wrong, "undecided, names the cause among its candidates and what decides"
    return False, wrong, "findings: {}".format([(f.signature, f.cause_id, f.confidence, list(f.candidates))
                                               for f in result.findings])


def _explain(case, host):
    report, context = host
    return explain.explain(report, case["text"], source=case["id"], context=context)


@pytest.mark.skipif(not CASES, reason="no field cases in tests/data/field")
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_field_case(case, host):
    check_case(case, _explain(case, host), KNOWN_MISSES)


def check_case(case, result, known_misses):
    """One case, as the field and holdout tests judge it: never a confident wrong cause, every
    finding below high says what would decide it, and the thread's cause found (or a known miss)."""
    right, wrong, why = judge(case, result)
    assert not wrong, "confident wrong cause: {}".format([(f.signature, f.cause_id, f.confidence) for f in wrong])
    for finding in result.findings:
        assert finding.confidence in explain.CONFIDENCES
        if finding.confidence != "high":
            assert finding.decides, (finding.signature, "says nothing about what would decide it")
    if case["id"] in known_misses:
        assert not right, "{} is right now: remove it from KNOWN_MISSES".format(case["id"])
        pytest.xfail(known_misses[case["id"]])
    assert right, why


def test_field_figure(host, capsys):
    """The figure for the README: N of M in-scope cases right, and no confident wrong cause."""
    right = wrong = 0
    in_scope = [c for c in CASES if c.get("in_scope", True)]
    for case in CASES:
        ok, bad, _ = judge(case, _explain(case, host))
        wrong += len(bad)
        right += ok and case.get("in_scope", True)
    with capsys.disabled():
        print("\nfield set: {} of {} in-scope cases right, {} out of scope, {} confident wrong causes".format(
            right, len(in_scope), len(CASES) - len(in_scope), wrong))
    assert wrong == 0
