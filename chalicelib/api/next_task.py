"""`GET /api/projects/{id}/next?annotator=` and `DELETE .../tasks/{task_id}/lock?annotator=`
(services/next_task.py)."""
from chalicelib.api.http import no_content, parse_task_id, principal, query_param
from chalicelib.api.serializers import task_json
from chalicelib.errors import ValidationError
from chalicelib.services import next_task as serving

MAX_ANNOTATOR_LENGTH = 256


def annotator_param(request) -> str:
    """Who the task is for: an API token's own name (`?annotator=` may be left out or must name it);
    an admin token names the annotator it serves."""
    caller = principal(request)
    annotator = query_param(request, "annotator")
    if annotator is None and caller.role != "admin":
        return caller.name
    if not annotator or not annotator.strip():
        raise ValidationError("annotator", "required: ?annotator=<name or id of who labels the task>")
    if len(annotator) > MAX_ANNOTATOR_LENGTH:
        raise ValidationError("annotator", f"at most {MAX_ANNOTATOR_LENGTH} characters")
    return caller.acts_for(annotator, "annotator")


def next_task(request, project_id: str):
    annotator = annotator_param(request)
    task = serving.next_for(project_id, annotator)
    if task is None:
        return no_content()
    body = task_json(task)
    body["lock"] = {"owner": annotator, "expires_at": int(task.lock_until)}
    return body


def release(request, project_id: str, task_id: str) -> dict:
    """Give a served task back (the annotator skips it), so `next` can serve it to someone else."""
    annotator = annotator_param(request)
    tid = parse_task_id(task_id)
    return {"id": tid, "released": serving.release(project_id, tid, annotator)}
