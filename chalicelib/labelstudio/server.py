"""activelabel as a Label Studio ML backend: the handlers behind the /ls/ routes.

- `/health`, `/`: static, no database, no model (Label Studio allows 1 s).
- `/setup`: links the Label Studio project (`"<id>.<created_ts>"`) to an activelabel project (a
  project credential names it; the deployment credential creates one from `schema` on first contact),
  stores the hostname and the access token (AES-GCM encrypted, see crypto.py) and answers the
  current `model_version`, the same string every prediction carries ("untrained" before a model).
- `/predict`: one prediction per task, in order; tasks it cannot score get an empty result.
- `/webhook`: annotation events become completions (id `"<task>.ls<annotation id>"`, so a
  redelivered event rewrites the same item) and flow through the same stream, thresholds and
  training as completions of our own API; START_TRAINING queues a pull of Label Studio's export
  (labelstudio/pull.py, on the train queue), which queues a training. Label Studio tasks become our
  tasks on first sight.
- `/train` (legacy, `annotations` or `completions`), `/versions`.
"""
import logging

from chalicelib.api import training as training_api
from chalicelib.api.predict import model_pointer
from chalicelib.domain.settings import merge_settings
from chalicelib.errors import ConflictError, LabelConfigError, NotFoundError, ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labeling.validation import validate_result, validate_task_data
from chalicelib.labelstudio import crypto, protocol
from chalicelib.labelstudio.auth import Connection
from chalicelib.ml import registry
from chalicelib.store import labelstudio as links
from chalicelib.store import queue, repository
from chalicelib.store.models import CompletionModel

log = logging.getLogger("activelabel.labelstudio")
MODEL_CLASS = "activelabel"
MAX_PREDICT_TASKS = 1000


def health() -> dict:
    return {"status": "UP", "model_class": MODEL_CLASS}


def model_version(project) -> str:
    return project.model_version if project is not None and project.model_version else protocol.UNTRAINED_VERSION


def _setup_version(project) -> str:
    """What /setup answers: our promoted version, or a custom backend's own (so that /setup and the
    predictions, which come from that backend, carry the same string)."""
    if (project.ml or {}).get("model") != "custom":
        return model_version(project)
    from chalicelib.labelstudio import client, net

    try:
        return client.backend_for(project).setup()
    except (net.UpstreamError, ValidationError) as exc:
        log.info("setup: custom backend of project %s not answering (%s)", project.project_id, exc.message)
        return protocol.UNTRAINED_VERSION


# ---------------------------------------------------------------- linking

def _available_models(config) -> list[str]:
    return [kind.name for kind in registry.fitting_kinds(config)]


def _parse_schema(schema: str | None):
    if not schema:
        return None
    try:
        return parse_label_config(schema)
    except LabelConfigError as exc:
        log.info("setup: label config not usable yet (%s)", exc.message)
        return None


def _link_new(conn: Connection, key: str, schema: str | None):
    """First contact with the deployment credential: create the project from `schema`."""
    config = _parse_schema(schema)
    if config is None:
        return None  # e.g. a new Label Studio project still on `<View></View>`: link it later
    candidate = str(repository.next_counter("projects"))
    project_id = links.claim_link(conn.user, key, candidate)  # a concurrent /setup may have won
    ml = merge_settings(None, None, _available_models(config))
    number = protocol.ls_project_number(key)
    project = links.create_project_with_id(project_id, f"Label Studio project {number}", schema, ml)
    links.set_link(conn.user, f"#{number}", project_id)
    log.info("setup: Label Studio project %s linked to new project %s", key, project_id)
    return project


def _resolve(conn: Connection, key: str | None):
    """The linked project, or None (no project named, or not linked yet)."""
    if conn.project_id is not None:
        return repository.find_project(conn.project_id)
    if key is None:
        return None
    project_id = links.find_link(conn.user, key)
    return repository.find_project(project_id) if project_id else None


