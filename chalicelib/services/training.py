"""Run a training: one training request -> fit -> evaluate -> S3 (versioned) -> promote -> rescore.

Claiming the request is a conditional write, so a redelivered or superseded message does nothing.
A data problem (e.g. a single class) finishes the request as failed and is not retried; any other
error is recorded in /training and re-raised so SQS redelivers the message (then its DLQ). The
previous model keeps serving throughout: the pointer moves only after the new artifact and its
model-version record exist, and only forward. A custom backend trains itself: the accepted tasks
are forwarded to it.
"""
import logging

from chalicelib.errors import TrainingDataError, ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labelstudio import client, net
from chalicelib.ml import registry, training
from chalicelib.services import rescoring
from chalicelib.store import artifacts, repository
from chalicelib.store.models import ModelVersionModel

log = logging.getLogger("activelabel.services.training")


def run(project_id: str, seq: int) -> str:
    """Returns what happened: "skipped", "promoted", "kept" (a newer model was active), "forwarded"
    (a custom backend trains) or "failed"."""
    project = repository.claim_training(project_id, seq)
    if project is None:
        log.info("project %s: training request %s is stale or done; skipping", project_id, seq)
        return "skipped"
    if (project.ml or {}).get("model") == "custom":
        return forward(project, seq)
    version = int(project.version_seq)
    try:
        item = train_version(project, version, seq)
        promoted = repository.promote(project_id, item)
        if promoted:  # before finishing: if queuing fails, the redelivered request trains and queues again
            rescoring.start(project_id, version, int(project.task_seq or 0))
        repository.finish_training(project_id, seq, None)
    except TrainingDataError as exc:
        repository.finish_training(project_id, seq, str(exc))
        return "failed"
    except Exception as exc:
        repository.record_training_error(project_id, f"{type(exc).__name__}: {exc}")
        raise
    return "promoted" if promoted else "kept"


def forward(project, seq: int) -> str:
    """Send a custom backend the accepted tasks (labelstudio/client.py). A backend that is down is
    retried through SQS; one that refuses finishes the request as failed."""
    project_id = project.project_id
    accepted = [(task, repository.completions_of_task(project_id, int(task.task_id)))
                for task in repository.accepted_tasks(project_id)]
    try:
        answer = client.backend_for(project).train(client.labelstudio_tasks(project, accepted))
    except net.UpstreamError as exc:
        if exc.kind in ("connect", "timeout"):
            repository.record_training_error(project_id, f"custom backend: {exc.message}")
            raise
        repository.finish_training(project_id, seq, f"custom backend: {exc.message}")
        return "failed"
    log.info("project %s: training %s forwarded to the custom backend via %s", project_id, seq, answer["via"])
    repository.finish_training(project_id, seq, None)
    return "forwarded"


def train_version(project, version: int, seq: int) -> ModelVersionModel:
    """Fit model `version` on the accepted tasks, store its artifact and its model-version record."""
    config = parse_label_config(project.label_config)
    ml = project.ml or {}
    kind = registry.get_kind(ml.get("model") or "")
    if kind is None:
        raise TrainingDataError(f"model {ml.get('model')!r} is not a built-in model")
    try:
        target = kind.target(config, ml.get("target"))
    except ValidationError as exc:
        raise TrainingDataError(f"model {kind.name!r} cannot learn this label config: {exc.message}") from None
    label_changes = int(project.label_changes or 0)  # read before the data: the model covers at least this
    accepted = [(task.data, task.consensus) for task in repository.accepted_tasks(project.project_id)]
    outcome = training.train(kind, target, accepted, seed=version)
    body = training.serialize(outcome.model)
    sklearn_version = training.sklearn_version()
    stored = artifacts.put_artifact(
        artifacts.artifact_key(project.project_id, version), body,
        {"project-id": project.project_id, "model-version": f"v{version}", "sklearn-version": sklearn_version},
    )
    item = ModelVersionModel(
        project_id=project.project_id, version=version, model_version=f"v{version}", model=kind.name,
        created_at=repository.now(), n_train=outcome.n_train, metrics=outcome.metrics,
        s3_bucket=stored.bucket, s3_key=stored.key, s3_version_id=stored.version_id, sha256=stored.sha256,
        sklearn_version=sklearn_version, label_changes=label_changes, train_seq=seq,
    )
    repository.record_model_version(item)
    log.info("project %s: model v%s trained on %s tasks: %s", project.project_id, version, outcome.n_train,
             outcome.metrics)
    return item


def model_versions(project_id: str) -> tuple[object, list]:
    """(the project, its model-version records newest first)."""
    project = repository.get_project(project_id)
    return project, repository.list_model_versions(project_id)
