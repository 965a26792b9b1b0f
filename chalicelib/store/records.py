"""Database items -> the plain records of domain/records.py: the one mapping of a project's
attributes to its counters, merged settings and model pointer, of a model-version item to its
pointer, and of task and completion items to their records."""
from chalicelib import config
from dataclasses import fields

from chalicelib.domain.records import Completion, ModelPointer, ModelVersion, Project, Task, Token
from chalicelib.domain.settings import DEFAULTS
from chalicelib.domain.training_state import TrainingCounters
from chalicelib.store.models import CompletionModel, ModelVersionModel, ProjectModel, TaskModel, TokenModel


def _int(value, default=0) -> int | None:
    return default if value is None else int(value)


def counters(item: ProjectModel) -> TrainingCounters:
    return TrainingCounters(
        accepted_tasks=_int(item.accepted_tasks),
        label_changes=_int(item.label_changes),
        train_requested_changes=_int(item.train_requested_changes, None),
        train_request_seq=_int(item.train_request_seq),
        training_seq=_int(item.training_seq),
        trained_seq=_int(item.trained_seq),
        last_error=item.last_error,
        has_model=item.active_version is not None,
        model_label_changes=_int(item.model_label_changes, None),
        failed_since_claim=bool(
            item.last_error_at and item.training_started_at and item.last_error_at >= item.training_started_at
        ),
    )


def project(item: ProjectModel) -> Project:
    ml = dict(item.ml or {})
    pointer = None
    if item.active_version is not None:
        pointer = ModelPointer(
            bucket=config.model_bucket(), key=item.model_key, version_id=item.model_s3_version,
            sha256=item.model_sha256, sklearn_version=item.model_sklearn_version, model_version=item.model_version)
    return Project(
        project_id=item.project_id, title=item.title or "", label_config=item.label_config, ml=ml,
        settings={**DEFAULTS, **ml}, created_at=item.created_at, updated_at=item.updated_at,
        task_seq=_int(item.task_seq), version_seq=_int(item.version_seq),
        completions_count=_int(item.completions_count), train_sent_seq=_int(item.train_sent_seq),
        queued_at=item.queued_at, last_error=item.last_error, counters=counters(item),
        active_version=_int(item.active_version, None), model_version=item.model_version, model=pointer,
        ls_link=item.ls_link, stream_errors=item.stream_errors,
        audit_n=_int(item.audit_n), audit_correct=_int(item.audit_correct),
        activation_seq=_int(item.activation_seq), activation_version=_int(item.activation_version, None),
        revision=_int(item.revision),
    )


def model_version(item: ModelVersionModel) -> ModelVersion:
    return ModelVersion(
        project_id=item.project_id, version=int(item.version), model_version=item.model_version, model=item.model,
        created_at=item.created_at, n_train=int(item.n_train), metrics=dict(item.metrics or {}),
        pointer=ModelPointer(bucket=item.s3_bucket, key=item.s3_key, version_id=item.s3_version_id,
                             sha256=item.sha256, sklearn_version=item.sklearn_version,
                             model_version=item.model_version),
        label_changes=_int(item.label_changes), train_seq=_int(item.train_seq),
        joblib=None if not item.joblib_key else ModelPointer(
            bucket=item.s3_bucket, key=item.joblib_key, version_id=item.joblib_version_id, sha256=item.joblib_sha256,
            sklearn_version=item.sklearn_version, model_version=item.model_version),
        status=item.status, decision=item.decision, validation=item.validation, calibration=item.calibration,
        representation=item.representation,
    )


def token(item: TokenModel) -> Token:
    return Token(token_id=item.token_id, secret_sha256=item.secret_sha256, name=item.name, role=item.role,
                 projects=item.projects, created_at=item.created_at, created_by=item.created_by)


_TASK_FIELDS = [f.name for f in fields(Task) if f.name not in ("project_id", "task_id")]


def task(item: TaskModel) -> Task:
    """An item read in full or through a projection: absent attributes keep the record's defaults."""
    values = {}
    for name in _TASK_FIELDS:
        value = getattr(item, name, None)
        if value is not None:
            values[name] = value
    for name in ("annotators", "disputed"):
        if name in values:
            values[name] = frozenset(values[name])
    for name in ("completion_seq", "label_rev", "n_completions", "score_version", "auto_version", "auto_epoch", "suspect_version"):
        if name in values:
            values[name] = int(values[name])
    return Task(project_id=item.project_id, task_id=int(item.task_id), **values)


def completion(item: CompletionModel) -> Completion:
    return Completion(
        project_id=item.project_id, completion_id=item.completion_id, task_id=int(item.task_id),
        result=item.result if item.result is not None else [], completed_by=item.completed_by,
        created_at=item.created_at, updated_at=item.updated_at, recorded_by=item.recorded_by,
        was_cancelled=bool(item.was_cancelled), ground_truth=bool(item.ground_truth), lead_time=item.lead_time)
