"""Tasks (import, list, get), completions (create, list, delete) and export, in Label Studio JSON."""
import json
import random

from chalicelib.api.http import created, json_body, json_object, page_params, parse_task_id, query_param
from chalicelib.api.serializers import completion_json, iso, task_json
from chalicelib.errors import ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labeling.validation import (
    normalize_completion,
    normalize_import_task,
    validate_result,
    validate_task_data,
)
from chalicelib.store import repository
from chalicelib.store.models import TaskModel

_random = random.SystemRandom()
MAX_TASKS_PER_IMPORT = 5000
MAX_COMPLETIONS_PER_TASK = 100
# A DynamoDB item holds at most 400 KB; keep a task's data/meta/predictions and a completion's
# result well under it, so a write can never fail on size half-way through an import.
MAX_ITEM_JSON_BYTES = 300_000


def _check_size(value, field: str) -> None:
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > MAX_ITEM_JSON_BYTES:
        raise ValidationError(field, f"is {size} bytes of JSON; the limit is {MAX_ITEM_JSON_BYTES}")


def _config(project):
    return parse_label_config(project.label_config)


def import_tasks(request, project_id: str):
    """All-or-nothing: every task is validated before anything is written."""
    body = json_body(request)
    if isinstance(body, dict) and "tasks" in body:
        body = body["tasks"]
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not body:
        raise ValidationError("body", "must be a non-empty list of Label Studio tasks")
    if len(body) > MAX_TASKS_PER_IMPORT:
        raise ValidationError("body", f"has {len(body)} tasks; at most {MAX_TASKS_PER_IMPORT} per request")
    project = repository.get_project(project_id)
    config = _config(project)
    normalized = []
    for i, raw in enumerate(body):
        field = f"tasks[{i}]"
        task = normalize_import_task(raw, field)
        validate_task_data(config, task["data"], f"{field}.data")
        _check_size({"data": task["data"], "meta": task["meta"], "predictions": task["predictions"]}, field)
        if len(task["completions"]) > MAX_COMPLETIONS_PER_TASK:
            raise ValidationError(f"{field}.annotations", f"at most {MAX_COMPLETIONS_PER_TASK} per task")
        for j, completion in enumerate(task["completions"]):
            validate_result(config, completion["result"], task["data"], f"{field}.annotations[{j}].result")
            _check_size(completion["result"], f"{field}.annotations[{j}].result")
        for j, prediction in enumerate(task["predictions"]):
            validate_result(config, prediction["result"], task["data"], f"{field}.predictions[{j}].result")
        normalized.append(task)

    first = repository.reserve_task_ids(project_id, len(normalized))
    ts = repository.now()
    sequential = (project.ml or {}).get("sampling") == "sequential"
    tasks, completions = [], []
    for offset, task in enumerate(normalized):
        task_id = first + offset
        tasks.append(TaskModel(
            project_id=project_id, task_id=task_id, data=task["data"], meta=task["meta"],
            predictions=task["predictions"], created_at=ts, completion_seq=len(task["completions"]),
            # the unlabeled pool in random order (see domain/assignment.py); imported completions
            # are judged by the stream, which moves the task to the right queue
            random_key=float(task_id) if sequential else _random.random(),
            pool_project=None if task["completions"] else project_id,
        ))
        completions += [
            repository.new_completion_item(project_id, task_id, n, completion)
            for n, completion in enumerate(task["completions"], start=1)
        ]
    repository.put_tasks(tasks, completions)
    return created({"task_ids": [str(t.task_id) for t in tasks], "count": len(tasks)})


def list_tasks(request, project_id: str):
    repository.get_project(project_id)
    limit, cursor = page_params(request)
    tasks, next_cursor = repository.list_tasks(project_id, limit, cursor)
    return {"tasks": [task_json(t) for t in tasks], "next": next_cursor}


def get_task(project_id: str, task_id: str):
    tid = parse_task_id(task_id)
    task = repository.get_task(project_id, tid)
    return task_json(task, repository.completions_of_task(project_id, tid))


def create_completion(request, project_id: str, task_id: str):
    tid = parse_task_id(task_id)
    body = json_object(request)
    completion = normalize_completion(body, "")
    _check_size(completion["result"], "result")
    project = repository.get_project(project_id)
    task = repository.get_task(project_id, tid)
    validate_result(_config(project), completion["result"], task.data, "result")
    return created(completion_json(repository.add_completion(project_id, tid, completion, MAX_COMPLETIONS_PER_TASK)))


def list_completions(project_id: str, task_id: str):
    tid = parse_task_id(task_id)
    repository.get_task(project_id, tid)
    return {"completions": [completion_json(c) for c in repository.completions_of_task(project_id, tid)]}


def delete_completion(project_id: str, completion_id: str):
    repository.get_completion(project_id, completion_id).delete()
    return {"deleted": completion_id}


def completion_order(completion_id: str) -> tuple:
    """Ours ("<task>.<n>") by n, then Label Studio's ("<task>.ls<annotation id>") by annotation id."""
    suffix = completion_id.split(".", 1)[1]
    if suffix.isdigit():
        return (0, int(suffix))
    tail = suffix[2:] if suffix.startswith("ls") else ""
    return (1, int(tail)) if tail.lstrip("-").isdigit() else (2, suffix)


def export(request, project_id: str):
    """Every task with its completions and predictions: two queries, merged in task order."""
    project = repository.get_project(project_id)
    naming = query_param(request, "naming", "annotations")
    if naming not in ("annotations", "completions"):
        raise ValidationError("naming", f"must be 'annotations' or 'completions', got {naming!r}")
    by_task: dict[int, list] = {}
    for completion in repository.iter_completions(project_id):
        by_task.setdefault(int(completion.task_id), []).append(completion)
    for completions in by_task.values():
        completions.sort(key=lambda c: completion_order(c.completion_id))
    tasks = [task_json(t, by_task.get(int(t.task_id), []), naming) for t in repository.iter_tasks(project_id)]
    return {"project": project_id, "title": project.title, "exported_at": iso(repository.now()), "tasks": tasks}
