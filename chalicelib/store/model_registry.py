"""Model-version records beyond training's own writes: a version's promotion status, and moving the
project's pointer to any stored version (rollback, pin).

Kept apart from store/training.py, which only ever moves the pointer forward (`training.promote`).
"""
from chalicelib.domain.records import ModelVersion
from chalicelib.errors import NotFoundError
from chalicelib.store import warm
from chalicelib.store.dynamo import conditional, now
from chalicelib.store.models import ModelVersionModel, ProjectModel
from chalicelib.store.training import pointer_actions


def set_status(project_id: str, version: int, status: str) -> None:
    """Record what became of a version (idempotent)."""
    conditional(lambda: ModelVersionModel(project_id=project_id, version=version).update(
        actions=[ModelVersionModel.status.set(status)], condition=ModelVersionModel.version.exists()))


def activate(project_id: str, version: ModelVersion) -> None:
    """Point the project at `version`, whatever version is active now (idempotent)."""
    actions = [*pointer_actions(version), ProjectModel.updated_at.set(now())]
    warm.projects.discard(project_id)
    if not conditional(lambda: ProjectModel(project_id=project_id).update(
            actions=actions, condition=ProjectModel.project_id.exists())):
        raise NotFoundError(f"project {project_id!r} not found", "project_id")
