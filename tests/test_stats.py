"""orl.plot.stats: IQM by hand and the bootstrap interval's coverage behaviour."""

import numpy as np
import pytest

from orl.plot.stats import iqm, iqm_ci


def test_iqm_by_hand():
    # 8 scores: the middle 4 after sorting are 3, 4, 5, 6 -> 4.5; the outliers 100 and -50 do not move it
    assert iqm(np.array([100.0, 1, 3, 4, 5, 6, 7, -50])) == pytest.approx(4.5)
    assert iqm(np.arange(4.0)) == pytest.approx(1.5)


def test_iqm_ci_brackets_and_narrows():
    rng = np.random.default_rng(1)
    small = rng.normal(10, 2, 5)
    large = rng.normal(10, 2, 200)
    m, lo, hi = iqm_ci(small)
    assert lo <= m <= hi and lo < hi
    m2, lo2, hi2 = iqm_ci(large)
    assert hi2 - lo2 < (hi - lo) / 2  # more seeds, a narrower interval
    assert lo2 < 10 < hi2
    assert iqm_ci([3.0, 3.0, 3.0]) == (3.0, 3.0, 3.0)


def test_iqm_ci_bad_input():
    with pytest.raises(ValueError, match="at least one non-NaN value"):
        iqm_ci([])
    with pytest.raises(ValueError, match="confidence must be in"):
        iqm_ci([1.0], level=1.5)
