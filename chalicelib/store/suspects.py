"""Suspect marks on tasks and the out-of-fold probabilities of each suspects run
(services/suspects.py decides; this writes).

Every task write is one conditional UpdateItem, so a redelivered or late run changes nothing it
should not:
- a mark is written only on the label state the run read (`label_rev` unchanged, still accepted)
  and only over a mark of the same or an older version;
- a mark is cleared only by a run of the same or a newer version (or by the re-judge of the task,
  store/tasks.apply_task_label_state, whose own `label_rev` condition orders it).
The mark and the task's queues (domain/assignment.queues_of, with `suspect`) are written together.
"""
import re

from chalicelib.domain.records import Task
from chalicelib.errors import ValidationError
from chalicelib.store import artifacts, records
from chalicelib.store.dynamo import decode_cursor, page
from chalicelib.store.models import TaskModel
from chalicelib.store.tasks import _update_task, queue_actions

OOF_NAME = "suspects-oof.json"


def oof_key(project_id: str, version: int) -> str:
    """Where a run's out-of-fold probabilities are kept (docs/api.md, "Suspect labels")."""
    return artifacts.artifact_key(project_id, version, OOF_NAME)


def put_out_of_fold(project_id: str, version: int, document: dict) -> dict:
    """Store the run's out-of-fold probabilities as JSON in the model bucket (versioned, sha256)."""
    stored = artifacts.put_json(project_id, version, OOF_NAME, document)
    return {"bucket": stored.bucket, "key": stored.key, "version_id": stored.version_id, "sha256": stored.sha256}


def _not_newer_than(version: int):
    return TaskModel.suspect_version.does_not_exist() | (TaskModel.suspect_version <= version)


def mark(task, mark_body: dict, version: int, queues: frozenset) -> bool:
    """Flag an accepted task (as read by the run: `task.label_rev`) as a suspect of `version`."""
    actions = [TaskModel.suspect.set(mark_body), TaskModel.suspect_version.set(version),
               TaskModel.suspect_project.set(task.project_id),
               TaskModel.suspect_rank.set(float(mark_body["self_confidence"]))]
    actions += queue_actions(task.project_id, queues)
    condition = (TaskModel.label_rev == int(task.label_rev or 0)) & (TaskModel.accepted == True) \
        & _not_newer_than(version)  # noqa: E712 - a PynamoDB condition, not a comparison
    return _update_task(task.project_id, task.task_id, actions, condition)


def clear(task, version: int, queues: frozenset) -> bool:
    """Remove the mark of a task (as the suspects index holds it) that the run of `version` no
    longer flags; `queues`: its queues without the mark."""
    actions = [TaskModel.suspect.remove(), TaskModel.suspect_version.remove(), TaskModel.suspect_project.remove(),
               TaskModel.suspect_rank.remove()] + queue_actions(task.project_id, queues)
    condition = (TaskModel.label_rev == int(task.label_rev or 0)) & _not_newer_than(version)
    return _update_task(task.project_id, task.task_id, actions, condition)


def flagged(project_id: str) -> list[Task]:
    """Every task the project's suspects index holds (its keys, mark and label state: no task read)."""
    return list(map(records.task, TaskModel.suspects_index.query(project_id)))


_NUMBER = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,3})?")


def _cursor(project_id: str, cursor: str | None) -> dict | None:
    """A cursor of this project's suspects index, or a 400: DynamoDB refuses a start key of
    another shape (it would be a 500), and one of another project must not page that project."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    fields = {"project_id": "S", "task_id": "N", "suspect_project": "S", "suspect_rank": "N"}
    if set(key) != set(fields) or any(not isinstance(key[f], dict) or list(key[f]) != [t] or
                                      not isinstance(key[f][t], str) for f, t in fields.items()) \
            or key["project_id"]["S"] != project_id or key["suspect_project"]["S"] != project_id:
        raise ValidationError("cursor", "is not a cursor of this project's suspects")
    if not all(_NUMBER.fullmatch(key[f]["N"]) for f in ("task_id", "suspect_rank")):
        raise ValidationError("cursor", "is not a cursor of this project's suspects")
    return key


def list_page(project_id: str, limit: int, cursor: str | None):
    """(suspect tasks holding their keys and mark, least likely label first; the next cursor)."""
    return page(TaskModel.suspects_index.query(project_id, limit=limit,
                                               last_evaluated_key=_cursor(project_id, cursor)), limit,
                records.task)


def count(project_id: str) -> int:
    """How many tasks are flagged (a COUNT Query of the suspects index: its size, not the pool's)."""
    return TaskModel.suspects_index.count(project_id)
