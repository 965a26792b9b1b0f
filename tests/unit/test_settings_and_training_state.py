import pytest

from chalicelib.domain.settings import DEFAULTS, merge_settings
from chalicelib.domain.training_state import (
    TrainingCounters,
    auto_training_due,
    scheduled_training_due,
    training_state,
)
from chalicelib.errors import ValidationError

MODELS = ["text_classifier"]


def counters(**kw):
    base = dict(accepted_tasks=0, label_changes=0, train_requested_changes=None, train_request_seq=0,
                training_seq=0, trained_seq=0, last_error=None, has_model=False, model_label_changes=None)
    base.update(kw)
    return TrainingCounters(**base)


def test_defaults_pick_the_first_fitting_model():
    settings = merge_settings(None, {}, MODELS)
    assert settings["model"] == "text_classifier" and settings["min_completions"] == DEFAULTS["min_completions"]


def test_partial_update_keeps_other_fields():
    first = merge_settings(None, {"min_completions": 20}, MODELS)
    second = merge_settings(first, {"agreement_threshold": 0.75}, MODELS)
    assert second["min_completions"] == 20 and second["agreement_threshold"] == 0.75


@pytest.mark.parametrize("update,field", [
    ({"min_completions": 0}, "ml.min_completions"),
    ({"min_completions": "20"}, "ml.min_completions"),
    ({"min_completions": True}, "ml.min_completions"),
    ({"agreement_threshold": 1.5}, "ml.agreement_threshold"),
    ({"sampling": "smart"}, "ml.sampling"),
    ({"model": "yolo"}, "ml.model"),
    ({"model": "custom"}, "ml.custom_backend"),
    ({"custom_backend": {"url": "ftp://x"}}, "ml.custom_backend.url"),
    ({"colour": 1}, "ml.colour"),
    ({"auto_label": True}, "ml.auto_label"),
    ({"auto_label": {"enabled": "yes"}}, "ml.auto_label.enabled"),
    ({"auto_label": {"target_accuracy": 1.0}}, "ml.auto_label.target_accuracy"),
    ({"auto_label": {"confidence": 0.3}}, "ml.auto_label.confidence"),
    ({"auto_label": {"audit_rate": -0.1}}, "ml.auto_label.audit_rate"),
    ({"auto_label": {"min_validation": 5}}, "ml.auto_label.min_validation"),
    ({"auto_label": {"colour": 1}}, "ml.auto_label.colour"),
])
def test_bad_values_name_the_field(update, field):
    with pytest.raises(ValidationError) as caught:
        merge_settings(None, update, MODELS)
    assert caught.value.field == field and field in caught.value.message


def test_auto_label_settings_update_partially_over_their_defaults():
    from chalicelib.domain.settings import AUTO_LABEL_DEFAULTS, auto_label_settings

    first = merge_settings(None, {"auto_label": {"enabled": True}}, MODELS)
    second = merge_settings(first, {"auto_label": {"audit_rate": 0.1}}, MODELS)
    assert auto_label_settings(second) == {**AUTO_LABEL_DEFAULTS, "enabled": True, "audit_rate": 0.1}
    assert auto_label_settings(merge_settings(None, {}, MODELS)) == AUTO_LABEL_DEFAULTS


def test_first_training_at_min_completions_then_every_n_changes():
    assert not auto_training_due(counters(accepted_tasks=19, label_changes=19), 20, 10)
    assert auto_training_due(counters(accepted_tasks=20, label_changes=20), 20, 10)
    requested = counters(accepted_tasks=25, label_changes=25, train_requested_changes=20)
    assert not auto_training_due(requested, 20, 10)
    assert auto_training_due(counters(accepted_tasks=30, label_changes=30, train_requested_changes=20), 20, 10)


def test_state_is_derived_from_sequence_numbers():
    assert training_state(counters()) == "idle"
    assert training_state(counters(train_request_seq=1)) == "queued"
    assert training_state(counters(train_request_seq=1, training_seq=1)) == "training"
    assert training_state(counters(train_request_seq=1, training_seq=1, failed_since_claim=True)) == "failed"
    assert training_state(counters(train_request_seq=1, training_seq=1, trained_seq=1, last_error="x")) == "failed"
    assert training_state(counters(train_request_seq=1, training_seq=1, trained_seq=1)) == "idle"


def test_schedule_retrains_only_when_labels_are_newer_than_the_model():
    fresh = counters(accepted_tasks=25, label_changes=25, train_requested_changes=20, train_request_seq=1,
                     training_seq=1, trained_seq=1, has_model=True, model_label_changes=20)
    assert scheduled_training_due(fresh, 20)
    current = counters(accepted_tasks=25, label_changes=25, train_requested_changes=25, train_request_seq=2,
                       training_seq=2, trained_seq=2, has_model=True, model_label_changes=25)
    assert not scheduled_training_due(current, 20)
