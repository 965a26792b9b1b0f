"""Confident learning (domain/suspects.py) finds flipped labels, and agrees with its definition."""
import random

from chalicelib.domain.suspects import class_thresholds, find_suspects


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
