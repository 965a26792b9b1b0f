"""Tasks (import, list, get), completions (create, list, delete) and export, in Label Studio JSON."""
from chalicelib.api.http import created, json_body, json_object, page_params, parse_task_id, principal, query_param
from chalicelib.api.serializers import AUTO_LABEL_EXPORTS, completion_json, iso, suspect_json, task_json
from chalicelib.errors import ValidationError
from chalicelib.labeling.normalize import normalize_completion
from chalicelib.services import completions, imports, suspects, tasks


def import_tasks(request, project_id: str):
    """All-or-nothing: every task is validated before anything is written."""
    body = json_body(request)
    if isinstance(body, dict) and "tasks" in body:
        body = body["tasks"]
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not body:
        raise ValidationError("body", "must be a non-empty list of Label Studio tasks")
    key = request.headers.get(imports.HEADER)
    if key is None:
        task_ids = tasks.import_tasks(project_id, body)
        return created({"task_ids": task_ids, "count": len(task_ids)})
    task_ids, replayed = imports.import_once(project_id, key, body)
    response = created({"task_ids": task_ids, "count": len(task_ids)})
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def get_import(project_id: str, key: str):
    """An import's record by its Idempotency-Key (services/imports.py)."""
    return imports.describe(project_id, key)


def list_tasks(request, project_id: str):
    limit, cursor = page_params(request)
    page, next_cursor = tasks.list_page(project_id, limit, cursor)
    return {"tasks": [task_json(t) for t in page], "next": next_cursor}


def get_task(project_id: str, task_id: str):
    return task_json(*tasks.get_with_completions(project_id, parse_task_id(task_id)))


def create_completion(request, project_id: str, task_id: str):
    tid = parse_task_id(task_id)
    body = json_object(request)
    completion = normalize_completion(body, "")
    caller = principal(request)
    named = None if body.get("completed_by") is None else completion["completed_by"]
    completion["completed_by"] = caller.acts_for(named, "completed_by")
    if completion["completed_by"] != caller.name:
        completion["recorded_by"] = caller.name
    return created(completion_json(completions.add(project_id, tid, completion)))


def list_completions(project_id: str, task_id: str):
    return {"completions": [completion_json(c) for c in completions.of_task(project_id, parse_task_id(task_id))]}


def delete_completion(request, project_id: str, completion_id: str):
    caller = principal(request)
    completions.delete(project_id, completion_id,
                       lambda completed_by: caller.acts_for(completed_by, "completion_id"))
    return {"deleted": completion_id}


def export(request, project_id: str):
    naming = query_param(request, "naming", "annotations")
    if naming not in ("annotations", "completions"):
        raise ValidationError("naming", f"must be 'annotations' or 'completions', got {naming!r}")
    auto_labels = query_param(request, "auto_labels", "predictions")
    if auto_labels not in AUTO_LABEL_EXPORTS:
        raise ValidationError("auto_labels", f"must be one of {list(AUTO_LABEL_EXPORTS)}, got {auto_labels!r}")
    project, items, exported_at = tasks.export(project_id)
    return {"project": project_id, "title": project.title, "exported_at": iso(exported_at),
            "tasks": [task_json(t, completions_of, naming, auto_labels) for t, completions_of in items]}


def list_suspects(request, project_id: str):
    limit, cursor = page_params(request)
    page, next_cursor = suspects.list_page(project_id, limit, cursor)
    return {"suspects": [suspect_json(t) for t in page], "next": next_cursor}
