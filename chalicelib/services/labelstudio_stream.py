"""Label Studio's own labeling stream follows activelabel (`ml.labelstudio_stream`, off by default).

Label Studio 1.23's next-task endpoint already serves, with its project setting
`sampling: "Uncertainty sampling"`, the unlabeled tasks holding a prediction of the project's
`model_version`, least-solved `cluster` first, then lowest `score` first
(projects/functions/next_task.py `_try_uncertainty_sampling`); `is_labeled` (distinct annotators
>= the task's `overlap`) decides what it still serves, and `show_overlap_first` serves tasks whose
`overlap` > 1 before the others. So, with the switch on:

- **Settings** (`reconcile`, a message on the train queue, FIFO per project): the Label Studio
  project gets `sampling` "Uncertainty sampling", `show_overlap_first` true and `model_version` our
  active version (again after every promotion, rollback and pin: `follow`); the settings found
  there first are kept in the link (`stream_restore`) and put back when the switch is turned off.
- **Order**: the pre-annotation pass pushes each prediction with `score` (the model's confidence),
  so the lowest-confidence task is served first (services/labelstudio_push.py), and sets the
  `cluster` rescoring gave the chunk's diversity candidates (`predictions_pushed`), so that Label
  Studio serves the cluster an annotator solved least first.
- **Auto labels** (`clear_auto_labels` / `write_auto_labels`, around the writes of a rescoring
  chunk that judges them, services/rescoring_chunk.py):
  each non-audited auto label is imported as a prediction of model version `activelabel-auto-v<n>`
  and turned into an annotation by the Data Manager action "Create Annotations From Predictions"
  (`predictions_to_annotations`; it converts only predictions without a child annotation, so a
  redelivery creates none twice). In Label Studio such an annotation is made by the token's user,
  its `parent_prediction` is that `activelabel-auto-v<n>` prediction (the Data Manager's
  "Predictions model versions" column and the export's `predictions` show it). Label Studio
  announces it with the bulk `ANNOTATIONS_CREATED` event, which `/ls/webhook` does not count, and the
  export pull skips annotations still equal to their activelabel-auto parent
  (protocol.drop_auto_annotations): a person who edits one makes it a human label. A task the
  version no longer labels loses its activelabel annotation (`delete_tasks_annotations`, narrowed to
  the token's user and to tasks holding an activelabel-auto prediction).
- **Relabels** (`relabels`, from the suspects job): a flagged task's `overlap` is raised by one
  over its annotators and `is_labeled` set false, so Label Studio serves it again, first, to
  someone who has not labelled it; a cleared flag sets `overlap` 1 back.

Every call goes through lsapi.py. Label Studio unreachable or slow: raised (SQS redelivers, the
writes are idempotent); refused: recorded on the job, not retried.
"""
import logging

from chalicelib.errors import ValidationError
from chalicelib.labelstudio import crypto, lsapi, net, protocol
from chalicelib.services.prediction import is_custom, model_version
from chalicelib.store import jobs, preannotations, queue
from chalicelib.store import projects as project_db
from chalicelib.store import suspects as suspects_db
from chalicelib.store import training as training_db

log = logging.getLogger("activelabel.services.labelstudio_stream")

FIELD = "ml.labelstudio_stream"
STREAM_SETTINGS = {"sampling": "Uncertainty sampling", "show_overlap_first": True}
AUTO_PREFIX = protocol.AUTO_VERSION_PREFIX
MAX_PER_REQUEST = 2000


def linked(project) -> bool:
    """Linked to a Label Studio project whose API we can call (hostname and token stored)."""
    link = project.ls_link or {}
    return bool(link.get("hostname") and link.get("access_token") and link.get("ls_project"))


def check_switch(project, ml: dict) -> None:
    """Before settings are stored: the switch needs a linked project with a stored token."""
    if ml.get("labelstudio_stream") and not linked(project):
        raise ValidationError(FIELD, "needs a Label Studio project linked with its API token: connect activelabel "
                                     "as the project's model in Label Studio (Settings > Model) first")


def on(project) -> bool:
    return bool((project.ml or {}).get("labelstudio_stream")) and linked(project)


def follow(project, reason: str) -> bool:
    """Queue a `reconcile` when Label Studio's settings must follow (switch on, or off with settings
    to restore). `reason` names the event (a resent request is one message)."""
    if not (on(project) or (project.ls_link or {}).get("stream_restore")):
        return False
    queue.send_labelstudio_stream(project.project_id, reason)
    return True


def _connection(project):
    link = project.ls_link
    token = crypto.decrypt(link["access_token"], f"project:{project.project_id}")
    return link["hostname"], token, protocol.ls_project_number(link["ls_project"])


def _wanted(project) -> dict:
    wanted = dict(STREAM_SETTINGS)
    if not is_custom(project):  # a custom backend's predictions carry its own version, set by /setup
        wanted["model_version"] = model_version(project)
    return wanted


