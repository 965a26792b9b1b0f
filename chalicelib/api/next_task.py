"""`GET /api/projects/{id}/next?annotator=`: the best task for one annotator, locked for them.

Reads the project, then a few pages of the sparse queues in `domain.assignment.queue_order` (never
the pool itself), and locks the first open candidate with a conditional write; a candidate another
annotator took in the meantime fails the condition and the next one is tried. The number of
DynamoDB requests per call is bounded by constants, whatever the pool size.
"""
import time

from chalicelib.api.http import no_content, parse_task_id, query_param
from chalicelib.api.serializers import task_json
from chalicelib.domain import assignment
from chalicelib.domain.settings import DEFAULTS
from chalicelib.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.store import repository

MAX_ANNOTATOR_LENGTH = 256


def annotator_param(request) -> str:
    annotator = query_param(request, "annotator")
    if not annotator or not annotator.strip():
        raise ValidationError("annotator", "required: ?annotator=<name or id of who labels the task>")
    if len(annotator) > MAX_ANNOTATOR_LENGTH:
        raise ValidationError("annotator", f"at most {MAX_ANNOTATOR_LENGTH} characters")
    return annotator


def next_task(request, project_id: str):
    annotator = annotator_param(request)
    project = repository.get_project(project_id)
    settings = {**DEFAULTS, **(project.ml or {})}
    task = assign(project_id, annotator, settings, int(project.completions_count or 0))
    if task is None:
        return no_content()
    body = task_json(task)
    body["lock"] = {"owner": annotator, "expires_at": int(task.lock_until)}
    return body


def release(request, project_id: str, task_id: str) -> dict:
    """`DELETE .../tasks/{task_id}/lock?annotator=`: give a served task back before its lock expires
    (the annotator skips it), so `next` can serve it to someone else at once. Idempotent: releasing
    a task nobody holds (already released, expired, completed) is not an error; a task locked by
    another annotator is (409), and is left locked."""
    annotator = annotator_param(request)
    tid = parse_task_id(task_id)
    repository.get_project(project_id)
    if repository.release_lock(project_id, tid, annotator):
        return {"id": tid, "released": True}
    task = repository.find_task(project_id, tid)
    if task is None:
        raise NotFoundError(f"task {tid} not found in project {project_id}", "task_id")
    if task.lock_owner and task.lock_owner != annotator and float(task.lock_until or 0) >= time.time():
        raise ConflictError(f"task {tid} is locked by another annotator until {int(task.lock_until)}", "annotator")
    return {"id": tid, "released": False}


def assign(project_id: str, annotator: str, settings: dict, completions_count: int, now_s: float | None = None):
    """Lock and return the first open task of the queues, or None when every queue is empty for
    this annotator (within the bounded read budget)."""
    now_s = time.time() if now_s is None else now_s
    attempts = 0
    for queue in assignment.queue_order(settings, completions_count):
        start_key = None
        for _ in range(assignment.MAX_PAGES_PER_QUEUE):
            candidates, start_key = repository.queue_candidates(
                queue, project_id, annotator, now_s, assignment.PAGE_SIZE, start_key)
            for task in candidates:
                if attempts >= assignment.MAX_LOCK_ATTEMPTS:
                    return None
                attempts += 1
                if repository.lock_task(task, annotator, now_s, assignment.LOCK_TTL_SECONDS):
                    return task
            if start_key is None:
                break
    return None
