"""Re-judge a task after one of its completions changed: count the change once, recompute the
task's agreement, acceptance, consensus and queue membership, then ask for a training if due.

1. count it exactly once (a transaction puts an idempotency marker and moves the counter);
2. recompute the task's label state from its own completions (one query of that task's
   completions, never of the project's) and store it with an optimistic condition;
3. if the thresholds now hold, request a training (reason `stream`).
Every step is safe to repeat, so replayed stream records change nothing.
"""
import logging

from chalicelib.domain import assignment
from chalicelib.domain.suspects import judge_after_review
from chalicelib.labeling.config import parse_label_config
from chalicelib.services import auto_labeling, training_requests
from chalicelib.store import completions as completion_db
from chalicelib.store import ledger, stream_errors
from chalicelib.store import projects as project_db
from chalicelib.store import tasks as task_db
from chalicelib.telemetry import context, metrics

log = logging.getLogger("activelabel.services.task_state")

MAX_RACE_RETRIES = 8
COUNTED_EVENTS = {"INSERT": +1, "REMOVE": -1}


class StreamBatch:
    """The records of one stream batch: each project is read once for the batch (its settings and
    label config), and whether a training is due is decided once per project when the batch's
    records are applied (`finish`), from a fresh read of its counters. A training requested then
    carries the correlation id of the project's last record in the batch (the one that made it due)."""

    def __init__(self) -> None:
        self.projects: dict = {}
        self.touched: list[str] = []
        self.causes: dict[str, str | None] = {}  # project id -> correlation id of its last record

    def project(self, project_id: str):
        if project_id not in self.projects:
            self.projects[project_id] = project_db.find_project(project_id)
        return self.projects[project_id]

    def completion_changed(self, event_name: str, project_id: str, completion_id: str, image: dict | None = None):
        """`image`: the record's NEW_IMAGE of an INSERT (a task's first completion is then not read again)."""
        project = self.project(project_id)
        if project is None:
            return  # the project was deleted; its completions go with it
        added = completion_db.from_stream_image(image) if event_name == "INSERT" else None
        _rejudge_recording_errors(event_name, project, completion_id, added)
        if project_id not in self.touched:
            self.touched.append(project_id)
        self.causes[project_id] = context.correlation_id()

    def finish(self) -> None:
        """Request the trainings now due (a failure raises: the stream retries the batch's last record)."""
        for project_id in self.touched:
            with context.bind(correlation_id=self.causes.get(project_id), project_id=project_id):
                training_requests.request_if_due(project_id)


def completion_changed(event_name: str, project_id: str, completion_id: str) -> None:
    """One stream record of the completions table (INSERT, MODIFY or REMOVE), as a batch of one."""
    batch = StreamBatch()
    batch.completion_changed(event_name, project_id, completion_id)
    batch.finish()


def _rejudge_recording_errors(event_name: str, project, completion_id: str, added=None) -> None:
    """A failure is kept on the project (shown in /training as `errors`) until the record succeeds,
    then re-raised so the stream retries it."""
    project_id = project.project_id
    try:
        _rejudge(event_name, project, completion_id, added)
    except Exception as exc:
        try:
            stream_errors.record(project_id, completion_id, _describe(exc))
        except Exception:  # noqa: BLE001 - the record's own failure is what the stream must see
            log.exception("could not record the stream error of %s/%s", project_id, completion_id)
        raise
    if completion_id in (project.stream_errors or {}):
        stream_errors.clear(project_id, completion_id)


def _describe(exc: Exception) -> str:
    """The error as a person can act on it (PynamoDB keeps DynamoDB's own reason in `cause_*`)."""
    text = f"{type(exc).__name__}: {exc}"
    code, message = getattr(exc, "cause_response_code", None), getattr(exc, "cause_response_message", None)
    return f"{text} ({code}: {message})" if code or message else text


def _rejudge(event_name: str, project, completion_id: str, added=None) -> None:
    """Count the record once and re-judge its task: one transaction does both when the task's state
    changes (the usual case); otherwise the count is written apart."""
    project_id = project.project_id
    task_id = int(completion_id.split(".", 1)[0])
    count = (f"c#{completion_id}#{event_name.lower()}", COUNTED_EVENTS[event_name]) \
        if event_name in COUNTED_EVENTS else None
    counted = refresh_task(project_id, task_id, project.settings, parse_label_config(project.label_config),
                           added=completion_id if event_name == "INSERT" else None, count=count,
                           known=added if added is not None and added.completion_id == completion_id else None)
    if count is not None and counted is None:
        counted = ledger.count_completion_once(project_id, *count)
    if counted and event_name == "INSERT":
        metrics.emit({"Completions": 1}, project_id)


