"""The harness's own logic (no runtime): report parsing and output matching."""

from __future__ import annotations

import numpy as np
import pytest

from armrest_tflite import harness as h

REPORT = """INFO: something else
armrest: partition 0: nodes 0-2
armrest: node 3 DEPTH_TO_SPACE not claimed: op not supported
armrest: node 5 Convolution2DTransposeBias not claimed: custom op not supported
armrest: claimed 4 of 6 nodes in 2 partitions
"""


def test_parse_report():
    r = h.parse_report(REPORT)
    assert (r.claimed, r.total, r.partitions) == (4, 6, 2)
    assert [(u.index, u.op, u.reason) for u in r.unclaimed] == [
        (3, "DEPTH_TO_SPACE", "op not supported"), (5, "Convolution2DTransposeBias", "custom op not supported")]
    r.check_consistent()


@pytest.mark.parametrize("text", ["", "armrest: claimed 1 of 2 nodes\n", REPORT + REPORT,
                                  "armrest: claimed 4 of 6 nodes in 2 partition\n"])
def test_parse_report_wants_exactly_one_summary(text):
    with pytest.raises(h.ReportError):
        h.parse_report(text)


@pytest.mark.parametrize("text", [
    "armrest: claimed 5 of 6 nodes in 1 partitions\n",                                      # node 5 unaccounted
    "armrest: node 1 ADD not claimed: x\narmrest: node 1 ADD not claimed: x\n"
    "armrest: claimed 0 of 2 nodes in 0 partitions\n",                                      # listed twice
    "armrest: node 9 ADD not claimed: x\narmrest: claimed 1 of 2 nodes in 1 partitions\n",  # out of range
    "armrest: claimed 2 of 2 nodes in 0 partitions\n",                                      # no partition
])
def test_inconsistent_reports_rejected(text):
    with pytest.raises(h.ReportError):
        h.parse_report(text).check_consistent()


def test_matching_tolerance():
    ref = np.linspace(-3, 3, 100).astype(np.float32)
    ok = ref + np.float32(2.9e-4)               # 2.9e-4 / max(1, 3) < 1e-4
    bad = ref.copy()
    bad[17] += np.float32(3.1e-4)
    assert h.mismatches([ok], [ref]) == []
    assert len(h.mismatches([bad], [ref])) == 1
    small = np.full(4, 0.01, np.float32)        # below 1 the bound is absolute 1e-4
    assert h.mismatches([small + 9e-5], [small]) == []
    assert h.mismatches([small + 1.1e-4], [small]) != []
    assert h.max_rel_error(np.zeros((2, 3)), np.zeros((3, 2))) == float("inf")
    nan = ref.copy()
    nan[0] = np.nan
    assert h.mismatches([nan], [ref]) != []
    assert h.mismatches([ref, ref], [ref]) != []
