"""Model-version records beyond training's own writes: a version's promotion status, and moving the
project's pointer to any stored version (rollback, pin).

Kept apart from repository.py, which only ever moves the pointer forward (`repository.promote`).
"""
from pynamodb.exceptions import UpdateError

from chalicelib.errors import NotFoundError
from chalicelib.store.models import ModelVersionModel, ProjectModel
from chalicelib.store.repository import _is_conditional_failure, now


def set_status(project_id: str, version: int, status: str) -> None:
    """Record what became of a version (idempotent)."""
    try:
        ModelVersionModel(project_id=project_id, version=version).update(
            actions=[ModelVersionModel.status.set(status)], condition=ModelVersionModel.version.exists())
    except UpdateError as exc:
        if not _is_conditional_failure(exc):
            raise


def activate(project_id: str, item: ModelVersionModel) -> None:
    """Point the project at `item`, whatever version is active now (idempotent)."""
    try:
        ProjectModel(project_id=project_id).update(
            actions=[
                ProjectModel.active_version.set(item.version),
                ProjectModel.model_version.set(item.model_version),
                ProjectModel.model_name.set(item.model),
                ProjectModel.model_key.set(item.s3_key),
                ProjectModel.model_s3_version.set(item.s3_version_id),
                ProjectModel.model_sha256.set(item.sha256),
                ProjectModel.model_sklearn_version.set(item.sklearn_version),
                ProjectModel.model_label_changes.set(item.label_changes),
                ProjectModel.updated_at.set(now()),
            ],
            condition=ProjectModel.project_id.exists(),
        )
    except UpdateError as exc:
        if _is_conditional_failure(exc):
            raise NotFoundError(f"project {project_id!r} not found", "project_id")
        raise
