from chalicelib.domain.agreement import Answer, evaluate_task, task_agreement


def choice(label, *more, cancelled=False):
    return {"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                        "value": {"choices": [label, *more]}}], "was_cancelled": cancelled}


def test_single_completion_counts_as_full_agreement():
    state = evaluate_task([choice("spam")], agreement_threshold=0.9, overlap=1)
    assert state.agreement == 1.0 and state.accepted and state.consensus == {"label": ["spam"]}


def test_pairwise_exact_match_mean():
    state = evaluate_task([choice("spam"), choice("spam"), choice("ham")], 0.3, 1)
    assert abs(state.agreement - 1 / 3) < 1e-6 and state.accepted
    assert state.consensus == {"label": ["spam"]}  # majority vote


def test_disagreement_below_threshold_is_not_accepted():
    state = evaluate_task([choice("spam"), choice("ham")], 0.6, 1)
    assert state.agreement == 0.0 and not state.accepted and state.consensus is None


def test_cancelled_and_empty_completions_do_not_count():
    empty = {"result": [], "was_cancelled": False}
    state = evaluate_task([choice("spam"), choice("ham", cancelled=True), empty], 0.9, 1)
    assert state.n_completions == 1 and state.accepted


def test_overlap_not_reached():
    assert not evaluate_task([choice("spam")], 0.5, overlap=2).accepted


def test_multiple_choices_use_jaccard():
    a = {"label": Answer("choices", ["a", "b"])}
    b = {"label": Answer("choices", ["b", "c"])}
    assert abs(task_agreement([a, b]) - 1 / 3) < 1e-9


def test_tie_goes_to_first_answer():
    state = evaluate_task([choice("ham"), choice("spam")], 0.0, 1)
    assert state.consensus == {"label": ["ham"]}
