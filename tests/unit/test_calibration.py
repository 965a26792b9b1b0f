"""The auto-label threshold rule (domain/calibration.py): the accuracy guarantee holds at the stated
rate on simulated scores whose accuracy above each threshold is known."""
import random

import pytest

from chalicelib.domain.calibration import (THRESHOLDS, binomial_upper_tail, calibrate, calibrate_counts,
                                           clopper_pearson_lower, threshold_counts)


def simulated(n, rng):
    """A calibrated model, confident as trained classifiers are: confidence s = 1 - U^3 / 2 for U
    uniform on [0, 1] (most predictions near 1), each prediction right with probability s. Then the
    accuracy of the predictions at or above t is exactly 1 - (1 - t) / 4 (so 0.95 from t = 0.8)."""
    scored = []
    for _ in range(n):
        score = 1 - 0.5 * rng.random() ** 3
        scored.append((score, rng.random() < score))
    return scored


def true_accuracy_above(threshold):
    return 1 - (1 - threshold) / 4


def test_the_guarantee_holds_at_the_stated_rate():
    """300 validation sets of 500: the chosen threshold's true accuracy is below the target in at most
    5% of them (with binomial slack for 300 trials: mean 15, we allow 27 = mean + 3 sd)."""
    rng = random.Random(7)
    target, confidence = 0.95, 0.95
    misses = chosen = 0
    for _ in range(300):
        result = calibrate(simulated(500, rng), target, confidence, min_validation=50)
        if result.threshold is None:
            continue
        chosen += 1
        misses += true_accuracy_above(result.threshold) < target
    assert chosen >= 250  # it does auto-label: the rule is not vacuous
    assert misses <= 27, misses


def test_a_loose_rule_would_fail_the_same_check():
    """The check above can fail: choosing the lowest threshold whose *observed* accuracy meets the
    target (no bound) misses the target far more often than 5%."""
    rng = random.Random(7)
    misses = 0
    for _ in range(300):
        scored = simulated(500, rng)
        passing = [t for t in THRESHOLDS
                   if (lambda above: above and sum(above) / len(above) >= 0.95)([r for s, r in scored if s >= t])]
        misses += bool(passing) and true_accuracy_above(min(passing)) < 0.95
    assert misses > 27


def test_too_few_labels_or_a_poor_model_auto_label_nothing():
    rng = random.Random(1)
    few = calibrate(simulated(20, rng), 0.95, 0.95, min_validation=50)
    assert few.threshold is None and "at least 50" in few.reason
    coin = [(rng.uniform(0.5, 1.0), rng.random() < 0.5) for _ in range(1000)]  # overconfident
    poor = calibrate(coin, 0.95, 0.95, min_validation=50)
    assert poor.threshold is None and poor.expected_coverage == 0.0


def test_a_perfect_model_auto_labels_everything_above_the_lowest_threshold():
    scored = [(0.5 + i / 2000, True) for i in range(1000)]
    result = calibrate(scored, 0.95, 0.95, min_validation=50)
    assert result.threshold == THRESHOLDS[-1] and result.expected_coverage == 1.0
    assert 0.99 < result.lower_bound < 1.0


@pytest.mark.parametrize("n,k,p", [(10, 7, 0.5), (50, 48, 0.9), (200, 190, 0.95), (1, 1, 0.3)])
def test_the_binomial_tail_is_exact(n, k, p):
    from math import comb

    assert binomial_upper_tail(n, k, p) == pytest.approx(
        sum(comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1)), rel=1e-9)


def test_the_clopper_pearson_bound_is_the_tail_inverse():
    bound = clopper_pearson_lower(100, 97, 0.05)
    assert binomial_upper_tail(100, 97, bound) == pytest.approx(0.05, abs=1e-6)
    assert 0.9 < bound < 0.97


def test_a_stored_calibration_recalibrates_under_new_settings_from_its_counts_alone():
    """What a version stores (`as_dict`, with the per-threshold counts) gives, under other settings,
    the calibration its validation predictions would give (services/auto_labeling.effective)."""
    from chalicelib.domain.settings import AUTO_LABEL_DEFAULTS
    from chalicelib.services.auto_labeling import effective

    scored = simulated(400, random.Random(3))
    stored = calibrate(scored, 0.95, 0.95, min_validation=50).as_dict()
    for target, confidence, minimum in [(0.95, 0.95, 50), (0.9, 0.8, 50), (0.99, 0.95, 50), (0.95, 0.95, 500)]:
        settings = {**AUTO_LABEL_DEFAULTS, "target_accuracy": target, "confidence": confidence, "min_validation": minimum}
        assert effective(stored, settings) == calibrate(scored, target, confidence, minimum).as_dict()
    assert calibrate_counts(threshold_counts(scored), len(scored), 0.9, 0.9, 50) == calibrate(scored, 0.9, 0.9, 50)
    # a record stored before the counts were: its own threshold under its own target only
    legacy = {k: v for k, v in stored.items() if k != "counts"}
    assert effective(legacy, {**AUTO_LABEL_DEFAULTS, "min_validation": 50}) == legacy
    assert effective(legacy, {**AUTO_LABEL_DEFAULTS, "target_accuracy": 0.99})["threshold"] is None
