"""Which task each annotator holds in a project: one ledger item per (project, annotator).

`GET /next` serves an annotator the task they hold (if they still hold it) before locking another,
and records a new lock here with a condition on what it read, so one identity holds at most one
task lock per project even when it calls `next` concurrently. The item is a hint, checked against
the task itself: a completion or release makes it stale, never wrong.
"""
from pynamodb.exceptions import DoesNotExist

from chalicelib.store.dynamo import conditional
from chalicelib.domain.records import Task
from chalicelib.store.models import LedgerModel, TaskModel
from chalicelib.store.tasks import not_done_by, update_returning_task, wants_annotator


def _key(project_id: str, annotator: str) -> tuple[str, str]:
    return f"p#{project_id}", f"lock#{annotator}"


def held(project_id: str, annotator: str) -> int | None:
    """The task id the ledger says `annotator` holds, or None (strongly consistent)."""
    try:
        item = LedgerModel.get(*_key(project_id, annotator), consistent_read=True)
    except DoesNotExist:
        return None
    return None if item.value is None else int(item.value)


def record(project_id: str, annotator: str, task_id: int, until: float, expected: int | None) -> bool:
    """Record that `annotator` holds `task_id` if the ledger still says `expected` (None: nothing);
    False when a concurrent call of the same annotator recorded another task first."""
    pk, sk = _key(project_id, annotator)
    condition = LedgerModel.sk.does_not_exist() if expected is None else LedgerModel.value == expected
    return conditional(lambda: LedgerModel(pk=pk, sk=sk, value=task_id, expires_at=int(until) + 1).save(
        condition=condition))


def renew(project_id: str, task_id: int, annotator: str, now_s: float, ttl_s: float) -> Task | None:
    """Extend `annotator`'s lock on a task they still hold (locked by them, unexpired, still open,
    not completed by them); the whole task as written, or None. A released task is not renewed: a
    skipped task is not served again to whoever skipped it."""
    still_held = (TaskModel.lock_owner == annotator) & (TaskModel.lock_until >= now_s)
    return update_returning_task(project_id, task_id, [TaskModel.lock_until.set(now_s + ttl_s)],
                                 still_held & wants_annotator() & not_done_by(annotator))
