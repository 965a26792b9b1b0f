"""A rescoring chunk's writes: one UpdateItem per task planned by domain/rescoring_plan.py, carrying
its priority, its stored prediction and its auto label (or withdrawal) together.

The write is conditional on every part's own condition (the same ones the parts' single writes use:
store/tasks.score_condition, store/preannotations.prediction_condition, store/auto_labels), so it is
idempotent and a stale or raced message changes nothing it must not. The planner only plans the parts
the task as read allows, so the combined write fails only when the task changed between the read and
the write (a completion started, a newer version's label): then each part is written alone under
its own condition, and whichever still holds is written, as if the parts had never been combined.
"""
from dataclasses import dataclass

from chalicelib.domain.rescoring_plan import TaskUpdate
from chalicelib.store import auto_labels
from chalicelib.store.models import TaskModel
from chalicelib.store.preannotations import prediction_condition
from chalicelib.store.tasks import _update_task, score_condition


@dataclass(frozen=True)
class Written:
    """Which parts of a TaskUpdate were written."""

    scored: bool = False
    predicted: bool = False
    labelled: bool = False
    withdrawn: bool = False


def _rank_actions(project_id: str, update: TaskUpdate, with_queue: bool) -> list:
    actions = [TaskModel.priority.set(float(update.rank.priority)), TaskModel.score_version.set(update.version)]
    return actions + [TaskModel.scored_project.set(project_id)] if with_queue else actions


def _parts(project_id: str, update: TaskUpdate) -> list[tuple[str, list, object]]:
    """(name, actions, condition) of each planned part."""
    parts = []
    leaves_queues = update.auto is not None and not update.audit  # the auto label removes scored_project
    if update.rank is not None:
        parts.append(("scored", _rank_actions(project_id, update, not leaves_queues), score_condition(update.version)))
    if update.prediction is not None:
        parts.append(("predicted", [TaskModel.preannotation.set(update.prediction)], prediction_condition()))
    if update.auto is not None:
        parts.append(("labelled", auto_labels.apply_actions(project_id, update.auto, update.version, update.epoch,
                                                            update.audit), auto_labels.apply_condition(update.epoch)))
    elif update.withdraw:
        parts.append(("withdrawn", auto_labels.withdraw_actions(project_id, update.epoch),
                      auto_labels.withdraw_condition(update.epoch)))
    return parts


def write(project_id: str, update: TaskUpdate) -> Written:
    """Write one task's update: one UpdateItem (more only when the task changed since it was read)."""
    parts = _parts(project_id, update)
    if not parts:
        return Written()
    condition = parts[0][2]
    for _, _, more in parts[1:]:
        condition = condition & more
    if _update_task(project_id, update.task_id, [a for _, actions, _ in parts for a in actions], condition):
        return Written(**{name: True for name, _, _ in parts})
    if len(parts) == 1:
        return Written()
    done = {}
    for name, actions, part_condition in parts:
        if name == "scored" and update.auto is not None and not update.audit:
            actions = _rank_actions(project_id, update, True)  # written alone, before the label leaves the queue
        done[name] = _update_task(project_id, update.task_id, actions, part_condition)
    return Written(**done)
