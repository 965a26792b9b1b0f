"""START_TRAINING from Label Studio, done on the train queue rather than inside the webhook.

The webhook only queues a pull (`queue.send_labelstudio_pull`), so it answers at once however big
the project is (Label Studio waits about a second for a webhook, API Gateway 29 s). The train
worker then reads Label Studio's JSON export, syncs its annotations as completions (idempotent:
`server.sync_tasks` writes only what changed) and asks for a training, which the same FIFO queue
delivers after the pull. A pull that finished is marked done in the ledger, so a redelivered
message neither reads Label Studio again nor trains again (a crash between asking for the training
and the mark costs at most one extra training on the same data).

Failures: Label Studio unreachable or slow -> recorded in /training (`last_error`) and raised, so
SQS redelivers the message (then its DLQ); Label Studio refusing (a revoked token, a deleted
project) -> recorded and not retried.
"""
import logging

from chalicelib.labelstudio import crypto, lsapi, net, protocol
from chalicelib.store import repository

log = logging.getLogger("activelabel.labelstudio.pull")


def pull_and_train(project_id: str, request_id: str) -> str:
    """One pull message: "pulled:<written>" (+ the training outcome), "failed:<why>" or "skipped:<why>"."""
    from chalicelib.labelstudio import server

    marker = f"lspull#{request_id}"
    project = repository.find_project(project_id)
    if project is None:
        return "skipped:project deleted"
    if repository.marker_exists(project_id, marker):
        return "skipped:done"
    link = project.ls_link or {}
    if not (link.get("hostname") and link.get("access_token")):
        return f"skipped:not linked ({server.queue_training(project)['training']})"
    token = crypto.decrypt(link["access_token"], f"project:{project.project_id}")
    number = protocol.ls_project_number(link["ls_project"])
    try:
        exported = lsapi.export_labeled_tasks(link["hostname"], token, number)
    except net.UpstreamError as exc:
        repository.record_training_error(project_id, f"Label Studio export: {exc.message}")
        if exc.kind in ("connect", "timeout"):
            raise
        repository.put_marker(project_id, marker)
        return f"failed:{exc.message}"
    pulled = server.sync_tasks(project, protocol.exported_tasks(exported, "export"))
    training = server.queue_training(project)
    repository.put_marker(project_id, marker)
    log.info("project %s: pulled %s from Label Studio; training %s", project_id, pulled, training)
    return f"pulled:{pulled['written']}, training {training['training']}"
