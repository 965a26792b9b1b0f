"""Random keys for tasks imported before the `random_key` attribute existed.

Such tasks have neither `random_key` nor `pool_project`, so they are missing from the sparse `pool`
index and `GET /next` never serves them. The migration gives each a key (its task id in a
`sequential` project, uniform random otherwise) with one conditional write, putting it in the pool
if no completion of it was ever started (`store.tasks.backfill_random_key`). A task that already has
a key is never rewritten, so the migration is idempotent and can be re-run.

How it runs: `python -m chalicelib.events.rescoring backfill PROJECT_ID...` calls `start`, whose
messages go through the rescore queue's fan-out with mode "backfill" (no model; services/rescoring.py
hands each leaf's tasks to `key_keyless`). A rescoring leaf
also calls `key_keyless` on the tasks it already read: the keyless ones come back from the same
range query (its filter), so a project with no keyless task pays one attribute test per task read
and no request.
"""
import random

from chalicelib.store import projects as project_db
from chalicelib.store import queue
from chalicelib.store import tasks as task_db

_random = random.SystemRandom()


def start(project_id: str, chunk: int) -> bool:
    """Queue the migration of every task of the project in ranges of `chunk` task ids; False when
    it has no tasks."""
    project = project_db.find_project(project_id)
    last_task_id = project.task_seq if project else 0
    if last_task_id < 1:
        return False
    queue.send_rescore_ranges(project_id, 0, [(1, last_task_id)], chunk, mode="backfill")
    return True


def key_keyless(project_id: str, tasks: list, sequential: bool) -> tuple[list, int]:
    """Give the keyless ones of `tasks` (read by `store.tasks.rescoring_tasks_in_range`) a key.

    Returns the tasks that are in the unlabeled pool (as read, or put there now) and the number of
    keys written.
    """
    in_pool, written = [], 0
    for task in tasks:
        if task.random_key is None:
            key = float(task.task_id) if sequential else _random.random()
            outcome = task_db.backfill_random_key(project_id, task.task_id, key)
            written += outcome is not None
            # None: another delivery wrote the key first; scoring such a task is conditional on the pool
            if outcome == "pool" or (outcome is None and not task.completion_seq):
                in_pool.append(task)
        elif task.pool_project is not None:
            in_pool.append(task)
    return in_pool, written
