"""Serve the next task: the best open task for one annotator, locked for them; give it back.

Reads the project, then a few pages of the sparse queues in `domain.assignment.queue_order` (never
the pool itself), and locks the first open candidate with a conditional write; a candidate another
annotator took in the meantime fails the condition and the next one is tried. The number of
DynamoDB requests per call is bounded by constants, whatever the pool size.
"""
import time

from chalicelib.domain import assignment
from chalicelib.errors import ConflictError, NotFoundError
from chalicelib.store import projects as project_db
from chalicelib.store import tasks as task_db


def next_for(project_id: str, annotator: str):
    """The locked task, or None when every queue is empty for this annotator."""
    project = project_db.get_project(project_id)
    return assign(project_id, annotator, project.settings, project.completions_count)


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
    attempts = 0
    for queue in assignment.queue_order(settings, completions_count):
        start_key = None
        for _ in range(assignment.MAX_PAGES_PER_QUEUE):
            candidates, start_key = task_db.queue_candidates(
                queue, project_id, annotator, now_s, assignment.PAGE_SIZE, start_key)
            for task in candidates:
                if attempts >= assignment.MAX_LOCK_ATTEMPTS:
                    return None
                attempts += 1
                if task_db.lock_task(task, annotator, now_s, assignment.LOCK_TTL_SECONDS):
                    return task
            if start_key is None:
                break
    return None
