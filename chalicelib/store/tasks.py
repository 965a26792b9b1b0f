"""The tasks table: tasks, their judged label state and their queues (the sparse `pool`, `scored`
and `rework` indexes, from domain.assignment.queues_of), locks, and model scores.

Every write that must happen once uses a condition or a transaction, so redelivered events and
retried requests change nothing (see docs/architecture.md, "Exactly-once counting").
"""
from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from chalicelib.domain import assignment
from chalicelib.domain.records import Task
from chalicelib.errors import NotFoundError
from chalicelib.store.dynamo import conditional, connection, decode_cursor, page
from chalicelib.store import ledger, records
from chalicelib.store.models import LedgerModel, ProjectModel, TaskModel


def get_task(project_id: str, task_id: int) -> Task:
    try:
        return records.task(TaskModel.get(project_id, task_id))
    except DoesNotExist:
        raise NotFoundError(f"task {task_id} not found in project {project_id}", "task_id")


def find_task(project_id: str, task_id: int) -> Task | None:
    try:
        return records.task(TaskModel.get(project_id, task_id, consistent_read=True))
    except DoesNotExist:
        return None


def list_tasks(project_id: str, limit: int, cursor: str | None):
    return page(TaskModel.query(project_id, limit=limit, last_evaluated_key=decode_cursor(cursor)), limit,
                records.task)


def iter_tasks(project_id: str):
    return map(records.task, TaskModel.query(project_id))


COUNTED_ATTRIBUTES = ["task_id", "accepted", "auto_project", "suspect_project"]


def label_counts(project_id: str) -> dict:
    """How the project's tasks are labelled: {"total", "human" (accepted from people's completions),
    "auto" (a standing auto label), "suspect", "left" (neither)}. One paginated Query of the
    project's tasks (a few attributes back, but DynamoDB reads whole items: cost grows with the
    project, so only the on-demand report calls it)."""
    counts = {"total": 0, "human": 0, "auto": 0, "suspect": 0, "left": 0}
    for task in TaskModel.query(project_id, attributes_to_get=COUNTED_ATTRIBUTES):
        counts["total"] += 1
        human, auto = bool(task.accepted), task.auto_project is not None
        counts["human"] += human
        counts["auto"] += auto and not human
        counts["suspect"] += task.suspect_project is not None
        counts["left"] += not human and not auto
    return counts


def accepted_tasks(project_id: str):
    """The accepted tasks, from the sparse `accepted` index (no scan of the pool)."""
    return map(records.task, TaskModel.accepted_index.query(project_id))


def apply_task_label_state(task: Task, state, label_changed: bool, queues: frozenset,
                           disputed: frozenset = frozenset(), keep_mark: bool = False,
                           count: tuple[str, int] | None = None) -> bool:
    """Store the task's new agreement/acceptance and its queues (domain.assignment.queues_of), and
    move the project's counters with it. A suspect mark is removed (the task has been re-judged)
    unless `keep_mark` (no one else reviewed it yet); `disputed`: the completions its review sets
    aside, stored with it. `count`: (marker, delta) of the stream record counted in the same
    transaction (store/ledger.count_completion_once's marker and counter), so a record costs one write.

    Optimistic: succeeds only if the task's `label_rev` is still the one read (and the marker is
    new). Returns False otherwise (the caller counts apart, re-reads and recomputes).
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
    task_actions += queue_actions(task.project_id, queues)
    if task.suspect_project is not None and not keep_mark:  # re-judged by people: no longer a suspect
        task_actions += [TaskModel.suspect.remove(), TaskModel.suspect_version.remove(),
                         TaskModel.suspect_project.remove(), TaskModel.suspect_rank.remove()]
    if disputed and disputed != task.disputed:
        task_actions.append(TaskModel.disputed.set(set(disputed)))
    condition = TaskModel.label_rev == int(task.label_rev or 0)
    project_actions = []
    if accepted_delta:
        project_actions.append(ProjectModel.accepted_tasks.add(accepted_delta))
    if label_changed:
        project_actions.append(ProjectModel.label_changes.add(1))
    if count is not None:
        project_actions.append(ProjectModel.completions_count.add(count[1]))

    def write():
        with TransactWrite(connection=connection()) as tx:
            tx.update(TaskModel(project_id=task.project_id, task_id=task.task_id), actions=task_actions,
                      condition=condition)
            if count is not None:
                tx.save(ledger.marker_item(task.project_id, count[0]), condition=LedgerModel.sk.does_not_exist())
            if project_actions:
                tx.update(ProjectModel(project_id=task.project_id), actions=project_actions,
                          condition=ProjectModel.project_id.exists())

    return conditional(write)


QUEUE_ATTRIBUTES = {"rework": TaskModel.rework_project, "scored": TaskModel.scored_project,
                    "pool": TaskModel.pool_project}


def queue_actions(project_id: str, queues: frozenset, only=assignment.QUEUES) -> list:
    """The index attributes of `queues` (domain.assignment.queues_of): set for the task's queues,
    removed for the others among `only`."""
    return [QUEUE_ATTRIBUTES[q].set(project_id) if q in queues else QUEUE_ATTRIBUTES[q].remove() for q in only]


def queues_of_task(task: Task) -> frozenset:
    """The queues a stored task is in (the index attributes it holds)."""
    return frozenset(q for q, attribute in QUEUE_ATTRIBUTES.items() if getattr(task, attribute.attr_name) is not None)


def not_done_by(annotator: str):
    return TaskModel.annotators.does_not_exist() | ~TaskModel.annotators.contains(annotator)


def wants_annotator():
    """The task is still waiting for an annotator (in the pool or the rework queue)."""
    return TaskModel.pool_project.exists() | TaskModel.rework_project.exists()


def _open_for(annotator: str, now_s: float):
    """Tasks `annotator` may be served: unlocked (or lock expired, or their own) and not done by them."""
    unlocked = (TaskModel.lock_until.does_not_exist() | (TaskModel.lock_until < now_s)
                | (TaskModel.lock_owner == annotator))
    return unlocked & not_done_by(annotator)


QUEUE_INDEXES = {"rework": TaskModel.rework_index, "scored": TaskModel.scored_index, "pool": TaskModel.pool_index}


def queue_candidates(index: str, project_id: str, annotator: str, now_s: float, limit: int, start_key=None):
    """One page (one Query of `limit` index items, read in index order) of the tasks of `index`
    that `annotator` may take now. Returns (tasks, key to continue from or None). The tasks hold
    only their keys and the index's QUEUE_PROJECTION (no data): `lock_task` fills in the rest."""
    result = QUEUE_INDEXES[index].query(
        project_id, filter_condition=_open_for(annotator, now_s),
        last_evaluated_key=start_key, page_size=limit)
    page = next(result.page_iter)  # exactly one request: the iterator would fetch on past filtered items
    tasks = [records.task(TaskModel.from_raw_data(item)) for item in page.get("Items", [])]
    return tasks, result.page_iter.last_evaluated_key