def _resolve_number(conn: Connection, number: str | None):
    if conn.project_id is not None:
        return repository.find_project(conn.project_id)
    if number is None:
        return None
    project_id = links.find_link(conn.user, f"#{number}")
    return repository.find_project(project_id) if project_id else None


def _adopt_schema(project, schema: str | None) -> None:
    """Label Studio owns the label config of a linked project: follow its changes when they parse."""
    if not schema or schema == project.label_config:
        return
    config = _parse_schema(schema)
    if config is None:
        return
    models = _available_models(config)
    ml = dict(project.ml or {})
    if ml.get("model") not in models + ["custom"]:
        ml["model"] = None
    repository.update_project(project, label_config=schema, ml=merge_settings(ml, None, models))


def _store_credentials(project, key: str, body: dict) -> None:
    hostname, token = body.get("hostname"), body.get("access_token")
    extra = body.get("extra_params")
    if not isinstance(hostname, str) or not isinstance(token, str) or not hostname or not token:
        return
    digest = crypto.fingerprint(key, hostname, token, repr(extra))
    if (project.ls_link or {}).get("fingerprint") == digest:
        return  # /setup runs before every prediction batch: write only on change
    links.save_connection(project, {
        "ls_project": key,
        "hostname": hostname,
        "access_token": crypto.encrypt(token, f"project:{project.project_id}"),
        "extra_params": extra if isinstance(extra, dict) else None,
        "fingerprint": digest,
        "linked_at": repository.now().isoformat(),
    })


def setup(body: dict, conn: Connection) -> dict:
    key = protocol.ls_project_key(body.get("project"))
    schema = protocol.setup_schema(body)
    project = _resolve(conn, key)
    if conn.project_id is not None and project is None:
        raise NotFoundError(f"project {conn.project_id} not found", "project")
    if project is None and key is not None:
        project = _link_new(conn, key, schema)
    if project is None:
        return {"model_version": protocol.UNTRAINED_VERSION}
    if key is not None:
        if conn.project_id is not None and links.find_link(conn.user, f"#{protocol.ls_project_number(key)}") is None:
            links.set_link(conn.user, f"#{protocol.ls_project_number(key)}", project.project_id)
        if links.find_link(conn.user, "#last") != project.project_id:
            links.set_link(conn.user, "#last", project.project_id)
        _adopt_schema(project, schema)
        _store_credentials(project, key, body)
    return {"model_version": _setup_version(project)}


# ---------------------------------------------------------------- predictions

def _fetch(pointer) -> bytes:
    from chalicelib.store import artifacts

    return artifacts.get_artifact(pointer.bucket, pointer.key, pointer.version_id, pointer.sha256)


def predictions_for(project, tasks: list[dict]) -> tuple[list[dict], str]:
    """One prediction per task, in order. Tasks whose data does not fit the config get an empty
    result, so one odd task never costs Label Studio the whole batch."""
    version = model_version(project)
    results = [protocol.empty_prediction(version) for _ in tasks]
    if project is None:
        return results, version
    settings = project.ml or {}
    if settings.get("model") == "custom":
        from chalicelib.labelstudio import client

        return client.backend_for(project).predict(tasks)
    if project.active_version is None:
        return results, version
    config = parse_label_config(project.label_config)
    valid = []
    for i, task in enumerate(tasks):
        data = task.get("data")
        try:
            validate_task_data(config, data, f"tasks[{i}].data")
        except ValidationError as exc:
            log.info("predict: task %s skipped (%s)", task.get("id"), exc.message)
            continue
        valid.append(i)
    if valid:
        from chalicelib.ml import serving

        scored = serving.predict(model_pointer(project), [tasks[i]["data"] for i in valid], _fetch)
        for i, prediction in zip(valid, scored):
            results[i] = prediction
    return results, version


