"""Tasks: import (all or nothing), list, get, and the export of every task with its completions."""
import random

from chalicelib.errors import ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labeling.validation import normalize_import_task, validate_result, validate_task_data
from chalicelib.services.completions import MAX_COMPLETIONS_PER_TASK, check_size
from chalicelib.store import repository
from chalicelib.store.models import TaskModel

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


def import_tasks(project_id: str, raw_tasks: list) -> list[str]:
    """Store Label Studio tasks (with their annotations) all or nothing; returns the new task ids."""
    if len(raw_tasks) > MAX_TASKS_PER_IMPORT:
        raise ValidationError("body", f"has {len(raw_tasks)} tasks; at most {MAX_TASKS_PER_IMPORT} per request")
    project = repository.get_project(project_id)
    normalized = _normalized(parse_label_config(project.label_config), raw_tasks)
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
            repository.new_completion_item(project_id, task_id, f"{task_id}.{n}", completion)
            for n, completion in enumerate(task["completions"], start=1)
        ]
    repository.put_tasks(tasks, completions)
    return [str(t.task_id) for t in tasks]


def list_page(project_id: str, limit: int, cursor: str | None):
    repository.get_project(project_id)
    return repository.list_tasks(project_id, limit, cursor)


def get_with_completions(project_id: str, task_id: int):
    task = repository.get_task(project_id, task_id)
    return task, repository.completions_of_task(project_id, task_id)


def completion_order(completion_id: str) -> tuple:
    """Ours ("<task>.<n>") by n, then Label Studio's ("<task>.ls<annotation id>") by annotation id."""
    suffix = completion_id.split(".", 1)[1]
    if suffix.isdigit():
        return (0, int(suffix))
    tail = suffix[2:] if suffix.startswith("ls") else ""
    return (1, int(tail)) if tail.lstrip("-").isdigit() else (2, suffix)


def export(project_id: str):
    """(the project, [(task, its completions in order)], when): two queries, merged in task order."""
    project = repository.get_project(project_id)
    by_task: dict[int, list] = {}
    for completion in repository.iter_completions(project_id):
        by_task.setdefault(int(completion.task_id), []).append(completion)
    for completions in by_task.values():
        completions.sort(key=lambda c: completion_order(c.completion_id))
    tasks = [(t, by_task.get(int(t.task_id), [])) for t in repository.iter_tasks(project_id)]
    return project, tasks, repository.now()
