"""The completions table's stream: count completions once, re-judge the task, request training.

For each INSERT / MODIFY / REMOVE of a completion:
1. count it exactly once (a transaction puts an idempotency marker and moves the counter);
2. recompute the task's agreement, acceptance and consensus from its own completions (one query of
   that task's completions, never of the project's) and store it with an optimistic condition;
3. if the thresholds now hold, put exactly one training request on the train queue.
Every step is safe to repeat, so replayed batches change nothing.
"""
import logging

from chalicelib.domain import assignment
from chalicelib.domain.agreement import evaluate_task
from chalicelib.domain.settings import DEFAULTS
from chalicelib.domain.training_state import auto_training_due
from chalicelib.labeling.config import parse_label_config
from chalicelib.store import queue, repository

log = logging.getLogger("activelabel.events.completions")
MAX_RACE_RETRIES = 8


def handle_record(event_name: str, keys: dict) -> None:
    project_id = keys["project_id"]["S"]
    completion_id = keys["completion_id"]["S"]
    task_id = int(completion_id.split(".", 1)[0])
    project = repository.find_project(project_id)
    if project is None:
        return  # the project was deleted; its completions go with it
    if event_name == "INSERT":
        repository.count_completion_once(project_id, f"c#{completion_id}#insert", +1)
    elif event_name == "REMOVE":
        repository.count_completion_once(project_id, f"c#{completion_id}#remove", -1)
    settings = {**DEFAULTS, **(project.ml or {})}
    refresh_task(project_id, task_id, settings, parse_label_config(project.label_config))
    request_training_if_due(project_id)


def refresh_task(project_id: str, task_id: int, settings: dict, config=None) -> None:
    """Recompute one task's label state and store it if it changed (retrying lost races)."""
    for _ in range(MAX_RACE_RETRIES):
        task = repository.find_task(project_id, task_id)  # read the task before its completions
        if task is None:
            return
        completions = [
            {"result": c.result, "was_cancelled": c.was_cancelled}
            for c in repository.completions_of_task(project_id, task_id)
        ]
        state = evaluate_task(completions, settings["agreement_threshold"], settings["overlap"], config)
        pool = assignment.in_pool(state.n_completions) and task.random_key is not None
        rework = (assignment.wants_annotator(state.n_completions, state.accepted, settings["overlap"])
                  and state.agreement is not None)
        unchanged = (
            pool == (task.pool_project is not None)
            and rework == (task.rework_project is not None)
            and state.accepted == bool(task.accepted)
            and state.consensus == task.consensus
            and state.n_completions == int(task.n_completions or 0)
            and state.agreement == (None if task.agreement is None else float(task.agreement))
        )
        if unchanged:
            return
        label_changed = state.accepted != bool(task.accepted) or (
            state.accepted and state.consensus != task.consensus
        )
        if repository.apply_task_label_state(task, state, label_changed, pool, rework):
            return
    raise RuntimeError(f"task {project_id}/{task_id} kept changing under {MAX_RACE_RETRIES} attempts")


def request_training_if_due(project_id: str) -> int | None:
    """Queue one training when the project's thresholds hold; returns the request's sequence number."""
    for _ in range(MAX_RACE_RETRIES):
        project = repository.find_project(project_id)
        if project is None:
            return None
        settings = {**DEFAULTS, **(project.ml or {})}
        if settings.get("model") is None:
            return None  # no model fits the config (a custom backend's training is forwarded by the worker)
        counters = repository.training_counters(project)
        pending = counters.train_request_seq
        if pending > int(project.train_sent_seq or 0) and counters.training_seq < pending:
            queue.dispatch_train_request(project_id, pending)  # an earlier send failed or crashed
            return pending
        if not auto_training_due(counters, settings["min_completions"], settings["retrain_every"]):
            return None
        seq = repository.request_training(project, counters)
        if seq is not None:
            queue.dispatch_train_request(project_id, seq)
            log.info("project %s: training request %s queued", project_id, seq)
            return seq
    return None


def handle_stream_batch(event) -> dict:
    """Chalice DynamoDBEvent -> partial batch response (stops at the first failing record)."""
    from chalicelib.events.batch import process_batch

    return process_batch(
        event,
        lambda record: handle_record(record.event_name, record.keys),
        identifier=lambda record: record.sequence_number,
        ordered=True,
    )
