"""Champion / challenger decisions and the validation share (pure domain code)."""
import pytest

from chalicelib.domain import promotion, validation_set
from chalicelib.domain.settings import merge_settings
from chalicelib.errors import ValidationError


def test_the_validation_share_is_stable_and_about_a_fifth():
    members = [i for i in range(1, 5001) if validation_set.in_validation("7", i)]
    assert 0.18 < len(members) / 5000 < 0.22
    assert members == [i for i in range(1, 5001) if validation_set.in_validation("7", i)]
    assert members != [i for i in range(1, 5001) if validation_set.in_validation("8", i)]


def test_nothing_is_held_out_below_the_floor():
    tasks = list(range(1, 21))
    fit_on, held, held_out = validation_set.split("7", tasks, task_id=lambda t: t)
    assert (fit_on, held, held_out) == (tasks, [], False)
    tasks = list(range(1, 201))
    fit_on, held, held_out = validation_set.split("7", tasks, task_id=lambda t: t)
    assert held_out and len(held) >= 10 and not set(fit_on) & set(held) and sorted(fit_on + held) == tasks


def test_t_quantile_matches_tables():
    for dof, table in ((5, 2.015), (9, 1.833), (30, 1.697)):
        assert abs(promotion.t_quantile(promotion.CONFIDENCE_Z, dof) - table) < 0.01


def test_clearly_worse_is_rejected_equal_or_noisy_is_promoted():
    champion = [1.0] * 20
    worse = [1.0] * 12 + [0.0] * 8
    assert promotion.compare(worse, champion).worse
    assert promotion.decide("if_not_worse", None, promotion.compare(worse, champion), None).status == "rejected"
    assert promotion.decide("always", None, promotion.compare(worse, champion), None).status == "promoted"
    # one task of ten lost, one won: no evidence either way
    mixed = [0.0] + [1.0] * 9
    other = [1.0] * 9 + [0.0]
    assert not promotion.compare(mixed, other).worse
    # a tiny real loss on many tasks is within the tolerance
    big = [1.0] * 1000
    slightly = [1.0] * 995 + [0.0] * 5
    assert not promotion.compare(slightly, big).worse
    # two wrong of five is not proof with five tasks
    assert not promotion.compare([1, 1, 1, 0, 0], [1] * 5).worse


def test_a_pinned_project_holds_every_new_version():
    decision = promotion.decide("always", 3, None, "the project's first model")
    assert (decision.promote, decision.status) == (False, "held") and "v3" in decision.reason


def test_task_quality_per_problem():
    assert promotion.task_quality("classification", "spam", "spam") == 1.0
    assert promotion.task_quality("multilabel", ("a", "b"), ("a",)) == 0.5
    assert promotion.task_quality("spans", [(0, 4, "X")], [(0, 4, "X"), (5, 6, "Y")]) == pytest.approx(2 / 3)
    assert promotion.task_quality("regression", 3.0, 4.0, scale=4.0) == 0.75


@pytest.mark.parametrize("update, field", [
    ({"promotion": "sometimes"}, "ml.promotion"),
    ({"pinned_version": 0}, "ml.pinned_version"),
    ({"pinned_version": "v2"}, "ml.pinned_version"),
    ({"preannotate": "yes"}, "ml.preannotate"),
])
def test_promotion_settings_are_validated(update, field):
    with pytest.raises(ValidationError) as caught:
        merge_settings(None, update, ["text_classifier"])
    assert caught.value.field == field
    merged = merge_settings(None, {"promotion": "always", "pinned_version": 2, "preannotate": False},
                            ["text_classifier"])
    assert (merged["promotion"], merged["pinned_version"], merged["preannotate"]) == ("always", 2, False)
    assert merge_settings(None, {}, ["text_classifier"])["promotion"] == "if_not_worse"
