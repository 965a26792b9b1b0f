"""Agreement between collaborators' completions of one task, and their consensus.

Choices: exact match for single choice, Jaccard for multiple; other control types fall back to
exact match of the value. Task agreement = mean over completion pairs, averaged over controls;
a single completion counts as 1.0. Consensus per control = majority vote (ties go to the answer
given first), which is what training learns from.
"""
from collections import Counter
from dataclasses import dataclass
from itertools import combinations


@dataclass(frozen=True)
class TaskLabelState:
    n_completions: int
    agreement: float | None
    accepted: bool
    consensus: dict | None  # {control_name: answer}


def answers_by_control(result: list) -> dict:
    """{control name: hashable answer} from a completion's result items."""
    answers = {}
    for item in result or []:
        name = item.get("from_name")
        value = item.get("value") or {}
        kind = (item.get("type") or "").lower()
        if not name:
            continue
        if kind == "choices":
            answers[name] = tuple(sorted(value.get("choices") or []))
        elif kind in value:
            raw = value[kind]
            answers[name] = tuple(map(repr, raw)) if isinstance(raw, list) else raw
        else:
            answers[name] = repr(sorted(value.items()))
    return answers


def pair_agreement(a, b) -> float:
    if isinstance(a, tuple) and isinstance(b, tuple) and (len(a) > 1 or len(b) > 1):
        union = set(a) | set(b)
        return len(set(a) & set(b)) / len(union) if union else 1.0
    return 1.0 if a == b else 0.0


def task_agreement(answer_sets: list[dict]) -> float | None:
    """Mean pairwise agreement over completions, averaged over the controls they answered."""
    if not answer_sets:
        return None
    if len(answer_sets) == 1:
        return 1.0
    controls = sorted({name for answers in answer_sets for name in answers})
    if not controls:
        return 1.0
    per_control = []
    for name in controls:
        scores = [
            pair_agreement(a.get(name), b.get(name))
            for a, b in combinations(answer_sets, 2)
        ]
        per_control.append(sum(scores) / len(scores))
    return sum(per_control) / len(per_control)


def consensus(answer_sets: list[dict]) -> dict:
    """Majority vote per control; ties go to the answer that appeared first."""
    result = {}
    controls = []
    for answers in answer_sets:
        controls.extend(name for name in answers if name not in controls)
    for name in controls:
        votes = [answers[name] for answers in answer_sets if name in answers]
        counts = Counter(votes)
        best = max(counts.values())
        result[name] = next(vote for vote in votes if counts[vote] == best)
    return result


def evaluate_task(completions: list[dict], agreement_threshold: float, overlap: int) -> TaskLabelState:
    """Decide whether a task's completions are accepted into training.

    `completions` are dicts with `result` and `was_cancelled`; cancelled (skipped) ones and empty
    results do not count.
    """
    usable = [c for c in completions if not c.get("was_cancelled") and c.get("result")]
    answer_sets = [answers_by_control(c["result"]) for c in usable]
    answer_sets = [a for a in answer_sets if a]
    agreement = task_agreement(answer_sets)
    accepted = bool(answer_sets) and len(answer_sets) >= overlap and agreement >= agreement_threshold
    agreed = consensus(answer_sets) if accepted else None
    if agreed is not None:
        agreed = {name: list(value) if isinstance(value, tuple) else value for name, value in agreed.items()}
    return TaskLabelState(
        n_completions=len(answer_sets),
        agreement=None if agreement is None else round(agreement, 6),
        accepted=accepted,
        consensus=agreed,
    )
