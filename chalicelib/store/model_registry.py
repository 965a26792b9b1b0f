"""Model-version records beyond training's own writes: a version's promotion status, and moving the
project's pointer to any stored version (rollback, pin).

Kept apart from store/training.py, which only ever moves the pointer forward (`training.promote`).
"""
from chalicelib.domain.records import ModelVersion
from chalicelib.store import warm
from chalicelib.store.dynamo import conditional, now
from chalicelib.store.models import ModelVersionModel, ProjectModel
from chalicelib.store.training import pointer_actions


def set_status(project_id: str, version: int, status: str) -> None:
    """Record what became of a version (idempotent)."""
    conditional(lambda: ModelVersionModel(project_id=project_id, version=version).update(
        actions=[ModelVersionModel.status.set(status)], condition=ModelVersionModel.version.exists()))


def activate(project_id: str, version: ModelVersion) -> int | None:
    """Point the project at `version` unless it is the active one already; returns the number of
    this move (`activation_seq`, one more than the last move by hand), or None when the version was
    already active or the project is gone (nothing written)."""
    item = ProjectModel(project_id=project_id)
    actions = [*pointer_actions(version), ProjectModel.updated_at.set(now()), ProjectModel.activation_seq.add(1),
               ProjectModel.activation_version.set(version.version), ProjectModel.revision.add(1)]
    condition = ProjectModel.project_id.exists() & (
        ProjectModel.active_version.does_not_exist() | (ProjectModel.active_version != version.version))
    warm.projects.discard(project_id)
    if conditional(lambda: item.update(actions=actions, condition=condition)):
        return int(item.activation_seq)
    return None
