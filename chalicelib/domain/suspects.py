"""Human labels the model confidently disagrees with (confident learning).

Northcutt, Jiang and Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels" (JAIR
2021), the off-diagonal of the confident joint, as cleanlab's `find_label_issues(filter_by=
"confident_learning")` computes it: from out-of-fold probabilities (each task scored by a model that
did not train on it), the threshold of class j is the mean probability of j over the tasks labelled
j; a task is confidently of class j when p_j reaches that threshold (the most probable such j when
several do). A task confidently of a class other than its label is a suspect; suspects are ranked
by the probability the model gives their label (lowest first: the most likely wrong). Pure Python.
"""
from dataclasses import dataclass, replace

from chalicelib.domain.agreement import TaskLabelState, evaluate_task


@dataclass(frozen=True)
class Suspect:
    index: int  # position in the input lists
    given: str
    suggested: str
    self_confidence: float  # the model's probability of the given label


def class_thresholds(probabilities: list[dict], labels: list[str]) -> dict:
    sums: dict = {}
    counts: dict = {}
    for probs, label in zip(probabilities, labels):
        sums[label] = sums.get(label, 0.0) + probs.get(label, 0.0)
        counts[label] = counts.get(label, 0) + 1
    return {label: sums[label] / counts[label] for label in sums}


def find_suspects(probabilities: list[dict], labels: list[str]) -> list[Suspect]:
    """`probabilities[i]`: {class: out-of-fold probability} of task i; `labels[i]`: its human label."""
    thresholds = class_thresholds(probabilities, labels)
    suspects = []
    for i, (probs, label) in enumerate(zip(probabilities, labels)):
        confident = [(p, cls) for cls, p in probs.items() if cls in thresholds and p >= thresholds[cls]]
        if not confident:
            continue
        _, best = max(confident)
        if best != label:
            suspects.append(Suspect(i, label, best, probs.get(label, 0.0)))
    return sorted(suspects, key=lambda s: (s.self_confidence, s.index))


def judge_after_review(completions: list[dict], disputed: frozenset, threshold: float, overlap: int,
                       config=None) -> TaskLabelState:
    """A task's label state once people reviewed a suspect label. `completions` carry their "id";
    `disputed`: the ids of those that stood when the task was flagged.

    The task is judged on all its completions as usual; if that does not accept it and a review
    completion exists, the disputed completions are set aside and the review completions are judged
    alone under the same rules (agreement threshold, overlap). So a review that confirms the label
    keeps it, and one that contradicts it replaces it as soon as the reviews agree enough, instead of
    the old label holding the agreement under the threshold for good. `n_completions` stays the
    count of every completion.
    """
    state = evaluate_task(completions, threshold, overlap, config)
    review = [c for c in completions if c.get("id") not in disputed]
    if state.accepted or not disputed or not review or len(review) == len(completions):
        return state
    return replace(evaluate_task(review, threshold, overlap, config), n_completions=state.n_completions)
