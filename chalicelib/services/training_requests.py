"""Request a training: the one place that decides whether to queue one and queues it.

Four reasons ask for a training:
- `stream`: a completion changed and the project's thresholds now hold (events/completion_stream.py);
- `manual`: `POST /api/projects/{id}/train`;
- `labelstudio`: Label Studio's START_TRAINING, legacy `/train`, or the end of an export pull;
- `schedule`: the hourly sweep, which also re-sends requests whose message was never sent or was lost.
Each request is one conditional write on the project's counters (`training_db.request_training`)
then one FIFO message, so concurrent or repeated asks queue one training.
"""
import logging
import time
from datetime import timedelta

from chalicelib.domain.training_state import (
    auto_training_due,
    manual_training_refusal,
    scheduled_training_due,
    training_state,
)
from chalicelib.errors import ConflictError
from chalicelib.services import auto_labeling, suspects
from chalicelib.store import dynamo, queue, stream_errors
from chalicelib.store import projects as project_db
from chalicelib.store import training as training_db

log = logging.getLogger("activelabel.services.training_requests")
REASONS = ("stream", "manual", "labelstudio", "schedule")
MAX_RACE_RETRIES = 8
MANUAL_RETRIES = 5
STALE_AFTER = timedelta(minutes=15)


def _queue(project, counters, reason: str) -> int | None:
    """One request if the counters are still those read; its sequence number, or None (lost race)."""
    assert reason in REASONS, reason
    seq = training_db.request_training(project.project_id, counters)
    if seq is not None:
        queue.dispatch_train_request(project.project_id, seq)
        log.info("project %s: training request %s queued (%s)", project.project_id, seq, reason)
    return seq


def status(project_id: str) -> dict:
    """What `GET /training` shows."""
    project = project_db.get_project(project_id, consistent=True)
    counters = project.counters
    return {
        "state": training_state(counters),
        "accepted_tasks": counters.accepted_tasks,
        "completions": project.completions_count,
        "last_error": project.last_error,
        "errors": stream_errors.as_list(project.stream_errors),
        "auto_label": auto_labeling.status(project),
        # the cheap counts (counters and the suspects index); /report counts every task
        "labels": {"human": counters.accepted_tasks, "audited": int(project.audit_n or 0),
                   "suspect": suspects.count(project_id)},
        "model_version": project.model_version,
        "min_completions": project.settings["min_completions"],
        "request_seq": counters.train_request_seq,
        "trained_seq": counters.trained_seq,
    }


def request(project_id: str, reason: str) -> dict:
    """Queue a training now (`manual`, `labelstudio`): {"state", "request_seq"}. Idempotent while
    one is queued; 409 when no model fits or the thresholds do not hold yet."""
    for _ in range(MANUAL_RETRIES):
        project = project_db.get_project(project_id, consistent=True)
        settings = project.settings
        if settings.get("model") is None:
            raise ConflictError("no model fits this project; choose 'custom' with a custom_backend", "model")
        counters = project.counters
        if counters.train_request_seq > counters.trained_seq:
            return {"state": training_state(counters), "request_seq": counters.train_request_seq}
        refusal = manual_training_refusal(counters, settings["min_completions"])
        if refusal:
            raise ConflictError(refusal, "min_completions")
        seq = _queue(project, counters, reason)
        if seq is not None:
            return {"state": "queued", "request_seq": seq}
    raise ConflictError("the project changed concurrently; retry", "project_id")


def request_if_due(project_id: str) -> int | None:
    """`stream`: queue one training when the project's thresholds hold (or re-send a request whose
    send failed); returns the request's sequence number."""
    for _ in range(MAX_RACE_RETRIES):
        project = project_db.find_project(project_id)
        if project is None:
            return None
        settings = project.settings
        if settings.get("model") is None:
            return None  # no model fits the config (a custom backend's training is forwarded by the worker)
        counters = project.counters
        pending = counters.train_request_seq
        if pending > project.train_sent_seq and counters.training_seq < pending:
            queue.dispatch_train_request(project_id, pending)  # an earlier send failed or crashed
            return pending
        if not auto_training_due(counters, settings["min_completions"], settings["retrain_every"]):
            return None
        seq = _queue(project, counters, "stream")
        if seq is not None:
            return seq
    return None


def sweep() -> dict:
    """`schedule`: one pass over every project; a failure on one is logged and does not stop the rest."""
    summary = {"requested": [], "resent": [], "failed": []}
    for project in project_db.all_projects():
        try:
            _sweep_project(project, summary)
        except Exception:  # noqa: BLE001 - the next sweep retries it
            log.exception("schedule: project %s", project.project_id)
            summary["failed"].append(project.project_id)
    log.info("schedule: %s", summary)
    return summary


def _sweep_project(project, summary: dict) -> None:
    settings = project.settings
    if settings.get("model") in (None, "custom"):
        return
    counters = project.counters
    pending = counters.train_request_seq > counters.trained_seq
    stale = project.queued_at is not None and dynamo.now() - project.queued_at > STALE_AFTER
    unsent = counters.train_request_seq > project.train_sent_seq
    if pending and training_state(counters) != "training" and (stale or unsent):
        suffix = "" if unsent else f"-resend-{int(time.time()) // 300}"
        queue.dispatch_train_request(project.project_id, counters.train_request_seq, dedup_suffix=suffix)
        summary["resent"].append(project.project_id)
    elif scheduled_training_due(counters, settings["min_completions"]) and _queue(project, counters, "schedule"):
        summary["requested"].append(project.project_id)
