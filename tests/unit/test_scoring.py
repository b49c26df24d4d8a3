"""Strict scoring's statistics: Wilson intervals, exact McNemar, slices."""

import pytest

from eval.scoring import age_band, mcnemar, sex_of, wilson_interval


def test_interval_holds_the_rate_exactly_at_none_and_all():
    for total in range(1, 201):
        assert wilson_interval(0, total)[0] == 0.0 and wilson_interval(total, total)[1] == 1.0
        assert all(low <= k / total <= high for k in range(total + 1) for low, high in [wilson_interval(k, total)])


def test_interval_mcnemar_and_slices():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    result = mcnemar({str(i): i < 10 for i in range(20)}, {str(i): i < 2 for i in range(20)})
    assert (result["only_first"], result["only_second"]) == (8, 0) and result["p_value"] == pytest.approx(2 / 256)
    assert (sex_of("A 67-year-old man"), sex_of("A 4-year-old girl"), sex_of("A patient")) == ("male", "female", "unknown")
    assert (age_band("A 67-year-old man"), age_band("A 4-year-old girl"), age_band("A newborn")) == ("65+", "0-17", "0-17")
