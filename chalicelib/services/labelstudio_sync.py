"""Label Studio's annotations -> our completions, and its training requests.

- An annotation event (`/ls/webhook`) becomes a completion through services/completions.py, the
  same path as our API's; Label Studio tasks become our tasks on first sight.
- The export (legacy `/train`, or the pull that START_TRAINING queues on the train queue) is synced:
  new or changed annotations are recorded, annotations Label Studio no longer has are deleted,
  unchanged ones are not rewritten (no stream traffic); then a training is requested (reason
  `labelstudio`).

The pull runs on the train queue rather than inside the webhook, so the webhook answers at once
however big the project is (Label Studio waits about a second, API Gateway 29 s). A finished pull
is marked done in the ledger, so a redelivered message neither reads Label Studio again nor trains
again (a crash between requesting the training and the mark costs at most one extra training on the
same data). Label Studio unreachable or slow -> recorded in /training (`last_error`) and raised, so
SQS redelivers the message (then its DLQ); Label Studio refusing (a revoked token, a deleted
project) -> recorded and not retried.
"""
import logging
import uuid

from chalicelib.errors import ConflictError, ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labeling.validation import validate_task_data
from chalicelib.labelstudio import crypto, lsapi, net, protocol
from chalicelib.services import completions, rescoring, training_requests
from chalicelib.store import completions as completion_db
from chalicelib.store import labelstudio as links
from chalicelib.store import jobs, ledger, queue
from chalicelib.store import projects as project_db
from chalicelib.store import tasks as task_db
from chalicelib.store import training as training_db
from chalicelib.telemetry import metrics

log = logging.getLogger("activelabel.services.labelstudio_sync")


def ensure_task(project, config, ls_task_id: int, data: dict | None) -> int | None:
    """Our task for a Label Studio task, created on first sight from its data (None if impossible)."""
    pid = project.project_id
    task_id = links.find_task_for(pid, ls_task_id)
    if task_id is None:
        if data is None:
            return None
        validate_task_data(config, data, "task.data")
        task_id = links.claim_task_for(pid, ls_task_id, project_db.reserve_task_ids(pid, 1))
        links.put_task(pid, task_id, data, {"ls_task_id": ls_task_id})
    elif task_db.find_task(pid, task_id) is None and data is not None:
        links.put_task(pid, task_id, data, {"ls_task_id": ls_task_id})  # a crash between claim and put
    return task_id


def record_annotation(project, body: dict) -> dict:
    """ANNOTATION_CREATED / ANNOTATION_UPDATED -> one completion."""
    ann_id, ls_task_id, data, completion = protocol.annotation_event(body)
    config = parse_label_config(project.label_config)
    if data is not None:  # refuse a bad event before its task is created
        validate_task_data(config, data, "task.data")
        completions.check(config, data, completion, "annotation.result")
    task_id = ensure_task(project, config, ls_task_id, data)
    if task_id is None:
        return {"status": "ignored", "reason": f"task {ls_task_id} unknown and the event carries no task data"}
    if data is None:
        data = task_db.get_task(project.project_id, task_id).data
    item = completions.record(project, task_id, data, completion, "annotation.result", config, ann_id)
    return {"status": "ok", "completion": item.completion_id}


def delete_annotations(project, body: dict) -> dict:
    return {"status": "ok", "deleted": completions.delete_ls_annotations(project, protocol.deleted_annotation_ids(body))}


def add_tasks(project, body: dict) -> dict:
    """TASKS_CREATED: the new Label Studio tasks become ours (the unlabeled pool), so the next
    pre-annotation pass pushes their predictions; tasks whose data does not fit are skipped."""
    config = parse_label_config(project.label_config)
    added = skipped = 0
    for ls_task_id, data in protocol.created_tasks(body):
        try:
            added += ensure_task(project, config, ls_task_id, data) is not None
        except ValidationError as exc:
            log.info("tasks created: task %s skipped (%s)", ls_task_id, exc.message)
            skipped += 1
    return {"status": "ok", "tasks": added, "skipped": skipped}


def pull_for_stream(project_id: str, request_id: str) -> str:
    """The switch of Label Studio's stream turned on: every Label Studio task becomes ours (a pull of
    the export), and with a model already active a pre-annotation pass pushes its predictions to
    them, so that Label Studio's stream can order them all."""
    pulled = pull_and_train(project_id, f"stream-{request_id}")
    project = project_db.find_project(project_id)
    if project is None or project.active_version is None or not pulled.startswith("pulled"):
        return pulled
    job = rescoring.start_preannotation(project_id)
    return f"{pulled}; pre-annotation {job}"