def reconcile(project_id: str, request_id: str) -> str:
    """One stream message: make the Label Studio project's settings match the switch."""
    project = project_db.find_project(project_id)
    if project is None:
        return "skipped:project deleted"
    if not linked(project):
        return "skipped:not linked"
    job_id = f"labelstudio_stream-{request_id}"
    jobs.start(project_id, job_id, "labelstudio_stream", 1)
    try:
        outcome = _turn_on(project) if on(project) else _turn_off(project)
    except net.UpstreamError as exc:
        if exc.kind in ("connect", "timeout"):
            jobs.note_error(project_id, job_id, f"Label Studio: {exc.message} (retried)")
            raise
        jobs.finish(project_id, job_id, error=f"Label Studio: {exc.message}", if_running=True)
        return f"failed:{exc.message}"
    except ValidationError as exc:
        jobs.finish(project_id, job_id, error=f"Label Studio refused: {exc.message}", if_running=True)
        return f"failed:{exc.message}"
    jobs.finish(project_id, job_id, done=1, detail=outcome, if_running=True)
    log.info("project %s: Label Studio stream %s", project_id, outcome)
    return f"stream:{outcome['state']}"


def _turn_on(project) -> dict:
    hostname, token, number = _connection(project)
    link = dict(project.ls_link)
    if not link.get("stream_restore"):  # first: keep what Label Studio had, before changing it
        found = lsapi.get_project(hostname, token, number)
        link["stream_restore"] = {key: found.get(key) for key in STREAM_SETTINGS}
        project_db.save_connection(project.project_id, link)
    wanted = _wanted(project)
    version = wanted.pop("model_version", None)
    lsapi.patch_project(hostname, token, number, wanted)
    outcome = {"state": "on", **wanted}
    if version is not None:
        outcome["model_version"] = _set_model_version(hostname, token, number, version)
    return outcome


def _set_model_version(hostname: str, token: str, number: str, version: str) -> str:
    """Label Studio accepts a `model_version` only once it holds predictions of it (or its ML
    backend reports it): refused before, it is set by the push of the version's predictions
    (`predictions_pushed`)."""
    try:
        lsapi.patch_project(hostname, token, number, {"model_version": version})
    except net.UpstreamError as exc:
        if exc.kind != "status" or exc.http_status != 400:
            raise
        return f"{version} once Label Studio holds its predictions"
    return version


def predictions_pushed(project, version: str, first: int, clusters: dict[int, int]) -> int:
    """After predictions of `version` reached Label Studio (the pre-annotation push of the leaf
    starting at task `first`): with the switch on, its stream orders by them (the project's
    `model_version`), and the predictions of `clusters` ({Label Studio task id: diversity cluster})
    get their `cluster` (one update each: Label Studio's predictions import drops it; the clustered
    tasks of a chunk are its diversity candidates, about 100). Cluster numbers are made distinct per
    chunk (`first * 100 + cluster`). Returns how many clusters were set."""
    if not on(project) or is_custom(project) or version != model_version(project):
        return 0
    hostname, token, number = _connection(project)
    _set_model_version(hostname, token, number, version)
    if not clusters:
        return 0
    held = lsapi.predictions_held(hostname, token, number, sorted(clusters), version)
    for ls_task, prediction_id in sorted(held.items()):
        lsapi.patch_prediction(hostname, token, prediction_id, {"cluster": int(first) * 100 + int(clusters[ls_task])})
    return len(held)


def _turn_off(project) -> dict:
    restore = (project.ls_link or {}).get("stream_restore")
    if not restore:
        return {"state": "off"}
    hostname, token, number = _connection(project)
    lsapi.patch_project(hostname, token, number, {k: v for k, v in restore.items() if v is not None})
    flagged = _flagged_ls_ids(project)
    for ls_id in flagged:  # the relabels the switch asked for end with it
        lsapi.patch_task(hostname, token, ls_id, {"overlap": 1, "is_labeled": True})
    link = {k: v for k, v in project.ls_link.items() if k != "stream_restore"}
    project_db.save_connection(project.project_id, link)
    return {"state": "off", "restored": restore, "relabels_ended": len(flagged)}


def _flagged_ls_ids(project) -> list[int]:
    ids = [t.task_id for t in suspects_db.flagged(project.project_id)]
    return sorted(preannotations.ls_task_ids(project.project_id, ids).values()) if ids else []


