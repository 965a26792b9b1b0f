"""The Label Studio ML-backend protocol's payloads, parsed into plain values (no I/O).

Label Studio has sent many shapes over the years (docs/labelstudio.md):
`schema` (setup) or `label_config` (predict/train), `annotations` or pre-1.0 `completions`,
`tasks` as a list (or, in the SDK's own tests, a single object), webhook payloads with or without
the nested task. Everything here accepts them all and names the field it rejects.
"""
from chalicelib.errors import ValidationError
from chalicelib.labeling.normalize import normalize_completion

UNTRAINED_VERSION = "untrained"  # /setup and predictions while a project has no model yet
MODEL_CLASS = "activelabel"  # what /health answers: a custom backend that says so is refused
ANNOTATION_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
DELETE_EVENTS = ("ANNOTATION_DELETED", "ANNOTATIONS_DELETED")
TRAIN_EVENTS = ("START_TRAINING",)
TASK_EVENTS = ("TASKS_CREATED",)
# activelabel's auto labels in Label Studio: predictions of this model version turned into
# annotations (services/labelstudio_stream.py); they are not human labels
AUTO_VERSION_PREFIX = "activelabel-auto-"
MAX_KEY = 200


def _digits(text: str) -> bool:
    """ASCII digits only (str.isdigit also takes "²", which int() refuses)."""
    return text.isascii() and text.isdigit()


def ls_project_key(value, field: str = "project") -> str | None:
    """`"<id>.<created_ts>"` as Label Studio sends it (None when absent)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValidationError(field, f"must be the Label Studio project '<id>.<created_ts>', got {value!r}")
    value = str(value).strip()
    if not value or len(value) > MAX_KEY or "|" in value or not _digits(value.split(".", 1)[0]):
        raise ValidationError(field, f"must be the Label Studio project '<id>.<created_ts>', got {value!r}")
    return value


def ls_project_number(key: str) -> str:
    return key.split(".", 1)[0]


def setup_schema(body: dict) -> str | None:
    schema = body.get("schema", body.get("label_config"))
    if schema is not None and not isinstance(schema, str):
        raise ValidationError("schema", "must be the label config XML string")
    return schema or None


def predict_tasks(body: dict) -> list[dict]:
    tasks = body.get("tasks")
    if isinstance(tasks, dict):
        tasks = [tasks]  # the SDK's own test payloads send one task object
    if not isinstance(tasks, list):
        raise ValidationError("tasks", "must be a list of Label Studio tasks")
    for i, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise ValidationError(f"tasks[{i}]", "must be a task object")
    return tasks


def webhook_project_number(body: dict) -> str | None:
    project = body.get("project")
    if isinstance(project, dict):
        project = project.get("id")
    if isinstance(project, bool) or project is None:
        return None
    project = str(project)
    return ls_project_number(project) if _digits(project.split(".", 1)[0]) else None


def _int_id(value, field: str) -> int:
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not _digits(str(value)):
        raise ValidationError(field, f"must be a Label Studio id (an integer), got {value!r}")
    return int(value)


def annotation_event(body: dict) -> tuple[int, int, dict | None, dict]:
    """ANNOTATION_CREATED/UPDATED -> (annotation id, LS task id, task data or None, completion)."""
    annotation = body.get("annotation")
    if not isinstance(annotation, dict):
        raise ValidationError("annotation", "missing: the event carries no annotation")
    ann_id = _int_id(annotation.get("id"), "annotation.id")
    task = body.get("task") if isinstance(body.get("task"), dict) else None
    raw_task = annotation.get("task")
    if isinstance(raw_task, dict):
        task = task or raw_task
    ls_task_id = _int_id(raw_task if raw_task is not None else (task or {}).get("id"), "annotation.task")
    data = task.get("data") if task else None
    if data is not None and not isinstance(data, dict):
        raise ValidationError("task.data", "must be an object")
    return ann_id, ls_task_id, data, normalize_completion(annotation, "annotation")


def deleted_annotation_ids(body: dict) -> list[int]:
    if isinstance(body.get("annotation"), dict):
        return [_int_id(body["annotation"].get("id"), "annotation.id")]
    items = body.get("annotations")
    if not isinstance(items, list):
        raise ValidationError("annotations", "missing: the event names no annotation")
    return [_int_id(item, f"annotations[{i}]") for i, item in enumerate(items)]


def exported_tasks(tasks, field: str) -> list[tuple[int, dict, list[tuple[int, dict]]]]:
    """Label Studio export / legacy /train tasks -> [(LS task id, data, [(annotation id, completion)])].

    Tasks carry `annotations` or (pre-1.0) `completions`; annotation ids may be missing in very old
    payloads, then minus their position stands in (never a real id)."""
    if not isinstance(tasks, list):
        raise ValidationError(field, "must be a list of Label Studio tasks")
    parsed = []
    for i, task in enumerate(tasks):
        path = f"{field}[{i}]"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise ValidationError(f"{path}.data", "must be an object with the task's data")
        ls_task_id = _int_id(task.get("id"), f"{path}.id")
        key = "annotations" if "annotations" in task else "completions"
        raw = task.get(key) or []
        if not isinstance(raw, list):
            raise ValidationError(f"{path}.{key}", "must be a list")
        annotations = []
        for j, annotation in enumerate(raw):
            apath = f"{path}.{key}[{j}]"
            ann_id = annotation.get("id") if isinstance(annotation, dict) else None
            ann_id = _int_id(ann_id, f"{apath}.id") if ann_id is not None else -(j + 1)
            annotations.append((ann_id, normalize_completion(annotation, apath)))
        parsed.append((ls_task_id, task["data"], annotations))
    return parsed


def empty_prediction(model_version: str) -> dict:
    return {"result": [], "score": 0.0, "model_version": model_version}


def has_parent_predictions(tasks) -> bool:
    return isinstance(tasks, list) and any(
        isinstance(a, dict) and a.get("parent_prediction") is not None
        for t in tasks if isinstance(t, dict) for a in (t.get("annotations") or []) if isinstance(t.get("annotations"), list))


def drop_auto_annotations(tasks, auto: dict):
    """Exported tasks without the annotations activelabel made from its auto labels: those whose
    `parent_prediction` is one of `auto` ({prediction id: result} of the `activelabel-auto-`
    predictions; the export names predictions by id) and whose result is still that prediction's
    (a person who edits one makes it theirs). Other shapes pass as they are."""
    if not isinstance(tasks, list) or not auto:
        return tasks
    kept = []
    for task in tasks:
        if isinstance(task, dict) and isinstance(task.get("annotations"), list):
            task = {**task, "annotations": [
                a for a in task["annotations"]
                if not (isinstance(a, dict) and a.get("parent_prediction") in auto
                        and a.get("result") == auto[a.get("parent_prediction")])]}
        kept.append(task)
    return kept


def created_tasks(body: dict) -> list[tuple[int, dict]]:
    """TASKS_CREATED -> [(Label Studio task id, data)]."""
    tasks = body.get("tasks")
    if not isinstance(tasks, list):
        raise ValidationError("tasks", "missing: the event carries no tasks")
    parsed = []
    for i, task in enumerate(tasks):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise ValidationError(f"tasks[{i}].data", "must be an object with the task's data")
        parsed.append((_int_id(task.get("id"), f"tasks[{i}].id"), task["data"]))
    return parsed