def predict(body: dict, conn: Connection) -> dict:
    tasks = protocol.predict_tasks(body)
    if len(tasks) > MAX_PREDICT_TASKS:
        raise ValidationError("tasks", f"has {len(tasks)} tasks; at most {MAX_PREDICT_TASKS} per request")
    project = _resolve(conn, protocol.ls_project_key(body.get("project")))
    results, version = predictions_for(project, tasks)
    return {"results": results, "model_version": version}


# ---------------------------------------------------------------- annotations -> completions

def _ensure_task(project, config, ls_task_id: int, data: dict | None) -> int | None:
    """Our task for a Label Studio task, created on first sight from its data (None if impossible)."""
    pid = project.project_id
    task_id = links.find_task_for(pid, ls_task_id)
    if task_id is None:
        if data is None:
            return None
        validate_task_data(config, data, "task.data")
        task_id = links.claim_task_for(pid, ls_task_id, repository.reserve_task_ids(pid, 1))
        links.put_task(pid, task_id, data, {"ls_task_id": ls_task_id})
    elif repository.find_task(pid, task_id) is None and data is not None:
        links.put_task(pid, task_id, data, {"ls_task_id": ls_task_id})  # a crash between claim and put
    return task_id


def completion_id(task_id: int, ls_annotation_id: int) -> str:
    return f"{task_id}.ls{ls_annotation_id}"


def _save_completion(project, task_id: int, ann_id: int, completion: dict) -> CompletionModel:
    ts = repository.now()
    item = CompletionModel(
        project_id=project.project_id, completion_id=completion_id(task_id, ann_id), task_id=task_id,
        result=completion["result"], completed_by=completion["completed_by"],
        was_cancelled=completion["was_cancelled"], ground_truth=completion["ground_truth"],
        lead_time=completion["lead_time"], created_at=ts, updated_at=ts,
    )
    item.save()
    if ann_id > 0:
        links.remember_annotation(project.project_id, ann_id, task_id)
    return item


def _annotation_event(project, body: dict) -> dict:
    ann_id, ls_task_id, data, completion = protocol.annotation_event(body)
    config = parse_label_config(project.label_config)
    task_id = _ensure_task(project, config, ls_task_id, data)
    if task_id is None:
        return {"status": "ignored", "reason": f"task {ls_task_id} unknown and the event carries no task data"}
    if data is None:
        data = repository.get_task(project.project_id, task_id).data
    validate_result(config, completion["result"], data, "annotation.result")
    item = _save_completion(project, task_id, ann_id, completion)
    return {"status": "ok", "completion": item.completion_id}


def _delete_event(project, body: dict) -> dict:
    deleted = []
    for ann_id in protocol.deleted_annotation_ids(body):
        task_id = links.task_of_annotation(project.project_id, ann_id)
        if task_id is None:
            continue
        CompletionModel(project_id=project.project_id, completion_id=completion_id(task_id, ann_id)).delete()
        deleted.append(completion_id(task_id, ann_id))
    return {"status": "ok", "deleted": deleted}


def sync_tasks(project, tasks: list[tuple[int, dict, list[tuple[int, dict]]]]) -> dict:
    """Bring Label Studio's labeled tasks into our tables: new tasks, new or changed annotations,
    and annotations of these tasks that Label Studio no longer has. Unchanged ones are not
    rewritten (no stream traffic). Invalid tasks or annotations are skipped and counted."""
    config = parse_label_config(project.label_config)
    existing = {}
    for item in repository.iter_completions(project.project_id):
        if ".ls" in item.completion_id:
            existing[item.completion_id] = item
    written = skipped = deleted = 0
    for ls_task_id, data, annotations in tasks:
        try:
            task_id = _ensure_task(project, config, ls_task_id, data)
        except ValidationError as exc:
            log.info("sync: task %s skipped (%s)", ls_task_id, exc.message)
            skipped += 1
            continue
        seen = set()
        for ann_id, completion in annotations:
            cid = completion_id(task_id, ann_id)
            seen.add(cid)
            try:
                validate_result(config, completion["result"], data, "result")
            except ValidationError as exc:
                log.info("sync: annotation %s skipped (%s)", ann_id, exc.message)
                skipped += 1
                continue
            old = existing.get(cid)
            if old is not None and old.result == completion["result"] and \
                    bool(old.was_cancelled) == completion["was_cancelled"]:
                continue
            _save_completion(project, task_id, ann_id, completion)
            written += 1
        for cid, item in existing.items():
            if int(item.task_id) == task_id and cid not in seen:
                item.delete()
                deleted += 1
    return {"tasks": len(tasks), "written": written, "deleted": deleted, "skipped": skipped}


