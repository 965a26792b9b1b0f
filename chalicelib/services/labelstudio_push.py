"""Push stored predictions to a linked Label Studio project through its predictions import API,
so Label Studio shows pre-annotations without calling `/predict`.

Called by a pre-annotation leaf (services/rescoring.py) with what it stored. Only tasks that came
from the linked project (`meta.ls_task_id`) are pushed, in one request per leaf (a leaf is at most
one chunk).

Idempotent by model version: Label Studio's import API takes no idempotency key, so before pushing,
the leaf reads which of its tasks already hold a prediction of the version (lsapi.tasks_holding)
and pushes only the others. A redelivery between the push and its record, or a later pass of the
same version (a rollback to a version pushed before), adds no second prediction of that version to
a task. A marker put after the push makes a redelivered leaf skip both calls. Label Studio
unreachable: raised, so SQS redelivers the leaf; refused (4xx, or the outbound guard): recorded in
the job's error and not retried.
"""
import logging

from chalicelib.errors import ValidationError
from chalicelib.labelstudio import crypto, lsapi, net, protocol
from chalicelib.services import labelstudio_stream
from chalicelib.store import jobs, ledger, preannotations
from chalicelib.telemetry import metrics

log = logging.getLogger("activelabel.services.labelstudio_push")

MAX_PER_REQUEST = labelstudio_stream.MAX_PER_REQUEST
linked = labelstudio_stream.linked


def push(project, job_id: str | None, first: int, stored: dict[int, dict]) -> int:
    """Push `stored` ({task id: prediction}); returns how many Label Studio created."""
    if not stored or not linked(project):
        return 0
    project_id = project.project_id
    marker = f"lspush#{job_id}#{first}"
    if ledger.marker_exists(project_id, marker):
        return 0
    ls_ids = preannotations.ls_task_ids(project_id, sorted(stored))
    payload = [{"task": ls_ids[task_id], "result": prediction["result"], "score": prediction["score"],
                "model_version": prediction["model_version"]}
               for task_id, prediction in sorted(stored.items()) if task_id in ls_ids]
    link = project.ls_link
    created = 0
    try:
        if payload:
            token = crypto.decrypt(link["access_token"], f"project:{project_id}")
            number = protocol.ls_project_number(link["ls_project"])
            version = payload[0]["model_version"]
            held = lsapi.tasks_holding(link["hostname"], token, number, [p["task"] for p in payload], version)
            payload = [p for p in payload if p["task"] not in held]
            for start in range(0, len(payload), MAX_PER_REQUEST):
                created += lsapi.import_predictions(link["hostname"], token, number,
                                                    payload[start:start + MAX_PER_REQUEST])
            clusters = {ls_ids[t]: p["cluster"] for t, p in stored.items() if t in ls_ids and p.get("cluster") is not None}
            labelstudio_stream.predictions_pushed(project, version, first, clusters)
    except net.UpstreamError as exc:
        if exc.kind in ("connect", "timeout"):
            metrics.emit({"LabelStudioRefusals": 1}, project_id, operation="push", kind=exc.kind)
            raise
        _refused(project_id, job_id, marker, exc.message)
        return 0
    except ValidationError as exc:
        _refused(project_id, job_id, marker, exc.message)
        return 0
    ledger.put_marker(project_id, marker)
    metrics.emit({"LabelStudioPushes": created}, project_id)
    log.info("project %s: pushed %s predictions to Label Studio (leaf %s of %s)", project_id, created, first, job_id)
    return created


def _refused(project_id: str, job_id: str | None, marker: str, message: str) -> None:
    log.warning("project %s: Label Studio refused the predictions of %s: %s", project_id, job_id, message)
    metrics.emit({"LabelStudioRefusals": 1}, project_id, operation="push", kind="refused")
    if job_id:
        jobs.note_error(project_id, job_id, f"Label Studio predictions import: {message}")
    ledger.put_marker(project_id, marker)
