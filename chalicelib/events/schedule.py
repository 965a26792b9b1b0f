"""The retraining schedule: retrain projects whose accepted labels are newer than their model,
and re-send training requests whose message was never sent (a crash or SQS failure between the
request and the send) or was lost (pending for over 15 minutes, e.g. dropped to the DLQ).
"""
import logging
import time
from datetime import timedelta

from chalicelib.domain.settings import DEFAULTS
from chalicelib.domain.training_state import scheduled_training_due, training_state
from chalicelib.store import queue, repository

log = logging.getLogger("activelabel.events.schedule")
STALE_AFTER = timedelta(minutes=15)


def run_schedule() -> dict:
    """One sweep over every project; a failure on one project is logged and does not stop the rest."""
    summary = {"requested": [], "resent": [], "failed": []}
    for project in repository.all_projects():
        try:
            _sweep_project(project, summary)
        except Exception:  # noqa: BLE001 - the next sweep retries it
            log.exception("schedule: project %s", project.project_id)
            summary["failed"].append(project.project_id)
    log.info("schedule: %s", summary)
    return summary


def _sweep_project(project, summary: dict) -> None:
    settings = {**DEFAULTS, **(project.ml or {})}
    if settings.get("model") in (None, "custom"):
        return
    counters = repository.training_counters(project)
    state = training_state(counters)
    pending = counters.train_request_seq > counters.trained_seq
    stale = project.queued_at is not None and repository.now() - project.queued_at > STALE_AFTER
    unsent = counters.train_request_seq > int(project.train_sent_seq or 0)
    if pending and state != "training" and (stale or unsent):
        seq = counters.train_request_seq
        suffix = "" if unsent else f"-resend-{int(time.time()) // 300}"
        queue.dispatch_train_request(project.project_id, seq, dedup_suffix=suffix)
        summary["resent"].append(project.project_id)
    elif scheduled_training_due(counters, settings["min_completions"]):
        seq = repository.request_training(project, counters)
        if seq is not None:
            queue.dispatch_train_request(project.project_id, seq)
            summary["requested"].append(project.project_id)