def _refusals_recorded(write):
    """Label Studio refusing a write (a revoked token, a deleted task): recorded in /training's
    `last_error`, not retried; unreachable or slow: raised, so the message is redelivered."""
    def guarded(project, *args):
        try:
            return write(project, *args)
        except net.UpstreamError as exc:
            if exc.kind in ("connect", "timeout"):
                raise
            message = exc.message
        except ValidationError as exc:
            message = exc.message
        log.warning("project %s: Label Studio refused a stream write: %s", project.project_id, message)
        training_db.record_training_error(project.project_id, f"Label Studio stream: {message}")
        return None
    guarded.__doc__, guarded.__name__ = write.__doc__, write.__name__
    return guarded


def clear_auto_labels(project, updates: list) -> None:
    """Before a chunk's writes: the tasks whose auto label is withdrawn, or kept for the audit
    (people label those in the stream), lose any activelabel annotation in Label Studio."""
    cleared = [u.task_id for u in updates if u.withdraw or (u.auto is not None and u.audit)]
    if cleared:
        auto_labels(project, {}, cleared)


def write_auto_labels(project, version: int, updates: list) -> None:
    """After a chunk's writes: its auto labels (not audited) stand as activelabel annotations."""
    labelled = {u.task_id: u.auto for u in updates if u.auto is not None and not u.audit}
    if labelled:
        auto_labels(project, labelled, [])


@_refusals_recorded
def auto_labels(project, labelled: dict[int, dict], cleared: list[int]) -> dict:
    """Write auto labels to Label Studio: `labelled` {task id: auto label} stand as activelabel
    annotations of the label's `model_version`; the tasks `cleared` lose any activelabel annotation.
    A few requests per chunk (a task-list read per version, one delete, one import and one
    conversion per version). Returns counts."""
    if not on(project) or not (labelled or cleared):
        return {"annotated": 0, "removed": 0}
    ls_ids = preannotations.ls_task_ids(project.project_id, sorted(set(labelled) | set(cleared)))
    if not ls_ids:
        return {"annotated": 0, "removed": 0}
    hostname, token, number = _connection(project)
    groups: dict[str, dict[int, dict]] = {}
    for task_id, label in labelled.items():
        if task_id in ls_ids:
            groups.setdefault(AUTO_PREFIX + str(label["model_version"]), {})[ls_ids[task_id]] = label
    fresh = {name: sorted(set(wanted) - lsapi.tasks_holding(hostname, token, number, sorted(wanted), name))
             for name, wanted in groups.items()}
    stale = sorted({ls_ids[t] for t in cleared if t in ls_ids} | {i for ids in fresh.values() for i in ids})
    removed = annotated = 0
    if stale:  # cleared, or about to hold another version's label
        answer = lsapi.dm_action(hostname, token, number, "delete_tasks_annotations", stale,
                                 {"annotator": lsapi.whoami(hostname, token)}, version_prefix=AUTO_PREFIX)
        removed = _count(answer)
    for name, wanted in groups.items():
        payload = [{"task": ls_id, "result": wanted[ls_id]["result"], "score": wanted[ls_id]["score"],
                    "model_version": name} for ls_id in fresh[name]]
        for start in range(0, len(payload), MAX_PER_REQUEST):
            lsapi.import_predictions(hostname, token, number, payload[start:start + MAX_PER_REQUEST])
        # converts only predictions without an annotation: a redelivery adds none
        answer = lsapi.dm_action(hostname, token, number, "predictions_to_annotations", sorted(wanted),
                                 {"model_version": name})
        annotated += _count(answer)
    log.info("project %s: Label Studio auto annotations: %s created, %s removed", project.project_id, annotated,
             removed)
    return {"annotated": annotated, "removed": removed}


def _count(answer: dict) -> int:
    """Label Studio's action detail, e.g. "Created 12 annotations" / "Deleted 3 annotations"."""
    words = str(answer.get("detail") or "").split()
    return next((int(w) for w in words if w.isdigit()), 0) if "processed_items" not in answer \
        else int(answer["processed_items"])


@_refusals_recorded
def relabels(project, flagged: dict[int, int], cleared: list[int]) -> int:
    """The suspects job's outcome in Label Studio: each task of `flagged` ({task id: its human
    annotators}) is served again to someone else (overlap one above its annotators, not labeled);
    each of `cleared` gets overlap 1 back. One task update per task (Label Studio 1.23 has no bulk
    overlap update); returns how many were sent."""
    if not on(project) or not (flagged or cleared):
        return 0
    ls_ids = preannotations.ls_task_ids(project.project_id, sorted(set(flagged) | set(cleared)))
    hostname, token, number = _connection(project)
    sent = 0
    for task_id, annotators in sorted(flagged.items()):
        if task_id in ls_ids:
            lsapi.patch_task(hostname, token, ls_ids[task_id], {"overlap": max(1, annotators) + 1, "is_labeled": False})
            sent += 1
    for task_id in sorted(cleared):
        if task_id in ls_ids:
            lsapi.patch_task(hostname, token, ls_ids[task_id], {"overlap": 1, "is_labeled": True})
            sent += 1
    return sent
