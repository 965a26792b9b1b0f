"""Serve the next task: the best open task for one annotator, locked for them; give it back.

Reads the project, then a few pages of the sparse queues in `domain.assignment.queue_order` (never
the pool itself), and locks the first open candidate with a conditional write; a candidate another
annotator took in the meantime fails the condition and the next one is tried. The number of
DynamoDB requests per call is bounded by constants, whatever the pool size.
"""
import time

from chalicelib.domain import assignment
from chalicelib.errors import BusyError, ConflictError, NotFoundError
from chalicelib.store import held_locks
from chalicelib.store import projects as project_db
from chalicelib.store import tasks as task_db


def next_for(project_id: str, annotator: str):
    """The locked task, or None when every queue is empty for this annotator.

    One identity holds at most one task per project: the task it holds (held_locks) is served
    again, its lock renewed, until it is completed or released; a new lock is recorded with a
    condition on what was read, so concurrent calls of one annotator end up holding one task.
    """
    project = project_db.get_project(project_id)
    for _ in range(3):
        now_s = time.time()
        held = held_locks.held(project_id, annotator)
        if held is not None:
            task = held_locks.renew(project_id, held, annotator, now_s, assignment.LOCK_TTL_SECONDS)
            if task is not None:
                return task
        task = assign(project_id, annotator, project.settings, project.completions_count, now_s)
        if task is None:
            return None
        if held_locks.record(project_id, annotator, task.task_id, float(task.lock_until), held):
            return task
        task_db.release_lock(project_id, task.task_id, annotator)  # a concurrent call won
    raise ConflictError("concurrent next calls for this annotator; retry", "annotator")


def release(project_id: str, task_id: int, annotator: str) -> bool:
    """Give a served task back before its lock expires. Idempotent: False (not an error) when nobody
    holds it; 409 when another annotator does (the task stays locked)."""
    project_db.get_project(project_id)
    if task_db.release_lock(project_id, task_id, annotator):
        return True
    task = task_db.find_task(project_id, task_id)
    if task is None:
        raise NotFoundError(f"task {task_id} not found in project {project_id}", "task_id")
    if task.lock_owner and task.lock_owner != annotator and float(task.lock_until or 0) >= time.time():
        raise ConflictError(f"task {task_id} is locked by another annotator until {int(task.lock_until)}",
                            "annotator")
    return False


def assign(project_id: str, annotator: str, settings: dict, completions_count: int, now_s: float | None = None):
    """Lock and return the first open task of the queues, or None when every queue is empty for
    this annotator (within the bounded read budget)."""
    now_s = time.time() if now_s is None else now_s
    attempts, contended, unread = 0, False, False
    for queue in assignment.queue_order(settings, completions_count):
        start_key = None
        for _ in range(assignment.MAX_PAGES_PER_QUEUE):
            candidates, start_key = task_db.queue_candidates(
                queue, project_id, annotator, now_s, assignment.PAGE_SIZE, start_key)
            while candidates:
                if attempts >= assignment.MAX_LOCK_ATTEMPTS:
                    raise BusyError("many annotators are being served at once; retry", "annotator")
                attempts += 1
                # the best candidate first; after a lost race, any of the page's others, so that a
                # burst of callers spreads over the page instead of queueing on its head
                candidate = candidates.pop(assignment.pick_after_lost_race(len(candidates)) if contended else 0)
                task = task_db.lock_task(project_id, candidate.task_id, annotator, now_s, assignment.LOCK_TTL_SECONDS)
                if task is not None:
                    return task
                contended = True  # someone else took it: that task is out of the race for good
            if start_key is None:
                break
        unread = unread or start_key is not None
    if unread and contended:
        raise BusyError("many annotators are being served at once; retry", "annotator")
    return None