def _disputed(task, completions: list[dict], added: str | None) -> tuple[frozenset, bool]:
    """On a suspect task: the completions a review sets aside (those standing when the first review
    came, and any by the annotators whose label was flagged, `suspect.annotators`), and whether
    `added` is a review. A delete, or the flagged annotator posting again, is no review: the mark
    stays until someone else labels the task."""
    suspected = frozenset((task.suspect or {}).get("annotators") or ())
    disputed = task.disputed
    if added is not None and not disputed:
        disputed = frozenset(c["id"] for c in completions if c["id"] != added)
    disputed = frozenset(disputed) | {c["id"] for c in completions if c["by"] in suspected}
    return disputed, added is not None and added not in disputed


def refresh_task(project_id: str, task_id: int, settings: dict, config=None, added: str | None = None,
                 count: tuple[str, int] | None = None, known=None) -> bool | None:
    """Recompute one task's label state and store it if it changed (retrying lost races). `added`:
    the completion whose arrival triggered it; on a suspect task the completions standing before it
    become the disputed ones its review may set aside (domain/suspects.judge_after_review).
    `count`: (marker, delta) to count in the state's own write; returns True when it was counted
    there or apart, False when it had been counted before, None when it was not (the caller counts
    it apart). `known`: the added completion as the stream record carries it."""
    counted = None
    for _ in range(MAX_RACE_RETRIES):
        task = task_db.find_task(project_id, task_id)  # read the task before its completions
        if task is None:
            return counted
        completions = [
            {"id": c.completion_id, "result": c.result, "was_cancelled": c.was_cancelled, "by": c.completed_by}
            for c in _completions(task, known)
        ]
        flagged = task.suspect_project is not None  # a suspect label (services/suspects.py)
        disputed, reviewed = _disputed(task, completions, added) if flagged else (task.disputed, False)
        state = judge_after_review(completions, disputed, settings["agreement_threshold"], settings["overlap"],
                                   config)
        queues = assignment.queues_of(state.n_completions, state.accepted, state.agreement, settings["overlap"],
                                      task.random_key is not None, task.score_version is not None, flagged)
        unchanged = (
            queues == task_db.queues_of_task(task)
            and state.accepted == bool(task.accepted)
            and state.consensus == task.consensus
            and state.n_completions == task.n_completions
            and state.agreement == (None if task.agreement is None else float(task.agreement))
        )
        if unchanged:
            return counted  # e.g. a redelivered record: a suspect mark stays
        if reviewed:  # re-judged by someone else's completion: it leaves the suspects (the write removes the mark)
            queues = assignment.queues_of(state.n_completions, state.accepted, state.agreement, settings["overlap"],
                                          task.random_key is not None, task.score_version is not None)
        label_changed = state.accepted != bool(task.accepted) or (
            state.accepted and state.consensus != task.consensus
        )
        if task_db.apply_task_label_state(task, state, label_changed, queues, disputed,
                                          keep_mark=flagged and not reviewed, count=count):
            if state.accepted:
                auto_labeling.record_audit(project_id, task, state.consensus)
            return True if count is not None else counted
        if count is not None:  # a lost race, or the record was counted before: count apart, then retry
            counted, count = ledger.count_completion_once(project_id, *count), None
    raise RuntimeError(f"task {project_id}/{task_id} kept changing under {MAX_RACE_RETRIES} attempts")


def _completions(task, known) -> list:
    """The task's completions: the one `known` when it is the task's first and only one (one slot
    taken, the task never judged, its annotator still on the task: the stream record carries it),
    else one query of the task's completions. A completion deleted before its INSERT is judged
    is judged gone by its REMOVE record, which follows on the same shard."""
    if known is not None and not task.label_rev and int(task.completion_seq or 0) == 1 \
            and known.completion_id == f"{completion_db.completion_prefix(task.task_id)}1" \
            and (known.completed_by == "unknown" or known.completed_by in task.annotators):
        return [known]
    return completion_db.completions_of_task(task.project_id, task.task_id)
