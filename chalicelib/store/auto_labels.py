"""Auto labels on tasks, and the audit counters (services/auto_labeling.py decides; this writes).

Every write is one conditional UpdateItem, so rescoring chunks can be redelivered and versions can
race: an auto label is written only on a task no human has started (`completion_seq` = 0) and only
at an epoch at least as late as the one that wrote it (`epoch`: a version at least as new, or a
later pointer move by hand); a human completion (store/completions.add_completion)
removes `auto_project`, after which no version touches the task's label again.
"""
import time

from pynamodb.transactions import TransactWrite

from chalicelib.domain import rescoring_plan
from chalicelib.domain.records import Task
from chalicelib.store import records
from chalicelib.store.dynamo import conditional, connection
from chalicelib.store.ledger import MARKER_TTL_SECONDS
from chalicelib.store.models import LedgerModel, ProjectModel, TaskModel
from chalicelib.store.tasks import _update_task

_untouched_by_people = TaskModel.completion_seq.does_not_exist() | (TaskModel.completion_seq == 0)


def epoch(move: int, version: int) -> int:
    """When a label was written: the project's count of pointer moves by hand (rollback, pin:
    `activation_seq`), then the version (domain/rescoring_plan.epoch). A rollback starts a later epoch
    than the labels of the version it moved from, so the version moved to may replace them; a stale
    message of that newer version may not replace what was written after the move."""
    return rescoring_plan.epoch(move, version)


def _not_newer_than(written: int):
    """The task's label (if any) was written at or before epoch `written` (labels written before
    epochs were stored count as move 0: their version is their epoch)."""
    return (TaskModel.auto_epoch.exists() & (TaskModel.auto_epoch <= written)) | (
        TaskModel.auto_epoch.does_not_exist() & (TaskModel.auto_version.does_not_exist()
                                                 | (TaskModel.auto_version <= written)))


def apply_actions(project_id: str, label: dict, version: int, written: int, audit: bool) -> list:
    actions = [TaskModel.auto_label.set(label), TaskModel.auto_version.set(version), TaskModel.auto_epoch.set(written),
               TaskModel.auto_project.set(project_id), TaskModel.auto_audit.set(audit)]
    if audit:
        actions.append(TaskModel.pool_project.set(project_id))
    else:
        actions += [TaskModel.pool_project.remove(), TaskModel.scored_project.remove()]
    return actions


def apply_condition(written: int):
    still_open = TaskModel.pool_project.exists() | TaskModel.auto_project.exists()
    return still_open & _untouched_by_people & _not_newer_than(written)


def apply(project_id: str, task_id: int, label: dict, version: int, audit: bool, move: int = 0) -> bool:
    """Give an unlabelled task `version`'s auto label (`move`: the project's pointer moves by hand
    when the version judged, see `epoch`). It leaves the human queues, unless `audit` keeps it
    there (served to people as a check of the auto labels)."""
    written = epoch(move, version)
    return _update_task(project_id, task_id, apply_actions(project_id, label, version, written, audit),
                        apply_condition(written))


def withdraw_actions(project_id: str, written: int) -> list:
    """The epoch stays, so a stale message of an earlier epoch cannot label the task again."""
    return [TaskModel.auto_label.remove(), TaskModel.auto_version.remove(), TaskModel.auto_epoch.set(written),
            TaskModel.auto_project.remove(), TaskModel.auto_audit.remove(), TaskModel.pool_project.set(project_id)]


def withdraw_condition(written: int):
    return TaskModel.auto_project.exists() & _untouched_by_people & _not_newer_than(written)


def withdraw(project_id: str, task_id: int, version: int, move: int = 0) -> bool:
    """`version` no longer stands by the task's auto label: remove it; the task is back in the pool."""
    written = epoch(move, version)
    return _update_task(project_id, task_id, withdraw_actions(project_id, written), withdraw_condition(written))


def count_audit_once(project_id: str, task_id: int, agreed: bool) -> bool:
    """Count one audited task (people labelled an auto-labelled task) in the project's audit
    counters, once per task whatever the redeliveries (a ledger marker in the same transaction)."""
    marker = LedgerModel(pk=f"p#{project_id}", sk=f"audit#{task_id}",
                         expires_at=int(time.time()) + MARKER_TTL_SECONDS)
    actions = [ProjectModel.audit_n.add(1)]
    if agreed:
        actions.append(ProjectModel.audit_correct.add(1))
    def write():
        with TransactWrite(connection=connection()) as tx:
            tx.save(marker, condition=LedgerModel.sk.does_not_exist())
            tx.update(ProjectModel(project_id=project_id), actions=actions, condition=ProjectModel.project_id.exists())

    return conditional(write)


def auto_labelled_tasks(project_id: str) -> list[Task]:
    """Tasks whose auto label stands in for a human one (a filtered Query of the project's tasks:
    training with `train_on_auto` only)."""
    return list(map(records.task, TaskModel.query(project_id, filter_condition=TaskModel.auto_project.exists())))
