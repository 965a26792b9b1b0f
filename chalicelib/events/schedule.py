"""The retraining schedule: retrain projects whose accepted labels are newer than their model,
and re-send training requests whose message was lost (e.g. a crash between the request and the send).
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
    summary = {"requested": [], "resent": []}
    for project in repository.all_projects():
        settings = {**DEFAULTS, **(project.ml or {})}
        if settings.get("model") in (None, "custom"):
            continue
        counters = repository.training_counters(project)
        state = training_state(counters)
        pending = counters.train_request_seq > counters.trained_seq
        stale = project.queued_at is not None and repository.now() - project.queued_at > STALE_AFTER
        if pending and state != "training" and stale:
            seq = counters.train_request_seq
            queue.send_train_request(project.project_id, seq, dedup_suffix=f"-resend-{int(time.time()) // 300}")
            summary["resent"].append(project.project_id)
        elif scheduled_training_due(counters, settings["min_completions"]):
            seq = repository.request_training(project, counters)
            if seq is not None:
                queue.send_train_request(project.project_id, seq)
                summary["requested"].append(project.project_id)
    log.info("schedule: %s", summary)
    return summary
