"""Champion / challenger: is a new model version (challenger) not worse than the active one
(champion) on the project's validation set (domain/validation_set.py)?

Both versions predict every validation task; each prediction gets a quality in [0, 1]
(`task_quality`: 1/0 for a class, Jaccard for a set of choices, F1 for spans, 1 - |error| / the
labels' range for a number). The comparison is paired: per task d = q(challenger) - q(champion),
so the tasks' difficulty cancels and far fewer labels tell two models apart than comparing two
accuracies would need.

The challenger is rejected when the data show it is worse by more than TOLERANCE: the one-sided
95% upper bound of the mean paired difference (Student's t on the n differences) is below
-TOLERANCE. So
- with few validation tasks the bound is wide and a challenger is rejected only when it is clearly
  worse (a burst of bad labels); a non-inferiority test the other way round (promote only when the
  lower bound is above -TOLERANCE) would reject nearly every challenger of a young project and
  freeze it on its first model, while more labels are what improves a model most reliably;
- with many validation tasks the bound is tight and TOLERANCE keeps a challenger that is
  practically equal (within 2 points of per-task quality, one task in fifty) from being rejected
  for a difference that does not matter.

Pure: no I/O, no numpy (the API imports it).
"""
import math
from dataclasses import dataclass, field

TOLERANCE = 0.02
CONFIDENCE_Z = 1.6448536269514722  # one-sided 95%
POLICIES = ("if_not_worse", "always")


def task_quality(problem: str, truth, predicted, scale: float = 1.0) -> float:
    """How right one prediction is, in [0, 1]."""
    if problem == "spans":
        t, p = set(truth or ()), set(predicted or ())
        if not t and not p:
            return 1.0
        hits = len(t & p)
        return 2 * hits / (len(t) + len(p))
    if problem == "multilabel":
        t, p = set(truth or ()), set(predicted or ())
        return 1.0 if not t and not p else len(t & p) / len(t | p)
    if problem == "regression":
        return max(0.0, 1.0 - abs(float(truth) - float(predicted)) / (scale or 1.0))
    return 1.0 if truth == predicted else 0.0


def regression_scale(labels: list) -> float:
    """The range errors are measured against: the validation labels' spread (1 when they are equal)."""
    values = [float(v) for v in labels]
    spread = max(values) - min(values) if values else 0.0
    return spread or 1.0


def t_quantile(z: float, dof: int) -> float:
    """Student's t quantile from the normal one (Cornish-Fisher expansion; within 1% for dof >= 3)."""
    if dof <= 0:
        return math.inf
    return z + (z ** 3 + z) / (4 * dof) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * dof ** 2)


@dataclass(frozen=True)
class Comparison:
    n: int
    challenger: float  # mean quality
    champion: float
    difference: float  # mean of challenger - champion
    upper_bound: float  # one-sided 95% upper bound of the difference
    tolerance: float = TOLERANCE

    @property
    def worse(self) -> bool:
        return self.upper_bound < -self.tolerance

    def as_dict(self) -> dict:
        return {"n_validation": self.n, "challenger_quality": round(self.challenger, 4),
                "champion_quality": round(self.champion, 4), "difference": round(self.difference, 4),
                "upper_bound_95": round(self.upper_bound, 4), "tolerance": self.tolerance}


def compare(challenger: list[float], champion: list[float], tolerance: float = TOLERANCE) -> Comparison:
    """Paired comparison of per-task qualities (same tasks, same order)."""
    if len(challenger) != len(champion) or not challenger:
        raise ValueError("need the same non-empty list of validation tasks for both versions")
    n = len(challenger)
    diffs = [a - b for a, b in zip(challenger, champion)]
    mean = sum(diffs) / n
    if n > 1:
        sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
        upper = mean + t_quantile(CONFIDENCE_Z, n - 1) * sd / math.sqrt(n)
    else:
        upper = math.inf
    return Comparison(n=n, challenger=sum(challenger) / n, champion=sum(champion) / n, difference=mean,
                      upper_bound=upper, tolerance=tolerance)


@dataclass(frozen=True)
class Decision:
    promote: bool
    status: str  # "promoted" | "rejected" | "held"
    reason: str
    comparison: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"status": self.status, "reason": self.reason, **({"comparison": self.comparison}
                                                                 if self.comparison else {})}


def decide(policy: str, pinned_version, comparison: Comparison | None, ungated_reason: str | None) -> Decision:
    """Whether a challenger replaces the champion. `comparison` is None when none could be made;
    `ungated_reason` then says why."""
    if pinned_version is not None:
        return Decision(False, "held", f"the project is pinned to v{pinned_version} (ml.pinned_version); "
                                       "unset it, or activate this version, to serve it",
                        comparison.as_dict() if comparison else {})
    if comparison is None:
        return Decision(True, "promoted", f"promoted without a comparison: {ungated_reason}")
    shown = comparison.as_dict()
    verdict = (f"on {comparison.n} validation tasks the challenger scores {comparison.challenger:.3f} against the "
               f"champion's {comparison.champion:.3f} (paired difference {comparison.difference:+.3f}, "
               f"95% upper bound {comparison.upper_bound:+.3f}, tolerance {comparison.tolerance})")
    if not comparison.worse:
        return Decision(True, "promoted", f"not worse: {verdict}", shown)
    if policy == "always":
        return Decision(True, "promoted", f"worse, promoted anyway (ml.promotion = always): {verdict}", shown)
    return Decision(False, "rejected", f"worse by more than the tolerance: {verdict}", shown)
