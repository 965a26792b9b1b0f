"""Record a completion: the one write path for completions from our API (`POST .../completions`),
Label Studio's webhook (`/ls/webhook`) and its export (`/ls/train`, the START_TRAINING pull).

Every completion is checked against the label config and its task's data, then stored by
`completion_db.add_completion`, which takes one of the task's MAX_COMPLETIONS_PER_TASK slots, records
the annotator and takes the task out of the unlabeled pool in one conditional write. A Label Studio
annotation keeps its own id (`"<task>.ls<annotation id>"`), so an edit or a redelivered event
rewrites the same item without taking another slot.
"""
import json

from chalicelib.errors import ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labeling.validation import reads_task_data, validate_result
from chalicelib.store import completions as completion_db
from chalicelib.store import labelstudio as links
from chalicelib.store import projects as project_db
from chalicelib.store import tasks as task_db

MAX_COMPLETIONS_PER_TASK = 100
# A DynamoDB item holds at most 400 KB; keep a task's data/meta/predictions and a completion's
# result well under it, so a write can never fail on size half-way through an import.
MAX_ITEM_JSON_BYTES = 300_000


def check_size(value, field: str) -> None:
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > MAX_ITEM_JSON_BYTES:
        raise ValidationError(field, f"is {size} bytes of JSON; the limit is {MAX_ITEM_JSON_BYTES}")


def ls_completion_id(task_id: int, ls_annotation_id: int) -> str:
    return f"{task_id}.ls{ls_annotation_id}"


def check(config, data: dict, completion: dict, field: str) -> None:
    """400 naming `field` unless the completion's result fits the label config and the task's data."""
    check_size(completion["result"], field)
    validate_result(config, completion["result"], data, field)


def record(project, task_id: int, data: dict, completion: dict, field: str = "result", config=None,
           ls_annotation_id: int | None = None):
    """Check `completion` (400 naming `field`) and store it; returns the stored item."""
    check(config if config is not None else parse_label_config(project.label_config), data, completion, field)
    pid = project.project_id
    cid = None if ls_annotation_id is None else ls_completion_id(task_id, ls_annotation_id)
    item = completion_db.add_completion(pid, task_id, completion, MAX_COMPLETIONS_PER_TASK, completion_id=cid)
    if ls_annotation_id is not None and ls_annotation_id > 0:
        links.remember_annotation(pid, ls_annotation_id, task_id)
    return item


def add(project_id: str, task_id: int, completion: dict):
    """A completion posted to our API (the project, for its label config, from the warm container's
    cache: store/warm.py bounds how long a config changed elsewhere takes to reach it)."""
    check_size(completion["result"], "result")
    project = project_db.get_project_warm(project_id)
    config = parse_label_config(project.label_config)
    # the task is read only when the check needs its data (spans); a missing task is a 404 either
    # way (the slot's conditional write finds it missing)
    data = task_db.get_task(project_id, task_id).data if reads_task_data(config) else None
    return record(project, task_id, data, completion, config=config)


def of_task(project_id: str, task_id: int) -> list:
    task_db.get_task(project_id, task_id)
    return completion_db.completions_of_task(project_id, task_id)


def delete(project_id: str, completion_id: str, may_act_for=None) -> None:
    """Delete a completion; `may_act_for(completed_by)` raises when the caller may not act for its
    annotator (an annotator token deletes only its own completions)."""
    item = completion_db.get_completion(project_id, completion_id)
    if may_act_for is not None:
        may_act_for(item.completed_by)
    completion_db.delete_completion(project_id, completion_id)
    task_id = item.task_id
    if item.completed_by != "unknown" and not any(
            c.completed_by == item.completed_by for c in completion_db.completions_of_task(project_id, task_id)):
        completion_db.forget_annotator(project_id, task_id, item.completed_by)


def delete_ls_annotations(project, ls_annotation_ids: list[int]) -> list[str]:
    """Delete the completions of Label Studio annotations (ANNOTATIONS_DELETED names only their ids)."""
    deleted = []
    for ann_id in ls_annotation_ids:
        task_id = links.task_of_annotation(project.project_id, ann_id)
        if task_id is None:
            continue
        completion_db.delete_completion(project.project_id, ls_completion_id(task_id, ann_id))
        deleted.append(ls_completion_id(task_id, ann_id))
    return deleted
