"""Stored predictions of the active model (pre-annotation): one per task that no human has
started to complete, kept in the task's `preannotation` attribute, apart from the predictions a
user imported with the task (`predictions`). The export lists both."""
from chalicelib.domain.records import Task
from chalicelib.store import records
from chalicelib.store.models import TaskModel
from chalicelib.store.tasks import RESCORING_ATTRIBUTES, _update_task


def _no_completion():
    return TaskModel.completion_seq.does_not_exist() | (TaskModel.completion_seq == 0)


def prediction_condition():
    return TaskModel.task_id.exists() & _no_completion()


def store_prediction(project_id: str, task_id: int, prediction: dict) -> bool:
    """Store `prediction` on a task no human has started to complete (False when one has: the
    check is in the write). Idempotent: a redelivered chunk writes the same prediction again."""
    return _update_task(project_id, task_id, [TaskModel.preannotation.set(prediction)], prediction_condition())


def tasks_in_range(project_id: str, first: int, last: int) -> list[Task]:
    """What a leaf that predicts reads: the tasks rescoring reads (`tasks.rescoring_tasks_in_range`:
    the unlabeled pool and keyless tasks) and every other task without a completion (e.g. one that came
    from Label Studio, whose pool membership the stream decides). One bounded range query."""
    return list(map(records.task, TaskModel.query(
        project_id, TaskModel.task_id.between(first, last),
        filter_condition=TaskModel.pool_project.exists() | TaskModel.random_key.does_not_exist() | _no_completion(),
        attributes_to_get=RESCORING_ATTRIBUTES,
    )))


def ls_task_ids(project_id: str, task_ids: list[int]) -> dict[int, int]:
    """{task id: Label Studio task id} for the tasks that came from a linked Label Studio project."""
    found = {}
    keys = [(project_id, task_id) for task_id in task_ids]
    for task in TaskModel.batch_get(keys, attributes_to_get=["task_id", "meta"]):
        ls_id = (task.meta or {}).get("ls_task_id")
        if ls_id is not None:
            found[int(task.task_id)] = int(ls_id)
    return found
