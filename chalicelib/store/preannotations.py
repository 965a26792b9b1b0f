"""Stored predictions of the active model (pre-annotation): one per task that no human has
started to complete, kept in the task's `preannotation` attribute, apart from the predictions a
user imported with the task (`predictions`). The export lists both."""
from chalicelib.store.models import TaskModel
from chalicelib.store.repository import _update_task


def store_prediction(project_id: str, task_id: int, prediction: dict) -> bool:
    """Store `prediction` on an unlabeled task (False when the task left the pool: a human is on it).
    Idempotent: a redelivered chunk writes the same prediction again."""
    return _update_task(project_id, task_id, [TaskModel.preannotation.set(prediction)],
                        TaskModel.pool_project.exists())
