"""activelabel as a Label Studio ML backend: the handlers behind the /ls/ routes. Each parses Label
Studio's request (protocol.py), calls one use case and shapes Label Studio's answer.

- `/health`, `/`: static, no database, no model (Label Studio allows 1 s).
- `/setup`: links the Label Studio project to an activelabel project and answers the current
  `model_version`, the same string every prediction carries ("untrained" before a model)
  (services/labelstudio_link.py).
- `/predict`: one prediction per task, in order; tasks it cannot score get an empty result
  (services/prediction.py).
- `/webhook`: annotation events become completions (id `"<task>.ls<annotation id>"`, so a
  redelivered event rewrites the same item) through the same use case as completions of our own
  API (services/completions.py); START_TRAINING queues a pull of Label Studio's export, which
  requests a training (services/labelstudio_sync.py); TASKS_CREATED makes the new tasks ours
  (so the next pre-annotation pass reaches them).
- `/train` (legacy, `annotations` or `completions`), `/versions`.
"""
import time

from chalicelib.errors import NotFoundError, ValidationError
from chalicelib.labelstudio import protocol
from chalicelib.labelstudio.auth import Connection
from chalicelib.services import labelstudio_link, labelstudio_sync, prediction
from chalicelib.telemetry import metrics

MODEL_CLASS = protocol.MODEL_CLASS
MAX_PREDICT_TASKS = 1000


def health() -> dict:
    return {"status": "UP", "model_class": MODEL_CLASS}


def setup(body: dict, conn: Connection) -> dict:
    key = protocol.ls_project_key(body.get("project"))
    return {"model_version": labelstudio_link.setup(conn, key, body)}


def predict(body: dict, conn: Connection) -> dict:
    tasks = protocol.predict_tasks(body)
    if len(tasks) > MAX_PREDICT_TASKS:
        raise ValidationError("tasks", f"has {len(tasks)} tasks; at most {MAX_PREDICT_TASKS} per request")
    project = labelstudio_link.resolve(conn, protocol.ls_project_key(body.get("project")))
    started = time.monotonic()
    results, version = prediction.predict_tasks(project, tasks)
    metrics.predictions_served(len(results), started, getattr(project, "project_id", None), version, "labelstudio")
    return {"results": results, "model_version": version}


def webhook(body: dict, conn: Connection) -> tuple[dict, int]:
    action = body.get("action")
    if action not in protocol.ANNOTATION_EVENTS + protocol.DELETE_EVENTS + protocol.TRAIN_EVENTS + protocol.TASK_EVENTS:
        return {"status": "Unknown event"}, 200
    project = labelstudio_link.resolve_number(conn, protocol.webhook_project_number(body))
    if project is None:
        return {"status": "ignored", "reason": "project not linked yet: Label Studio calls /setup first"}, 200
    if action in protocol.ANNOTATION_EVENTS:
        return labelstudio_sync.record_annotation(project, body), 201
    if action in protocol.DELETE_EVENTS:
        return labelstudio_sync.delete_annotations(project, body), 201
    if action in protocol.TASK_EVENTS:
        return labelstudio_sync.add_tasks(project, body), 201
    return labelstudio_sync.start_training(project), 201


def train(body: dict, conn: Connection) -> dict:
    """Legacy /train (LS <= 1.11, label-studio-ml <= 1.0.9): tasks with `annotations` or `completions`."""
    key = protocol.ls_project_key(body.get("project"))
    field = "annotations" if "annotations" in body else "completions"
    tasks = protocol.exported_tasks(body.get(field), field)
    if not tasks:
        raise ValidationError(field, "No annotations found.")
    project = labelstudio_link.resolve(conn, key)
    if project is None and key and conn.project_id is None:
        schema = body.get("label_config") if isinstance(body.get("label_config"), str) else None
        project = labelstudio_link.link_new(conn, key, schema)
    if project is None:
        raise NotFoundError("no linked project: send 'project' as /setup did", "project")
    synced = labelstudio_sync.sync_tasks(project, tasks)
    queued = labelstudio_sync.request_training(project)
    return {"job": f"{project.project_id}-{queued.get('request_seq') or 0}", "synced": synced, **queued}


def versions(project_param: str | None, conn: Connection) -> dict:
    return labelstudio_link.versions(conn, project_param)
