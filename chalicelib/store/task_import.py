"""Imports: many tasks and their completions written all or nothing."""
from chalicelib.errors import ImportIncompleteError
from chalicelib.store.completions import completion_prefix, new_completion_item
from chalicelib.store.dynamo import now
from chalicelib.store.models import CompletionModel, TaskModel
from chalicelib.store.tasks import QUEUE_ATTRIBUTES

BATCH_WRITE_LIMIT = 25


def _batch_put(model, items: list) -> None:
    with model.batch_write() as batch:
        for item in items:
            batch.save(item)


def _batch_delete(model, items: list) -> None:
    with model.batch_write() as batch:
        for item in items:
            batch.delete(item)


def put_tasks(tasks: list[TaskModel], completions: list[CompletionModel], keep_alive=None,
              rollback: bool = True) -> None:
    """Store an import: all of it, or nothing.

    BatchWriteItem is not atomic (and an import is larger than a transaction's 100 items), so the
    items are written 25 at a time, tasks first; if a write fails part-way, every item attempted
    so far is deleted again and ImportIncompleteError says nothing is stored. Only if that
    clean-up fails too does the error list the task ids that may remain. Task ids are never
    reused, so deleted imports leave gaps, not clashes; completions written and deleted again are
    counted in and out by the stream (each exactly once). `keep_alive()` runs after each batch
    (an import by Idempotency-Key renews its lease; it raises when the lease was lost). Without
    `rollback` (an import by Idempotency-Key) a failure leaves what was written for the retry.
    """
    attempted: list[tuple] = []  # (model, chunk), in write order
    try:
        for model, items in ((TaskModel, tasks), (CompletionModel, completions)):
            for start in range(0, len(items), BATCH_WRITE_LIMIT):
                chunk = items[start:start + BATCH_WRITE_LIMIT]
                attempted.append((model, chunk))
                _batch_put(model, chunk)
                if keep_alive is not None:
                    keep_alive()
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if not rollback:  # an import by Idempotency-Key: its retry writes what is missing
            raise ImportIncompleteError(
                f"the import failed part-way ({reason}); send the same request with the same "
                "Idempotency-Key to finish it", []) from exc
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


def put_imported_tasks(project_id: str, tasks: list[dict], resume: bool = False, keep_alive=None,
                       rollback: bool = True) -> None:
    """Store normalized imported tasks (with `task_id`, `random_key`, `queues` and their
    `completions`, numbered 1..n), all or nothing (`put_tasks`). `resume`: the import was begun
    before (same ids, same content) and may have stopped part-way: only the items not stored yet
    are written (an item the stream has moved on since is never overwritten)."""
    ts = now()
    items, completions = [], []
    for task in tasks:
        task_id = task["task_id"]
        item = TaskModel(project_id=project_id, task_id=task_id, data=task["data"], meta=task["meta"],
                         predictions=task["predictions"], created_at=ts, completion_seq=len(task["completions"]),
                         random_key=task["random_key"])
        if task["completions"]:  # who labelled it, as add_completion records it (`next` skips them)
            item.annotators = {c.get("completed_by") or "unknown" for c in task["completions"]}
        for queue, attribute in QUEUE_ATTRIBUTES.items():
            if queue in task["queues"]:
                setattr(item, attribute.attr_name, project_id)
        items.append(item)
        completions += [new_completion_item(project_id, task_id, f"{completion_prefix(task_id)}{n}", completion)
                        for n, completion in enumerate(task["completions"], start=1)]
    if resume:
        items, completions = _missing(TaskModel, items), _missing(CompletionModel, completions)
    put_tasks(items, completions, keep_alive, rollback)


def _missing(model, items: list) -> list:
    """Those of `items` not stored (strongly consistent reads, 100 keys per BatchGetItem)."""
    key = (lambda i: (i.project_id, i.task_id)) if model is TaskModel else (lambda i: (i.project_id, i.completion_id))
    found = set()
    for start in range(0, len(items), 100):
        found |= {key(stored) for stored in model.batch_get([key(i) for i in items[start:start + 100]],
                                                             consistent_read=True)}
    return [item for item in items if key(item) not in found]


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
