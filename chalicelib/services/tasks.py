"""Tasks: import (all or nothing), list, get, and the export of every task with its completions."""
import random

from chalicelib.domain import assignment
from chalicelib.errors import ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labeling.normalize import normalize_import_task
from chalicelib.labeling.validation import validate_result, validate_task_data
from chalicelib.services.completions import MAX_COMPLETIONS_PER_TASK, check_size
from chalicelib.store import completions as completion_db
from chalicelib.store import dynamo, task_import
from chalicelib.store import projects as project_db
from chalicelib.store import tasks as task_db

_random = random.SystemRandom()
MAX_TASKS_PER_IMPORT = 5000


def _normalized(config, raw_tasks: list) -> list[dict]:
    """Every task checked (400 naming `tasks[i]...`) before anything is written."""
    normalized = []
    for i, raw in enumerate(raw_tasks):
        field = f"tasks[{i}]"
        task = normalize_import_task(raw, field)
        validate_task_data(config, task["data"], f"{field}.data")
        check_size({"data": task["data"], "meta": task["meta"], "predictions": task["predictions"]}, field)
        if len(task["completions"]) > MAX_COMPLETIONS_PER_TASK:
            raise ValidationError(f"{field}.annotations", f"at most {MAX_COMPLETIONS_PER_TASK} per task")
        for j, completion in enumerate(task["completions"]):
            validate_result(config, completion["result"], task["data"], f"{field}.annotations[{j}].result")
            check_size(completion["result"], f"{field}.annotations[{j}].result")
        for j, prediction in enumerate(task["predictions"]):
            validate_result(config, prediction["result"], task["data"], f"{field}.predictions[{j}].result")
        normalized.append(task)
    return normalized


def _queues_at_import(task: dict) -> frozenset:
    """An imported task has a random key, no score and no judged state yet."""
    return assignment.queues_of(len(task["completions"]), False, None, 1, has_random_key=True, has_score=False)


def prepare_import(project_id: str, raw_tasks: list) -> tuple:
    """(the project, its tasks normalized): every task checked before anything is written."""
    if len(raw_tasks) > MAX_TASKS_PER_IMPORT:
        raise ValidationError("body", f"has {len(raw_tasks)} tasks; at most {MAX_TASKS_PER_IMPORT} per request")
    project = project_db.get_project(project_id)
    return project, _normalized(parse_label_config(project.label_config), raw_tasks)


def number_tasks(normalized: list[dict], first: int, sequential: bool, random_key=None) -> None:
    """Ids from `first`; the unlabeled pool in random order (see domain/assignment.py), by
    `random_key(task_id)` when given (a resumed import draws the same keys); imported completions
    are judged by the stream, which moves the task to the right queue."""
    for offset, task in enumerate(normalized):
        task["task_id"] = first + offset
        task["random_key"] = float(task["task_id"]) if sequential else \
            random_key(task["task_id"]) if random_key else _random.random()
        task["queues"] = _queues_at_import(task)


def import_tasks(project_id: str, raw_tasks: list) -> list[str]:
    """Store Label Studio tasks (with their annotations) all or nothing; returns the new task ids.
    An import by Idempotency-Key goes through services/imports.py."""
    project, normalized = prepare_import(project_id, raw_tasks)
    first = project_db.reserve_task_ids(project_id, len(normalized))
    number_tasks(normalized, first, project.settings.get("sampling") == "sequential")
    task_import.put_imported_tasks(project_id, normalized)
    return [str(task["task_id"]) for task in normalized]


def list_page(project_id: str, limit: int, cursor: str | None):
    project_db.get_project(project_id)
    return task_db.list_tasks(project_id, limit, cursor)


def get_with_completions(project_id: str, task_id: int):
    task = task_db.get_task(project_id, task_id)
    return task, completion_db.completions_of_task(project_id, task_id)


def completion_order(completion_id: str) -> tuple:
    """Ours ("<task>.<n>") by n, then Label Studio's ("<task>.ls<annotation id>") by annotation id."""
    suffix = completion_id.split(".", 1)[1]
    if suffix.isascii() and suffix.isdigit():
        return (0, int(suffix))
    tail = suffix[2:] if suffix.startswith("ls") else ""
    return (1, int(tail)) if tail.lstrip("-").isascii() and tail.lstrip("-").isdigit() else (2, suffix)


def export(project_id: str):
    """(the project, [(task, its completions in order)], when): two queries, merged in task order."""
    project = project_db.get_project(project_id)
    by_task: dict[int, list] = {}
    for completion in completion_db.iter_completions(project_id):
        by_task.setdefault(int(completion.task_id), []).append(completion)
    for completions in by_task.values():
        completions.sort(key=lambda c: completion_order(c.completion_id))
    tasks = [(t, by_task.get(t.task_id, [])) for t in task_db.iter_tasks(project_id)]
    return project, tasks, dynamo.now()
