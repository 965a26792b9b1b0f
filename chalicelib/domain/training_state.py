"""When to train, and what state a project's training is in.

A project's training is described by monotonic counters (see store/models.py ProjectModel):
request R = train_request_seq, claimed T = training_seq, finished D = trained_seq. Everything
else is derived, so redelivered events cannot make the state inconsistent.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainingCounters:
    accepted_tasks: int
    label_changes: int
    train_requested_changes: int | None
    train_request_seq: int
    training_seq: int
    trained_seq: int
    last_error: str | None
    has_model: bool
    model_label_changes: int | None
    failed_since_claim: bool = False  # the claimed training raised and awaits its retry


def training_state(c: TrainingCounters) -> str:
    if c.training_seq > c.trained_seq:
        return "failed" if c.failed_since_claim else "training"
    if c.train_request_seq > c.trained_seq:
        return "queued"
    if c.last_error:
        return "failed"
    return "idle"


def auto_training_due(c: TrainingCounters, min_completions: int, retrain_every: int) -> bool:
    """The stream's rule: first training at min_completions, then every `retrain_every` label changes."""
    if c.accepted_tasks < min_completions:
        return False
    if c.train_requested_changes is None:
        return True
    return c.label_changes - c.train_requested_changes >= retrain_every


def scheduled_training_due(c: TrainingCounters, min_completions: int) -> bool:
    """The schedule's rule: any accepted label change newer than the current model, nothing pending."""
    if c.accepted_tasks < min_completions or training_state(c) in ("queued", "training"):
        return False
    if c.train_requested_changes is not None and c.train_requested_changes >= c.label_changes:
        return False  # the newest data was already requested (it may have failed: wait for new data)
    return not c.has_model or (c.model_label_changes or 0) < c.label_changes


def manual_training_refusal(c: TrainingCounters, min_completions: int) -> str | None:
    """Why `POST /train` cannot queue a training now, or None when it can."""
    if c.accepted_tasks < min_completions:
        return (
            f"only {c.accepted_tasks} accepted tasks; min_completions is {min_completions} "
            "(tasks count once their completions reach the overlap and agreement threshold)"
        )
    return None
