"""The projects table: one item per project (settings, counters, the promoted model's pointer).
Reads return `domain.records.Project` records (store/records.py)."""
from pynamodb.exceptions import DoesNotExist

from chalicelib.domain.records import ModelVersion, Project
from chalicelib.errors import NotFoundError
from chalicelib.store import records, warm
from chalicelib.store.dynamo import conditional, decode_cursor, now, page
from chalicelib.store.ledger import next_counter
from chalicelib.store.training import pointer_actions
from chalicelib.store.models import (
    CompletionModel,
    ModelVersionModel,
    ProjectModel,
    TaskModel,
)


def _not_found(project_id: str) -> NotFoundError:
    return NotFoundError(f"project {project_id!r} not found", "project_id")


def create_project(title: str, label_config: str, ml: dict, project_id: str | None = None) -> Project:
    """Create a project (a new id from the counter unless `project_id` is given); a project that
    exists already (a retried first Label Studio /setup) is returned as stored."""
    project_id = project_id or str(next_counter("projects"))
    ts = now()
    item = ProjectModel(project_id=project_id, title=title, label_config=label_config, ml=ml,
                        created_at=ts, updated_at=ts)
    if not conditional(lambda: item.save(condition=ProjectModel.project_id.does_not_exist())):
        item = ProjectModel.get(project_id, consistent_read=True)
    return records.project(item)


def get_project(project_id: str, consistent: bool = False) -> Project:
    try:
        return records.project(ProjectModel.get(project_id, consistent_read=consistent))
    except DoesNotExist:
        raise _not_found(project_id)


def get_project_warm(project_id: str) -> Project:
    """`get_project`, read at most every warm.ttl_seconds() per container (store/warm.py): for the
    read-only request paths (predict). Writes through this module drop the entry."""
    return warm.projects.get(project_id, lambda: get_project(project_id))


def find_project(project_id: str, consistent: bool = True) -> Project | None:
    try:
        return records.project(ProjectModel.get(project_id, consistent_read=consistent))
    except DoesNotExist:
        return None


def list_projects(limit: int, cursor: str | None) -> tuple[list[Project], str | None]:
    return page(ProjectModel.scan(limit=limit, last_evaluated_key=decode_cursor(cursor)), limit, records.project)


def get_projects(project_ids) -> list[Project]:
    """The existing projects among `project_ids` (one BatchGetItem per 100), in numeric id order."""
    found = [records.project(item) for item in ProjectModel.batch_get(list(dict.fromkeys(project_ids)))]
    return sorted(found, key=lambda p: (len(p.project_id), p.project_id))


def all_projects():
    return (records.project(item) for item in ProjectModel.scan())


def _field_actions(fields: dict) -> list:
    actions = [getattr(ProjectModel, key).set(value) for key, value in fields.items()]
    if "ml" in fields:  # the mirror a promotion's condition reads, and one more revision
        pinned = (fields["ml"] or {}).get("pinned_version")
        actions += [ProjectModel.pinned_version.remove() if pinned is None else ProjectModel.pinned_version.set(pinned),
                    ProjectModel.revision.add(1)]
    return [*actions, ProjectModel.updated_at.set(now())]


def update_project(project_id: str, **fields) -> Project:
    """Set `fields` (attributes of the project item) and return the project as written. A write of
    `ml` that must not overwrite a concurrent one goes through `write_settings` instead."""
    item = ProjectModel(project_id=project_id)
    actions = _field_actions(fields)
    warm.projects.discard(project_id)
    if not conditional(lambda: item.update(actions=actions, condition=ProjectModel.project_id.exists())):
        raise _not_found(project_id)
    return records.project(item)


def _as_read(attribute, value):
    """The condition that `attribute` still holds `value` as read (absent reads as 0 / None)."""
    if value is None:
        return attribute.does_not_exist()
    if value == 0:
        return attribute.does_not_exist() | (attribute == 0)
    return attribute == value


def write_settings(project: Project, move: ModelVersion | None = None, **fields) -> Project | None:
    """Set `fields` on `project` as read (its `revision`) and, with `move`, point it at that version by
    hand (one more `activation_seq`), in one write conditioned on the revision and the pointer being
    still as read. Returns the project as written, or None when another write came first (the
    caller reads again and retries) or the project is gone."""
    item = ProjectModel(project_id=project.project_id)
    actions = _field_actions(fields)
    if "ml" not in fields:
        actions.append(ProjectModel.revision.add(1))
    if move is not None:
        actions += [*pointer_actions(move), ProjectModel.activation_seq.add(1),
                    ProjectModel.activation_version.set(move.version)]
    condition = ProjectModel.project_id.exists() & _as_read(ProjectModel.revision, project.revision) \
        & _as_read(ProjectModel.active_version, project.active_version)
    warm.projects.discard(project.project_id)
    if not conditional(lambda: item.update(actions=actions, condition=condition)):
        return None
    return records.project(item)


def delete_project(project_id: str) -> None:
    """Delete the project, then its tasks, completions and model-version records."""
    warm.projects.discard(project_id)
    if not conditional(lambda: ProjectModel(project_id=project_id).delete(condition=ProjectModel.project_id.exists())):
        raise _not_found(project_id)
    for model in (TaskModel, CompletionModel, ModelVersionModel):
        with model.batch_write() as batch:
            for stored in model.query(project_id):
                batch.delete(stored)


def reserve_task_ids(project_id: str, count: int) -> int:
    """Atomically reserve `count` consecutive task ids; returns the first."""
    item = ProjectModel(project_id=project_id)
    if not conditional(lambda: item.update(actions=[ProjectModel.task_seq.add(count)],
                                           condition=ProjectModel.project_id.exists())):
        raise _not_found(project_id)
    return int(item.task_seq) - count + 1


def save_connection(project_id: str, link: dict) -> None:
    """Store the Label Studio connection (store/labelstudio.py describes it)."""
    warm.projects.discard(project_id)
    ProjectModel(project_id=project_id).update(
        actions=[ProjectModel.ls_link.set(link), ProjectModel.updated_at.set(now())],
        condition=ProjectModel.project_id.exists())
