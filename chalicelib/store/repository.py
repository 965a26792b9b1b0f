"""DynamoDB reads and writes, behind plain functions the API and event handlers call.

Every write that must happen once uses a condition or a transaction, so redelivered events and
retried requests change nothing (see docs/architecture.md, "Exactly-once counting").
"""
import base64
import json
import time
from datetime import datetime, timezone

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib import config
from chalicelib.domain.training_state import TrainingCounters
from chalicelib.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.store.models import (
    CompletionModel,
    LedgerModel,
    ModelVersionModel,
    ProjectModel,
    TaskModel,
    TokenModel,
)

MARKER_TTL_SECONDS = 8 * 24 * 3600  # longer than the 24 h stream retention


def now() -> datetime:
    return datetime.now(timezone.utc)


_connections: dict = {}


def _connection() -> Connection:
    """A PynamoDB connection for transactions, cached per warm container (and per endpoint,
    so tests that restart moto get a fresh one): creating a botocore client costs ~100 ms."""
    import os

    key = (config.region(), os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"))
    if key not in _connections:
        _connections.clear()
        _connections[key] = Connection(region=config.region())
    return _connections[key]


def _is_conditional_failure(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    if cause == "ConditionalCheckFailedException":
        return True
    if cause == "TransactionCanceledException":
        reasons = getattr(exc, "cancellation_reasons", None) or []
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)
    return False


# ---------------------------------------------------------------- pagination

def encode_cursor(last_key: dict | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str | None) -> dict | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise ValidationError("cursor", "is not a cursor returned by this API")
    if not isinstance(value, dict):
        raise ValidationError("cursor", "is not a cursor returned by this API")
    return value


def _page(result_iterator, limit: int):
    items = list(result_iterator)
    return items, encode_cursor(result_iterator.last_evaluated_key) if len(items) >= limit else None


# ---------------------------------------------------------------- id counters

def next_counter(name: str) -> int:
    item = LedgerModel(pk="counter", sk=name)
    item.update(actions=[LedgerModel.value.add(1)])
    return int(item.value)


# ---------------------------------------------------------------- projects

def create_project(title: str, label_config: str, ml: dict) -> ProjectModel:
    project_id = str(next_counter("projects"))
    ts = now()
    project = ProjectModel(
        project_id=project_id, title=title, label_config=label_config, ml=ml,
        created_at=ts, updated_at=ts,
    )
    project.save(condition=ProjectModel.project_id.does_not_exist())
    return project


def get_project(project_id: str, consistent: bool = False) -> ProjectModel:
    try:
        return ProjectModel.get(project_id, consistent_read=consistent)
    except DoesNotExist:
        raise NotFoundError(f"project {project_id!r} not found", "project_id")


def find_project(project_id: str, consistent: bool = True) -> ProjectModel | None:
    try:
        return ProjectModel.get(project_id, consistent_read=consistent)
    except DoesNotExist:
        return None


def list_projects(limit: int, cursor: str | None):
    return _page(ProjectModel.scan(limit=limit, last_evaluated_key=decode_cursor(cursor)), limit)


def get_projects(project_ids) -> list[ProjectModel]:
    """The existing projects among `project_ids` (one BatchGetItem per 100), in numeric id order."""
    found = list(ProjectModel.batch_get(list(dict.fromkeys(project_ids))))
    return sorted(found, key=lambda p: (len(p.project_id), p.project_id))


def all_projects():
    return ProjectModel.scan()


def update_project(project: ProjectModel, **fields) -> ProjectModel:
    actions = [getattr(ProjectModel, key).set(value) for key, value in fields.items()]
    actions.append(ProjectModel.updated_at.set(now()))
    try:
        project.update(actions=actions, condition=ProjectModel.project_id.exists())
    except UpdateError as exc:
        if _is_conditional_failure(exc):
            raise NotFoundError(f"project {project.project_id!r} not found", "project_id")
        raise
    return project


def delete_project(project_id: str) -> None:
    """Delete the project, then its tasks, completions and model-version records."""
    get_project(project_id).delete()
    for model in (TaskModel, CompletionModel, ModelVersionModel):
        with model.batch_write() as batch:
            for item in model.query(project_id):
                batch.delete(item)


def training_counters(project: ProjectModel) -> TrainingCounters:
    return TrainingCounters(
        accepted_tasks=int(project.accepted_tasks or 0),
        label_changes=int(project.label_changes or 0),
        train_requested_changes=None if project.train_requested_changes is None else int(project.train_requested_changes),
        train_request_seq=int(project.train_request_seq or 0),
        training_seq=int(project.training_seq or 0),
        trained_seq=int(project.trained_seq or 0),
        last_error=project.last_error,
        has_model=project.active_version is not None,
        model_label_changes=None if project.model_label_changes is None else int(project.model_label_changes),
        failed_since_claim=bool(
            project.last_error_at and project.training_started_at
            and project.last_error_at >= project.training_started_at
        ),
    )


# ---------------------------------------------------------------- tasks

def reserve_task_ids(project_id: str, count: int) -> int:
    """Atomically reserve `count` consecutive task ids; returns the first."""
    project = ProjectModel(project_id=project_id)
    try:
        project.update(actions=[ProjectModel.task_seq.add(count)], condition=ProjectModel.project_id.exists())
    except UpdateError as exc:
        if _is_conditional_failure(exc):
            raise NotFoundError(f"project {project_id!r} not found", "project_id")
        raise
    return int(project.task_seq) - count + 1


BATCH_WRITE_LIMIT = 25


def _batch_put(model, items: list) -> None:
    with model.batch_write() as batch:
        for item in items:
            batch.save(item)


def _batch_delete(model, items: list) -> None:
    with model.batch_write() as batch:
        for item in items:
            batch.delete(item)


def put_tasks(tasks: list[TaskModel], completions: list[CompletionModel]) -> None:
    """Store an import: all of it, or nothing.

    BatchWriteItem is not atomic (and an import is larger than a transaction's 100 items), so the
    items are written 25 at a time, tasks first; if a write fails part-way, every item attempted
    so far is deleted again and ImportIncompleteError says nothing is stored. Only if that
    clean-up fails too does the error list the task ids that may remain. Task ids are never
    reused, so deleted imports leave gaps, not clashes; completions written and deleted again are
    counted in and out by the stream (each exactly once).
    """
    from chalicelib.errors import ImportIncompleteError

    attempted: list[tuple] = []  # (model, chunk), in write order
    try:
        for model, items in ((TaskModel, tasks), (CompletionModel, completions)):
            for start in range(0, len(items), BATCH_WRITE_LIMIT):
                chunk = items[start:start + BATCH_WRITE_LIMIT]
                attempted.append((model, chunk))
                _batch_put(model, chunk)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        try:
            for model, chunk in reversed(attempted):
                _batch_delete(model, chunk)
        except Exception as cleanup:
            stored = _stored_task_ids([item for model, chunk in attempted if model is TaskModel for item in chunk])
            raise ImportIncompleteError(
                f"the import failed part-way ({reason}) and removing the partial write failed too "
                f"({type(cleanup).__name__}); stored_task_ids are stored (with their annotations): "
                "import the other tasks only", stored,
            ) from exc
        raise ImportIncompleteError(
            f"the import failed part-way ({reason}); what was written has been removed, nothing is "
            "stored: retry the whole import", [],
        ) from exc


def _stored_task_ids(tasks: list[TaskModel]) -> list[str]:
    """Which of `tasks` exist (strongly consistent); on a read failure, all of them (may exist)."""
    if not tasks:
        return []
    try:
        keys = [(t.project_id, t.task_id) for t in tasks]
        found = {int(t.task_id) for t in TaskModel.batch_get(keys, consistent_read=True)}
    except Exception:
        found = {int(t.task_id) for t in tasks}
    return [str(t.task_id) for t in tasks if int(t.task_id) in found]


def get_task(project_id: str, task_id: int) -> TaskModel:
    try:
        return TaskModel.get(project_id, task_id)
    except DoesNotExist:
        raise NotFoundError(f"task {task_id} not found in project {project_id}", "task_id")


def find_task(project_id: str, task_id: int) -> TaskModel | None:
    try:
        return TaskModel.get(project_id, task_id, consistent_read=True)
    except DoesNotExist:
        return None


def list_tasks(project_id: str, limit: int, cursor: str | None):
    return _page(TaskModel.query(project_id, limit=limit, last_evaluated_key=decode_cursor(cursor)), limit)


def iter_tasks(project_id: str):
    return TaskModel.query(project_id)


def accepted_tasks(project_id: str):
    """The accepted tasks, from the sparse `accepted` index (no scan of the pool)."""
    return TaskModel.accepted_index.query(project_id)


# ---------------------------------------------------------------- completions

def completion_prefix(task_id: int) -> str:
    return f"{task_id}."


def add_completion(project_id: str, task_id: int, completion: dict, max_per_task: int,
                   completion_id: str | None = None) -> CompletionModel:
    """Store a completion: a new one takes one of the task's `max_per_task` completion slots.

    The slot is taken by one conditional update (the task exists and has allocated fewer than
    `max_per_task`), so concurrent requests can neither share an id nor exceed the limit. The same
    write records the annotator (never served this task again) and takes the task out of the
    unlabeled pool indexes at once; the stream handler then decides whether it wants another
    annotator (the `rework` index). The annotator's own lock on the task is released.

    `completion_id` names a completion made elsewhere (a Label Studio annotation): if it is stored
    already, it is rewritten in place (an edit or a redelivery takes no new slot).
    """
    if completion_id is not None and _completion_exists(project_id, completion_id):
        item = new_completion_item(project_id, task_id, completion_id, completion)
        item.save()
        return item
    annotator = completion.get("completed_by") or "unknown"
    # one completion per annotator and task through our API (a Label Studio annotation, which has
    # its own id, follows Label Studio's rules): one person cannot meet `overlap` alone
    task = _take_completion_slot(project_id, task_id, annotator, max_per_task,
                                 once_per_annotator=completion_id is None and annotator != "unknown")
    if completion_id is None:
        item = new_completion_item(project_id, task_id, f"{completion_prefix(task_id)}{int(task.completion_seq)}",
                                   completion)
        item.save(condition=CompletionModel.completion_id.does_not_exist())
    else:  # a concurrent redelivery of the same annotation writes the same item
        item = new_completion_item(project_id, task_id, completion_id, completion)
        item.save()
    if task.lock_owner == annotator:
        release_lock(project_id, task_id, annotator)
    return item


def _take_completion_slot(project_id: str, task_id: int, annotator: str, max_per_task: int,
                          once_per_annotator: bool = False) -> TaskModel:
    task = TaskModel(project_id=project_id, task_id=task_id)
    condition = TaskModel.task_id.exists() & (TaskModel.completion_seq < max_per_task)
    if once_per_annotator:
        condition &= TaskModel.annotators.does_not_exist() | ~TaskModel.annotators.contains(annotator)
    try:
        task.update(actions=[
            TaskModel.completion_seq.add(1),
            TaskModel.annotators.add({annotator}),
            TaskModel.pool_project.remove(),
            TaskModel.scored_project.remove(),
        ], condition=condition)
    except UpdateError as exc:
        if not _is_conditional_failure(exc):
            raise
        current = find_task(project_id, task_id)
        if current is None:
            raise NotFoundError(f"task {task_id} not found in project {project_id}", "task_id")
        if once_per_annotator and annotator in (current.annotators or set()):
            raise ConflictError(f"{annotator!r} has already completed task {task_id}; delete that completion "
                                "to label it again", "completed_by")
        raise ValidationError("task_id", f"task {task_id} already has {max_per_task} completions (the limit)")
    return task


def forget_annotator(project_id: str, task_id: int, annotator: str) -> None:
    """After their completion is deleted, `annotator` may complete (and be served) the task again."""
    try:
        TaskModel(project_id=project_id, task_id=task_id).update(
            actions=[TaskModel.annotators.delete({annotator})], condition=TaskModel.task_id.exists())
    except UpdateError as exc:
        if not _is_conditional_failure(exc):
            raise


def _completion_exists(project_id: str, completion_id: str) -> bool:
    try:
        CompletionModel.get(project_id, completion_id, consistent_read=True, attributes_to_get=["completion_id"])
    except DoesNotExist:
        return False
    return True


def new_completion_item(project_id: str, task_id: int, completion_id: str, completion: dict) -> CompletionModel:
    ts = now()
    return CompletionModel(
        project_id=project_id,
        completion_id=completion_id,
        task_id=task_id,
        result=completion["result"],
        completed_by=completion.get("completed_by") or "unknown",
        recorded_by=completion.get("recorded_by"),
        was_cancelled=bool(completion.get("was_cancelled")),
        ground_truth=bool(completion.get("ground_truth")),
        lead_time=completion.get("lead_time"),
        created_at=ts,
        updated_at=ts,
    )


def completions_of_task(project_id: str, task_id: int) -> list[CompletionModel]:
    return list(CompletionModel.query(
        project_id,
        CompletionModel.completion_id.startswith(completion_prefix(task_id)),
        consistent_read=True,
    ))


def iter_completions(project_id: str):
    return CompletionModel.query(project_id)


def delete_completion(project_id: str, completion_id: str) -> None:
    CompletionModel(project_id=project_id, completion_id=completion_id).delete()


def get_completion(project_id: str, completion_id: str) -> CompletionModel:
    try:
        return CompletionModel.get(project_id, completion_id)
    except DoesNotExist:
        raise NotFoundError(f"completion {completion_id!r} not found in project {project_id}", "completion_id")


# ---------------------------------------------------------------- exactly-once counting

def count_completion_once(project_id: str, marker: str, delta: int) -> bool:
    """Add `delta` to the project's completion count unless `marker` was already counted.

    One transaction: the marker is put only if absent, and the counter moves only with it.
    Returns False when the marker existed (a redelivered record).
    """
    marker_item = LedgerModel(pk=f"p#{project_id}", sk=marker, expires_at=int(time.time()) + MARKER_TTL_SECONDS)
    try:
        with TransactWrite(connection=_connection()) as tx:
            tx.save(marker_item, condition=LedgerModel.sk.does_not_exist())
            tx.update(
                ProjectModel(project_id=project_id),
                actions=[ProjectModel.completions_count.add(delta)],
                condition=ProjectModel.project_id.exists(),
            )
    except TransactWriteError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


def marker_exists(project_id: str, marker: str) -> bool:
    try:
        LedgerModel.get(f"p#{project_id}", marker, consistent_read=True)
    except DoesNotExist:
        return False
    return True


def put_marker(project_id: str, marker: str) -> None:
    """Record that `marker`'s work is done (idempotent; expires like the stream's markers)."""
    LedgerModel(pk=f"p#{project_id}", sk=marker, expires_at=int(time.time()) + MARKER_TTL_SECONDS).save()


def apply_task_label_state(task: TaskModel, state, label_changed: bool, in_pool: bool, wants_annotator: bool) -> bool:
    """Store the task's new agreement/acceptance and move the project's counters with it.

    Also sets the task's membership of the active-learning indexes: `in_pool` (nobody completed it:
    `pool`, and `scored` if a model scored it) and `wants_annotator` (`rework`).
    Optimistic: succeeds only if the task's `label_rev` is still the one read. Returns False on
    a lost race (the caller re-reads and recomputes).
    """
    accepted_delta = int(state.accepted) - int(bool(task.accepted))
    task_actions = [
        TaskModel.label_rev.add(1),
        TaskModel.n_completions.set(state.n_completions),
        TaskModel.accepted.set(state.accepted),
    ]
    task_actions.append(
        TaskModel.agreement.set(state.agreement) if state.agreement is not None else TaskModel.agreement.remove()
    )
    if state.accepted:
        task_actions += [TaskModel.consensus.set(state.consensus), TaskModel.accepted_project.set(task.project_id)]
    else:
        task_actions += [TaskModel.consensus.remove(), TaskModel.accepted_project.remove()]
    in_pool = in_pool and task.random_key is not None
    task_actions.append(TaskModel.pool_project.set(task.project_id) if in_pool else TaskModel.pool_project.remove())
    task_actions.append(TaskModel.scored_project.set(task.project_id)
                        if in_pool and task.score_version is not None else TaskModel.scored_project.remove())
    task_actions.append(TaskModel.rework_project.set(task.project_id)
                        if wants_annotator and state.agreement is not None else TaskModel.rework_project.remove())
    condition = TaskModel.label_rev == int(task.label_rev or 0)
    project_actions = []
    if accepted_delta:
        project_actions.append(ProjectModel.accepted_tasks.add(accepted_delta))
    if label_changed:
        project_actions.append(ProjectModel.label_changes.add(1))
    try:
        with TransactWrite(connection=_connection()) as tx:
            tx.update(TaskModel(project_id=task.project_id, task_id=task.task_id), actions=task_actions,
                      condition=condition)
            if project_actions:
                tx.update(ProjectModel(project_id=task.project_id), actions=project_actions,
                          condition=ProjectModel.project_id.exists())
    except TransactWriteError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


# ---------------------------------------------------------------- active learning: serving and locks

def _open_for(annotator: str, now_s: float):
    """Tasks `annotator` may be served: unlocked (or lock expired, or their own) and not done by them."""
    unlocked = (TaskModel.lock_until.does_not_exist() | (TaskModel.lock_until < now_s)
                | (TaskModel.lock_owner == annotator))
    return unlocked & (TaskModel.annotators.does_not_exist() | ~TaskModel.annotators.contains(annotator))


QUEUE_INDEXES = {"rework": TaskModel.rework_index, "scored": TaskModel.scored_index, "pool": TaskModel.pool_index}


def queue_candidates(index: str, project_id: str, annotator: str, now_s: float, limit: int, start_key=None):
    """One page (one Query of `limit` index items, read in index order) of the tasks of `index`
    that `annotator` may take now. Returns (tasks, key to continue from or None). The tasks hold
    only their keys and the index's QUEUE_PROJECTION (no data): `lock_task` fills in the rest."""
    result = QUEUE_INDEXES[index].query(
        project_id, filter_condition=_open_for(annotator, now_s),
        last_evaluated_key=start_key, page_size=limit)
    page = next(result.page_iter)  # exactly one request: the iterator would fetch on past filtered items
    tasks = [TaskModel.from_raw_data(item) for item in page.get("Items", [])]
    return tasks, result.page_iter.last_evaluated_key


def lock_task(task: TaskModel, annotator: str, now_s: float, ttl_s: float) -> bool:
    """Lock `task` for `annotator` until now + ttl, if nobody else holds it, the annotator has not
    done it, and it is still waiting for an annotator (conditional write: one winner). On success
    `task` holds the whole item as written (the update returns ALL_NEW)."""
    still_open = (TaskModel.pool_project.exists() | TaskModel.rework_project.exists())
    try:
        task.update(
            actions=[TaskModel.lock_owner.set(annotator), TaskModel.lock_until.set(now_s + ttl_s)],
            condition=_open_for(annotator, now_s) & still_open,
        )
    except UpdateError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


def release_lock(project_id: str, task_id: int, owner: str) -> bool:
    try:
        TaskModel(project_id=project_id, task_id=task_id).update(
            actions=[TaskModel.lock_owner.remove(), TaskModel.lock_until.remove()],
            condition=TaskModel.lock_owner == owner,
        )
    except UpdateError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


# ---------------------------------------------------------------- active learning: scores

RESCORING_ATTRIBUTES = ["task_id", "data", "random_key", "pool_project", "completion_seq"]


def rescoring_tasks_in_range(project_id: str, first: int, last: int) -> list[TaskModel]:
    """Tasks with ids in [first, last] that are in the unlabeled pool or have no random key yet
    (imported before random keys existed, see `backfill_random_key`).

    One bounded range query: a key condition on the table's sort key, so DynamoDB reads only the
    range; only the attributes rescoring uses come back.
    """
    return list(TaskModel.query(
        project_id, TaskModel.task_id.between(first, last),
        filter_condition=TaskModel.pool_project.exists() | TaskModel.random_key.does_not_exist(),
        attributes_to_get=RESCORING_ATTRIBUTES,
    ))


def _update_task(project_id: str, task_id: int, actions: list, condition) -> bool:
    """One UpdateItem on a task that returns nothing (pynamodb's Model.update asks for the whole
    item back, ReturnValues=ALL_NEW, which rescoring never reads); False when `condition` fails."""
    try:
        TaskModel._get_connection().update_item(
            project_id, range_key=TaskModel.task_id.serialize(task_id), actions=actions, condition=condition,
            return_values="NONE")
    except UpdateError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


def store_score(project_id: str, task_id: int, priority: float, version: int) -> bool:
    """Rank an unlabeled task by model `version`, unless a newer model already ranked it or the
    task left the pool. Idempotent: rewriting the same version's score changes nothing."""
    return _update_task(
        project_id, task_id,
        [TaskModel.priority.set(priority), TaskModel.score_version.set(version),
         TaskModel.scored_project.set(project_id)],
        TaskModel.pool_project.exists() & (
            TaskModel.score_version.does_not_exist() | (TaskModel.score_version <= version)))


def backfill_random_key(project_id: str, task_id: int, random_key: float) -> str | None:
    """Give a task imported before random keys existed its key, and put it in the unlabeled pool
    (the `pool` index) if nobody has ever started a completion of it.

    Returns "pool" (key set, task in the pool), "key" (key set; the task has or had completions,
    so its pool membership stays the stream handler's to decide, as for any task) or None (it
    already had a key, or was deleted: nothing written). Idempotent under redelivery and
    concurrency: every write is conditional on the key being absent, so the first writer's key
    stays; the pool condition (`completion_seq` = 0) is checked in the same write as the key, and
    allocating a completion increments `completion_seq` in one conditional write
    (`add_completion`), so a task being annotated is never put back in the pool.
    """
    keyless = TaskModel.task_id.exists() & TaskModel.random_key.does_not_exist()  # never creates a deleted task
    never_started = TaskModel.completion_seq.does_not_exist() | (TaskModel.completion_seq == 0)
    if _update_task(project_id, task_id,
                    [TaskModel.random_key.set(random_key), TaskModel.pool_project.set(project_id)],
                    keyless & never_started):
        return "pool"
    if _update_task(project_id, task_id, [TaskModel.random_key.set(random_key)], keyless):
        return "key"
    return None


# ---------------------------------------------------------------- training requests

def request_training(project: ProjectModel, seen: TrainingCounters) -> int | None:
    """Queue one training request if the project's counters are still those in `seen`.

    Returns the new request sequence number, or None when another writer moved first.
    """
    condition = (ProjectModel.train_request_seq == seen.train_request_seq) & (
        ProjectModel.label_changes == seen.label_changes
    )
    try:
        project.update(
            actions=[
                ProjectModel.train_request_seq.add(1),
                ProjectModel.train_requested_changes.set(seen.label_changes),
                ProjectModel.queued_at.set(now()),
            ],
            condition=condition,
        )
    except UpdateError as exc:
        if _is_conditional_failure(exc):
            return None
        raise
    return int(project.train_request_seq)


def mark_request_sent(project_id: str, seq: int) -> None:
    """Record that request `seq`'s message is on the queue (only ever moves forward)."""
    try:
        ProjectModel(project_id=project_id).update(
            actions=[ProjectModel.train_sent_seq.set(seq)],
            condition=ProjectModel.project_id.exists() & (
                ProjectModel.train_sent_seq.does_not_exist() | (ProjectModel.train_sent_seq < seq)),
        )
    except UpdateError as exc:
        if not _is_conditional_failure(exc):
            raise


def claim_training(project_id: str, seq: int) -> ProjectModel | None:
    """Mark request `seq` as being trained and allocate its model version number.

    Refused (None) when a newer request superseded it or it already finished: a redelivered or
    stale message then does nothing.
    """
    project = ProjectModel(project_id=project_id)
    try:
        project.update(
            actions=[
                ProjectModel.training_seq.set(seq),
                ProjectModel.training_started_at.set(now()),
                ProjectModel.version_seq.add(1),
            ],
            condition=(ProjectModel.train_request_seq == seq) & (ProjectModel.trained_seq < seq),
        )
    except UpdateError as exc:
        if _is_conditional_failure(exc):
            return None
        raise
    return project


def finish_training(project_id: str, seq: int, error: str | None) -> bool:
    actions = [ProjectModel.trained_seq.set(seq)]
    if error:
        actions += [ProjectModel.last_error.set(error[:2000]), ProjectModel.last_error_at.set(now())]
    else:
        actions += [ProjectModel.last_error.remove(), ProjectModel.last_error_at.remove()]
    try:
        ProjectModel(project_id=project_id).update(actions=actions, condition=ProjectModel.trained_seq < seq)
    except UpdateError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


def record_training_error(project_id: str, error: str) -> None:
    """Make a failure visible in /training while the request stays open for its retry."""
    ProjectModel(project_id=project_id).update(actions=[
        ProjectModel.last_error.set(error[:2000]), ProjectModel.last_error_at.set(now()),
    ])


def record_model_version(item: ModelVersionModel) -> None:
    """Idempotent: the same version number is only ever written with the same artifact."""
    item.save()


def promote(project_id: str, item: ModelVersionModel) -> bool:
    """Point the project at `item` unless a newer version is already active."""
    try:
        ProjectModel(project_id=project_id).update(
            actions=[
                ProjectModel.active_version.set(item.version),
                ProjectModel.model_version.set(item.model_version),
                ProjectModel.model_name.set(item.model),
                ProjectModel.model_key.set(item.s3_key),
                ProjectModel.model_s3_version.set(item.s3_version_id),
                ProjectModel.model_sha256.set(item.sha256),
                ProjectModel.model_sklearn_version.set(item.sklearn_version),
                ProjectModel.model_label_changes.set(item.label_changes),
            ],
            condition=ProjectModel.active_version.does_not_exist() | (ProjectModel.active_version < item.version),
        )
    except UpdateError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


def get_model_version(project_id: str, version: int) -> ModelVersionModel | None:
    try:
        return ModelVersionModel.get(project_id, version)
    except DoesNotExist:
        return None


def list_model_versions(project_id: str) -> list[ModelVersionModel]:
    return list(ModelVersionModel.query(project_id, scan_index_forward=False))


# ---------------------------------------------------------------- API tokens

def create_token(token_id: str, secret_sha256: str, name: str, role: str, projects, created_by: str) -> TokenModel:
    item = TokenModel(token_id=token_id, secret_sha256=secret_sha256, name=name, role=role,
                      projects=projects, created_at=now(), created_by=created_by)
    item.save(condition=TokenModel.token_id.does_not_exist())
    return item


def find_token(token_id: str) -> TokenModel | None:
    """Strongly consistent: a revoked token stops working at once."""
    try:
        return TokenModel.get(token_id, consistent_read=True)
    except DoesNotExist:
        return None


def all_tokens() -> list[TokenModel]:
    return sorted(TokenModel.scan(), key=lambda t: (t.created_at, t.token_id))


def delete_token(token_id: str) -> None:
    TokenModel(token_id=token_id).delete()
