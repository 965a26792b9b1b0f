"""The confidence threshold above which a model may label by itself, with a guarantee.

Given human labels the model did not train on (held-out or out-of-fold predictions: each with the
model's confidence and whether it was right), choose the lowest threshold `t` such that, with
probability at least `confidence`, the accuracy of the model's predictions with confidence >= t
is at least `target_accuracy`.

Method: fixed-sequence testing (Bauer 1991; the "Learn then Test" framework of Angelopoulos,
Bates, Candes, Jordan and Lei, 2021, section 4). The thresholds are declared in advance, from the
most conservative down (THRESHOLDS). For each in turn we test the null hypothesis "accuracy above
this threshold < target" with the exact binomial test (thresholds with too few predictions
above them to ever pass are skipped, which depends on the confidences only): the p-value is P(Binomial(n, target) >= k)
for k right out of the n predictions at or above it. We reject at level delta = 1 - confidence and
move to the next threshold; the first threshold whose null is not rejected stops the sequence.
Because the order is fixed before seeing the data, testing each hypothesis at the full level delta
keeps the probability of any false rejection (and so of choosing a threshold whose accuracy is
below target) at most delta, with no correction for the number of thresholds tried.

The guarantee is about the population the validation labels were drawn from (tasks the model has
not seen, labelled by people); the audit (a random share of auto-labelled tasks served to people)
checks it holds on the auto-labelled tasks themselves. Pure Python: no numpy on this path.
"""
from dataclasses import dataclass
from math import ceil, exp, lgamma, log

# Pre-declared, most conservative first. Never chosen from the data.
THRESHOLDS = (0.999, 0.995, 0.99, 0.985, 0.98, 0.975, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.9,
              0.88, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5)


@dataclass(frozen=True)
class Calibration:
    """What a model version may auto-label. `threshold` None: nothing (the target cannot be met)."""

    threshold: float | None
    lower_bound: float | None  # Clopper-Pearson lower bound of the accuracy at or above the threshold
    validation_size: int  # human-labelled predictions the calibration used
    covered: int  # of them, how many were at or above the threshold
    expected_coverage: float  # covered / validation_size: the share of tasks expected to be auto-labelled
    target_accuracy: float
    confidence: float
    reason: str
    counts: tuple = ()  # threshold_counts of the validation predictions: re-calibration needs only these

    def as_dict(self) -> dict:
        return {"threshold": self.threshold, "lower_bound": self.lower_bound,
                "validation_size": self.validation_size, "covered": self.covered,
                "expected_coverage": self.expected_coverage, "target_accuracy": self.target_accuracy,
                "confidence": self.confidence, "method": "fixed-sequence exact binomial tests",
                "reason": self.reason, "counts": [list(c) for c in self.counts]}


def _log_pmf(n: int, k: int, p: float) -> float:
    return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1) + k * log(p) + (n - k) * log(1 - p)


def binomial_upper_tail(n: int, k: int, p: float) -> float:
    """P(Binomial(n, p) >= k), exact (summed in log space; n up to a few hundred thousand)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    logs = [_log_pmf(n, i, p) for i in range(k, n + 1)]
    top = max(logs)
    return min(1.0, exp(top) * sum(exp(v - top) for v in logs))


def clopper_pearson_lower(n: int, k: int, delta: float) -> float:
    """The exact one-sided (1 - delta) lower confidence bound of a proportion k / n."""
    if n == 0 or k == 0:
        return 0.0
    lo, hi = 0.0, k / n
    for _ in range(60):  # bisection on p: P(Binomial(n, p) >= k) is increasing in p
        mid = (lo + hi) / 2
        if binomial_upper_tail(n, k, mid) < delta:
            lo = mid
        else:
            hi = mid
    return lo


def threshold_counts(scored: list[tuple[float, bool]]) -> tuple[tuple[float, int, int], ...]:
    """(threshold, predictions at or above it, of them right) for every pre-declared threshold: all
    the calibration reads of the validation predictions, so a version stores these and is
    re-calibrated under changed settings without its validation set."""
    return tuple((t, sum(1 for score, _ in scored if score >= t), sum(1 for score, right in scored if score >= t and right))
                 for t in THRESHOLDS)


def calibrate(scored: list[tuple[float, bool]], target_accuracy: float, confidence: float,
              min_validation: int) -> Calibration:
    """`scored`: (the model's confidence, whether its prediction was right) per human-labelled
    validation task. The lowest pre-declared threshold that passes, or a Calibration with
    threshold None and the reason."""
    return calibrate_counts(threshold_counts(scored), len(scored), target_accuracy, confidence, min_validation)


def calibrate_counts(counts, n: int, target_accuracy: float, confidence: float, min_validation: int) -> Calibration:
    """`calibrate` from `threshold_counts` of `n` validation predictions."""
    delta = 1.0 - confidence
    counts = tuple((float(t), int(above), int(k)) for t, above, k in counts)

    def refusal(reason: str) -> Calibration:
        return Calibration(None, None, n, 0, 0.0, target_accuracy, confidence, reason, counts)

    if n < min_validation:
        return refusal(f"{n} validation labels; auto-labelling needs at least {min_validation}")
    # A set smaller than this cannot show the target even if every prediction in it is right
    # (target ** n > delta), so testing it would only end the sequence: such thresholds are skipped.
    # Which ones are skipped depends on the confidences alone, never on whether the predictions were
    # right, so the sequence is still fixed before the test statistics are seen.
    smallest = ceil(log(delta) / log(target_accuracy)) if 0 < target_accuracy < 1 else 1
    chosen = None
    for threshold, above, k in counts:
        if above < smallest:
            continue
        if binomial_upper_tail(above, k, target_accuracy) > delta:
            if chosen is None:
                return refusal(f"accuracy {target_accuracy} is not shown at confidence {confidence} at the first "
                               f"testable threshold {threshold} ({k} of {above} right)")
            break
        chosen = (threshold, above, k)
    if chosen is None:
        return refusal(f"no threshold has the {smallest} validation predictions needed to show accuracy "
                       f"{target_accuracy} at confidence {confidence}")
    threshold, covered, k = chosen
    return Calibration(threshold, clopper_pearson_lower(covered, k, delta), n, covered, covered / n,
                       target_accuracy, confidence, f"{k} of {covered} right at or above {threshold}", counts)