def sync_tasks(project, tasks: list[tuple[int, dict, list[tuple[int, dict]]]]) -> dict:
    """Bring Label Studio's tasks (labeled or not) into our tables. Invalid tasks or annotations (or ones over
    the per-task limit) are skipped and counted."""
    config = parse_label_config(project.label_config)
    existing = {item.completion_id: item for item in completion_db.iter_completions(project.project_id)
                if ".ls" in item.completion_id}
    written = skipped = deleted = 0
    for ls_task_id, data, annotations in tasks:
        try:
            task_id = ensure_task(project, config, ls_task_id, data)
        except ValidationError as exc:
            log.info("sync: task %s skipped (%s)", ls_task_id, exc.message)
            skipped += 1
            continue
        seen = set()
        for ann_id, completion in annotations:
            cid = completions.ls_completion_id(task_id, ann_id)
            seen.add(cid)
            old = existing.get(cid)
            try:
                completions.check(config, data, completion, "result")
                if old is not None and old.result == completion["result"] and \
                        bool(old.was_cancelled) == completion["was_cancelled"]:
                    continue
                completions.record(project, task_id, data, completion, "result", config, ann_id)
            except ValidationError as exc:
                log.info("sync: annotation %s skipped (%s)", ann_id, exc.message)
                skipped += 1
                continue
            written += 1
        for cid, item in existing.items():
            if item.task_id == task_id and cid not in seen:
                completion_db.delete_completion(project.project_id, cid)
                deleted += 1
    return {"tasks": len(tasks), "written": written, "deleted": deleted, "skipped": skipped}


def request_training(project) -> dict:
    """A training asked for by Label Studio: {"training": state, "request_seq"} or "not queued"."""
    try:
        answer = training_requests.request(project.project_id, "labelstudio")
        return {"training": answer["state"], "request_seq": answer["request_seq"]}
    except ConflictError as exc:
        # thresholds not met yet: the stream queues the training once the completions count
        return {"training": "not queued", "reason": exc.message}


def _linked(project) -> bool:
    link = project.ls_link or {}
    return bool(link.get("hostname") and link.get("access_token"))


def start_training(project) -> dict:
    """START_TRAINING. Linked to a Label Studio project we can read: queue a pull of its export,
    which then requests a training; otherwise request the training at once."""
    if _linked(project):
        queue.send_labelstudio_pull(project.project_id, uuid.uuid4().hex)
        return {"status": "ok", "pull": "queued", "training": "queued after the pull"}
    return {"status": "ok", "pull": None, **request_training(project)}


def pull_and_train(project_id: str, request_id: str) -> str:
    """One pull message: "pulled:<written>" (+ the training outcome), "failed:<why>" or "skipped:<why>"."""
    marker = f"lspull#{request_id}"
    project = project_db.find_project(project_id)
    if project is None:
        return "skipped:project deleted"
    if ledger.marker_exists(project_id, marker):
        return "skipped:done"
    if not _linked(project):
        return f"skipped:not linked ({request_training(project)['training']})"
    link = project.ls_link
    token = crypto.decrypt(link["access_token"], f"project:{project.project_id}")
    number = protocol.ls_project_number(link["ls_project"])
    job_id = f"labelstudio_pull-{request_id}"
    jobs.start(project_id, job_id, "labelstudio_pull", 0)
    try:
        exported = lsapi.export_tasks(link["hostname"], token, number)
    except net.UpstreamError as exc:
        training_db.record_training_error(project_id, f"Label Studio export: {exc.message}")
        metrics.emit({"LabelStudioRefusals": 1}, project_id, operation="pull", kind=exc.kind)
        if exc.kind in ("connect", "timeout"):
            raise
        ledger.put_marker(project_id, marker)
        jobs.finish(project_id, job_id, error=f"Label Studio export: {exc.message}")
        return f"failed:{exc.message}"
    except ValidationError as exc:  # the outbound guard refused the address: retrying cannot help
        metrics.emit({"LabelStudioRefusals": 1}, project_id, operation="pull", kind="guard")
        training_db.record_training_error(project_id, f"Label Studio export refused: {exc.message}")
        ledger.put_marker(project_id, marker)
        jobs.finish(project_id, job_id, error=f"Label Studio export refused: {exc.message}")
        return f"failed:{exc.message}"
    auto = _auto_predictions(project_id, link["hostname"], token, number, exported)
    pulled = sync_tasks(project, protocol.exported_tasks(protocol.drop_auto_annotations(exported, auto), "export"))
    training = request_training(project)
    ledger.put_marker(project_id, marker)
    jobs.finish(project_id, job_id, done=pulled["tasks"], total=pulled["tasks"],
                detail={**pulled, "training": training["training"]})
    log.info("project %s: pulled %s from Label Studio; training %s", project_id, pulled, training)
    return f"pulled:{pulled['written']}, training {training['training']}"


def _auto_predictions(project_id: str, hostname: str, token: str, number: str, exported) -> dict:
    """The `activelabel-auto-` predictions of the project when the export holds annotations made
    from predictions: activelabel's own auto annotations (services/labelstudio_stream.py) are not
    human labels. Unreachable: raised (the pull is retried)."""
    if not protocol.has_parent_predictions(exported):
        return {}
    try:
        return lsapi.auto_predictions(hostname, token, number, protocol.AUTO_VERSION_PREFIX)
    except net.UpstreamError as exc:
        training_db.record_training_error(project_id, f"Label Studio predictions: {exc.message}")
        if exc.kind in ("connect", "timeout"):
            raise
        return {}
