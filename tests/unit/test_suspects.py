"""Confident learning (domain/suspects.py) finds flipped labels, and agrees with its definition."""
import random

from activelabel_client.datasets import choice_completion
from chalicelib.domain.suspects import class_thresholds, find_suspects, judge_after_review


def test_flipped_labels_of_a_good_model_are_found_and_clean_ones_rarely_flagged():
    rng = random.Random(3)
    probabilities, labels, flipped = [], [], set()
    for i in range(1000):
        truth = rng.choice(["spam", "ham"])
        p_truth = rng.uniform(0.7, 1.0)  # a good model, right about the true class
        probs = {truth: p_truth, ("ham" if truth == "spam" else "spam"): 1 - p_truth}
        label = truth
        if rng.random() < 0.1:
            label = "ham" if truth == "spam" else "spam"
            flipped.add(i)
        probabilities.append(probs)
        labels.append(label)
    found = {s.index for s in find_suspects(probabilities, labels)}
    precision = len(found & flipped) / len(found)
    recall = len(found & flipped) / len(flipped)
    # the model is sure of the true class above 0.78 (the threshold) about 80% of the time
    assert recall > 0.7 and precision > 0.95, (precision, recall)


def test_the_threshold_is_the_mean_probability_of_each_class_among_its_labels():
    probabilities = [{"a": 0.9, "b": 0.1}, {"a": 0.7, "b": 0.3}, {"a": 0.2, "b": 0.8}]
    assert class_thresholds(probabilities, ["a", "a", "b"]) == {"a": 0.8, "b": 0.8}
    [suspect] = find_suspects(probabilities + [{"a": 0.95, "b": 0.05}], ["a", "a", "b", "b"])
    assert (suspect.index, suspect.given, suspect.suggested) == (3, "b", "a")


def test_suspects_come_most_likely_wrong_first():
    probabilities = [{"a": 0.9, "b": 0.1}, {"a": 0.99, "b": 0.01}, {"a": 0.1, "b": 0.9}, {"a": 0.2, "b": 0.8}]
    suspects = find_suspects(probabilities, ["b", "b", "b", "a"])
    assert [s.index for s in suspects][:2] == [1, 0]


def test_a_suspect_accepted_task_is_in_rework_until_its_extra_annotators_are_spent():
    from chalicelib.domain.assignment import MAX_EXTRA_ANNOTATORS, queues_of

    # accepted and clean: in no queue; accepted and suspect: served again (rework), never the pool
    assert queues_of(1, True, 1.0, 1, has_random_key=True, has_score=True) == frozenset()
    assert queues_of(1, True, 1.0, 1, has_random_key=True, has_score=True, suspect=True) == {"rework"}
    # no more people than any rework task gets, and not before anyone labelled it
    assert queues_of(1 + MAX_EXTRA_ANNOTATORS, True, 1.0, 1, True, True, suspect=True) == frozenset()
    assert queues_of(0, False, None, 1, True, True, suspect=True) == {"pool", "scored"}


def _said(*labels):
    return [{"id": f"1.{i}", **choice_completion(label, f"a{i}")} for i, label in enumerate(labels)]


def test_a_review_that_contradicts_a_suspect_label_replaces_it_under_the_projects_rules():
    flagged = frozenset({"1.0"})
    # overlap 1: one contradicting review is the label (the old one no longer holds agreement down)
    state = judge_after_review(_said("ham", "spam"), flagged, 0.6, 1)
    assert (state.accepted, state.agreement, state.n_completions) == (True, 1.0, 2)
    assert state.consensus == judge_after_review(_said("spam"), frozenset(), 0.6, 1).consensus
    # overlap 2: two reviews must agree; once they do, the task is accepted with their label
    assert not judge_after_review(_said("ham", "spam"), flagged, 0.6, 2).accepted
    state = judge_after_review(_said("ham", "spam", "spam"), flagged, 0.6, 2)
    assert state.accepted and state.n_completions == 3
    assert state.consensus == judge_after_review(_said("spam"), frozenset(), 0.6, 1).consensus
    # reviews that disagree among themselves decide nothing
    assert not judge_after_review(_said("ham", "spam", "ham"), flagged, 0.6, 2).accepted


def test_a_review_that_confirms_a_suspect_label_keeps_it_and_no_dispute_changes_nothing():
    state = judge_after_review(_said("ham", "ham"), frozenset({"1.0"}), 0.6, 1)
    assert state.accepted and state.consensus == judge_after_review(_said("ham"), frozenset(), 0.6, 1).consensus
    # without disputed completions the usual rule stands: a disagreement is not accepted
    assert not judge_after_review(_said("ham", "spam"), frozenset(), 0.6, 1).accepted
