"""The completions table: one item per completion (`"<task>.<n>"`, or `"<task>.ls<annotation id>"`
for a Label Studio annotation), and the task's completion slots (the per-task limit)."""
from pynamodb.exceptions import DoesNotExist

from chalicelib.domain import assignment
from chalicelib.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.domain.records import Completion, Task
from chalicelib.store import records
from chalicelib.store.dynamo import conditional, now
from chalicelib.store.models import CompletionModel, TaskModel
from chalicelib.store.tasks import find_task, queue_actions, release_lock, update_returning_task
from chalicelib.telemetry import context


def completion_prefix(task_id: int) -> str:
    return f"{task_id}."


def add_completion(project_id: str, task_id: int, completion: dict, max_per_task: int,
                   completion_id: str | None = None) -> Completion:
    """Store a completion: a new one takes one of the task's `max_per_task` completion slots.

    The slot is taken by one conditional update (the task exists and has allocated fewer than
    `max_per_task`), so concurrent requests can neither share an id nor exceed the limit. The same
    write records the annotator (never served this task again) and takes the task out of the
    unlabeled pool indexes at once; the stream handler then decides whether it wants another
    annotator (the `rework` index). The annotator's own lock on the task is released.

    `completion_id` names a completion made elsewhere (a Label Studio annotation): if it is stored
    already, it is rewritten in place (an edit or a redelivery takes no new slot).
    """
    if completion_id is not None and _completion_exists(project_id, completion_id):
        item = new_completion_item(project_id, task_id, completion_id, completion)
        item.save()
        return records.completion(item)
    annotator = completion.get("completed_by") or "unknown"
    # one completion per annotator and task through our API (a Label Studio annotation, which has
    # its own id, follows Label Studio's rules): one person cannot meet `overlap` alone
    task = _take_completion_slot(project_id, task_id, annotator, max_per_task,
                                 once_per_annotator=completion_id is None and annotator != "unknown")
    if completion_id is None:
        item = new_completion_item(project_id, task_id, f"{completion_prefix(task_id)}{int(task.completion_seq)}",
                                   completion)
        item.save(condition=CompletionModel.completion_id.does_not_exist())
    else:  # a concurrent redelivery of the same annotation writes the same item
        item = new_completion_item(project_id, task_id, completion_id, completion)
        item.save()
    if task.lock_owner == annotator:
        release_lock(project_id, task_id, annotator)
    return records.completion(item)


def _take_completion_slot(project_id: str, task_id: int, annotator: str, max_per_task: int,
                          once_per_annotator: bool = False) -> Task:
    condition = TaskModel.task_id.exists() & (TaskModel.completion_seq < max_per_task)
    if once_per_annotator:
        condition &= TaskModel.annotators.does_not_exist() | ~TaskModel.annotators.contains(annotator)
    actions = [
        TaskModel.completion_seq.add(1),
        TaskModel.annotators.add({annotator}),
        *queue_actions(project_id, frozenset(), only=assignment.LEFT_ON_COMPLETION),
        TaskModel.auto_project.remove(),  # a human label wins over an auto label (kept for the audit)
    ]
    task = update_returning_task(project_id, task_id, actions, condition)
    if task is not None:
        return task
    current = find_task(project_id, task_id)
    if current is None:
        raise NotFoundError(f"task {task_id} not found in project {project_id}", "task_id")
    if once_per_annotator and annotator in current.annotators:
        raise ConflictError(f"{annotator!r} has already completed task {task_id}; delete that completion "
                            "to label it again", "completed_by")
    raise ValidationError("task_id", f"task {task_id} already has {max_per_task} completions (the limit)")


def forget_annotator(project_id: str, task_id: int, annotator: str) -> None:
    """After their completion is deleted, `annotator` may complete (and be served) the task again."""
    conditional(lambda: TaskModel(project_id=project_id, task_id=task_id).update(
        actions=[TaskModel.annotators.delete({annotator})], condition=TaskModel.task_id.exists()))


def _completion_exists(project_id: str, completion_id: str) -> bool:
    try:
        CompletionModel.get(project_id, completion_id, consistent_read=True, attributes_to_get=["completion_id"])
    except DoesNotExist:
        return False
    return True


def new_completion_item(project_id: str, task_id: int, completion_id: str, completion: dict) -> CompletionModel:
    ts = now()
    return CompletionModel(
        project_id=project_id,
        completion_id=completion_id,
        task_id=task_id,
        result=completion["result"],
        completed_by=completion.get("completed_by") or "unknown",
        recorded_by=completion.get("recorded_by"),
        was_cancelled=bool(completion.get("was_cancelled")),
        ground_truth=bool(completion.get("ground_truth")),
        lead_time=completion.get("lead_time"),
        correlation_id=context.correlation_id(),
        created_at=ts,
        updated_at=ts,
    )


def from_stream_image(image: dict | None) -> Completion | None:
    """The completion a stream record's NEW_IMAGE holds (DynamoDB's attribute map), or None."""
    if not image:
        return None
    return records.completion(CompletionModel.from_raw_data(image))


def completions_of_task(project_id: str, task_id: int) -> list[Completion]:
    return list(map(records.completion, CompletionModel.query(
        project_id,
        CompletionModel.completion_id.startswith(completion_prefix(task_id)),
        consistent_read=True,
    )))


def iter_completions(project_id: str):
    return map(records.completion, CompletionModel.query(project_id))


def delete_completion(project_id: str, completion_id: str) -> None:
    CompletionModel(project_id=project_id, completion_id=completion_id).delete()


def get_completion(project_id: str, completion_id: str) -> Completion:
    try:
        return records.completion(CompletionModel.get(project_id, completion_id))
    except DoesNotExist:
        raise NotFoundError(f"completion {completion_id!r} not found in project {project_id}", "completion_id")