def queue_training(project) -> dict:
    try:
        answer = training_api.request_training(project.project_id)
        return {"training": answer.body.get("state"), "request_seq": answer.body.get("request_seq")}
    except ConflictError as exc:
        # thresholds not met yet: the stream queues the training once the completions count
        return {"training": "not queued", "reason": exc.message}


def _start_training(project) -> dict:
    """Linked to a Label Studio project we can read: queue a pull of its export, which then queues
    a training (chalicelib/labelstudio/pull.py); otherwise queue the training at once."""
    link = project.ls_link or {}
    if link.get("hostname") and link.get("access_token"):
        import uuid

        queue.send_labelstudio_pull(project.project_id, uuid.uuid4().hex)
        return {"status": "ok", "pull": "queued", "training": "queued after the pull"}
    return {"status": "ok", "pull": None, **queue_training(project)}


def webhook(body: dict, conn: Connection) -> tuple[dict, int]:
    action = body.get("action")
    if action not in protocol.ANNOTATION_EVENTS + protocol.DELETE_EVENTS + protocol.TRAIN_EVENTS:
        return {"status": "Unknown event"}, 200
    project = _resolve_number(conn, protocol.webhook_project_number(body))
    if project is None:
        return {"status": "ignored", "reason": "project not linked yet: Label Studio calls /setup first"}, 200
    if action in protocol.ANNOTATION_EVENTS:
        return _annotation_event(project, body), 201
    if action in protocol.DELETE_EVENTS:
        return _delete_event(project, body), 201
    return _start_training(project), 201


def train(body: dict, conn: Connection) -> dict:
    """Legacy /train (LS <= 1.11, label-studio-ml <= 1.0.9): tasks with `annotations` or `completions`."""
    key = protocol.ls_project_key(body.get("project"))
    field = "annotations" if "annotations" in body else "completions"
    tasks = protocol.exported_tasks(body.get(field), field)
    if not tasks:
        raise ValidationError(field, "No annotations found.")
    project = _resolve(conn, key)
    if project is None:
        schema = body.get("label_config") if isinstance(body.get("label_config"), str) else None
        project = _link_new(conn, key, schema) if key and conn.project_id is None else None
    if project is None:
        raise NotFoundError("no linked project: send 'project' as /setup did", "project")
    synced = sync_tasks(project, tasks)
    queued = queue_training(project)
    return {"job": f"{project.project_id}-{queued.get('request_seq') or 0}", "synced": synced, **queued}


def versions(project_param: str | None, conn: Connection) -> dict:
    project = None
    if project_param:
        project = _resolve(conn, protocol.ls_project_key(project_param)) \
            or _resolve_number(conn, protocol.ls_project_number(project_param))
    elif conn.project_id is not None:
        project = repository.find_project(conn.project_id)
    else:
        last = links.find_link(conn.user, "#last")
        project = repository.find_project(last) if last else None
    if project is None:
        return {"versions": [protocol.UNTRAINED_VERSION]}
    found = [v.model_version for v in repository.list_model_versions(project.project_id)]
    return {"versions": found or [protocol.UNTRAINED_VERSION], "current_version": model_version(project)}