def lock_task(project_id: str, task_id: int, annotator: str, now_s: float, ttl_s: float) -> Task | None:
    """Lock a task for `annotator` until now + ttl, if nobody else holds it, the annotator has not
    done it, and it is still waiting for an annotator (conditional write: one winner). The whole
    task as written (the update returns ALL_NEW), or None when the condition failed."""
    return update_returning_task(
        project_id, task_id, [TaskModel.lock_owner.set(annotator), TaskModel.lock_until.set(now_s + ttl_s)],
        _open_for(annotator, now_s) & wants_annotator())


def update_returning_task(project_id: str, task_id: int, actions: list, condition) -> Task | None:
    """One conditional UpdateItem; the task as written, or None when `condition` failed."""
    item = TaskModel(project_id=project_id, task_id=task_id)
    return records.task(item) if conditional(lambda: item.update(actions=actions, condition=condition)) else None


def release_lock(project_id: str, task_id: int, owner: str) -> bool:
    return conditional(lambda: TaskModel(project_id=project_id, task_id=task_id).update(
        actions=[TaskModel.lock_owner.remove(), TaskModel.lock_until.remove()],
        condition=TaskModel.lock_owner == owner,
    ))


RESCORING_ATTRIBUTES = ["task_id", "data", "random_key", "pool_project", "completion_seq", "score_version",
                        "auto_project", "auto_version", "auto_epoch", "auto_label"]


def rescoring_tasks_in_range(project_id: str, first: int, last: int) -> list[Task]:
    """Tasks with ids in [first, last] that are in the unlabeled pool, stand auto-labelled
    (services/auto_labeling.py) or have no random key yet (imported before random keys existed,
    see `backfill_random_key`).

    One bounded range query: a key condition on the table's sort key, so DynamoDB reads only the
    range; only the attributes rescoring uses come back.
    """
    return list(map(records.task, TaskModel.query(
        project_id, TaskModel.task_id.between(first, last),
        filter_condition=(TaskModel.pool_project.exists() | TaskModel.auto_project.exists()
                          | TaskModel.random_key.does_not_exist()),
        attributes_to_get=RESCORING_ATTRIBUTES,
    )))


def pool_sample(project_id: str, keep) -> list[tuple[int, dict]]:
    """(task id, data) of the project's tasks, labelled or not, for which `keep(task_id)` holds: one
    paged query reading only those two attributes (ml/pool_representation.py chooses the sample)."""
    return [(int(item.task_id), item.data or {})
            for item in TaskModel.query(project_id, attributes_to_get=["task_id", "data"]) if keep(int(item.task_id))]


def _update_task(project_id: str, task_id: int, actions: list, condition) -> bool:
    """One UpdateItem on a task that returns nothing (pynamodb's Model.update asks for the whole
    item back, ReturnValues=ALL_NEW, which rescoring never reads); False when `condition` fails."""
    return conditional(lambda: TaskModel._get_connection().update_item(
        project_id, range_key=TaskModel.task_id.serialize(task_id), actions=actions, condition=condition,
        return_values="NONE"))


def store_score(project_id: str, task_id: int, priority: float, version: int) -> bool:
    """Rank an unlabeled task by model `version`, unless a newer model already ranked it or the
    task left the pool. Idempotent: rewriting the same version's score changes nothing."""
    return _update_task(
        project_id, task_id,
        [TaskModel.priority.set(priority), TaskModel.score_version.set(version),
         TaskModel.scored_project.set(project_id)], score_condition(version))


def score_condition(version: int):
    return TaskModel.pool_project.exists() & (
        TaskModel.score_version.does_not_exist() | (TaskModel.score_version <= version))


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
