"""Training requests and model versions: the project's request counters (one conditional write per
step, so a redelivered or stale message changes nothing) and the model_versions table."""
from pynamodb.exceptions import DoesNotExist

from chalicelib.domain.records import ModelVersion, Project
from chalicelib.domain.training_state import TrainingCounters
from chalicelib.store import records, warm
from chalicelib.store.dynamo import conditional, now
from chalicelib.store.models import ModelVersionModel, ProjectModel

MAX_ERROR_CHARS = 2000


def request_training(project_id: str, seen: TrainingCounters) -> int | None:
    """Queue one training request if the project's counters are still those in `seen`.

    Returns the new request sequence number, or None when another writer moved first.
    """
    item = ProjectModel(project_id=project_id)
    condition = (ProjectModel.train_request_seq == seen.train_request_seq) & (
        ProjectModel.label_changes == seen.label_changes)
    actions = [ProjectModel.train_request_seq.add(1), ProjectModel.train_requested_changes.set(seen.label_changes),
               ProjectModel.queued_at.set(now())]
    if not conditional(lambda: item.update(actions=actions, condition=condition)):
        return None
    return int(item.train_request_seq)


def mark_request_sent(project_id: str, seq: int) -> None:
    """Record that request `seq`'s message is on the queue (only ever moves forward)."""
    conditional(lambda: ProjectModel(project_id=project_id).update(
        actions=[ProjectModel.train_sent_seq.set(seq)],
        condition=ProjectModel.project_id.exists() & (
            ProjectModel.train_sent_seq.does_not_exist() | (ProjectModel.train_sent_seq < seq)),
    ))


def claim_training(project_id: str, seq: int) -> Project | None:
    """Mark request `seq` as being trained and allocate its model version number (the returned
    project's `version_seq`).

    Refused (None) when a newer request superseded it or it already finished: a redelivered or
    stale message then does nothing. A request claimed again (its worker was killed, the message
    came back) keeps the number the first claim allocated (`next_version` gives another if that
    attempt recorded a version), so a killed training spends no version number.
    """
    item = ProjectModel(project_id=project_id)
    claimable = (ProjectModel.train_request_seq == seq) & (ProjectModel.trained_seq < seq)
    first = [ProjectModel.training_seq.set(seq), ProjectModel.training_started_at.set(now()),
             ProjectModel.version_seq.add(1)]
    if conditional(lambda: item.update(actions=first, condition=claimable & (ProjectModel.training_seq != seq))):
        return records.project(item)
    again = [ProjectModel.training_started_at.set(now())]
    if conditional(lambda: item.update(actions=again, condition=claimable & (ProjectModel.training_seq == seq))):
        return records.project(item)
    return None


def next_version(project_id: str, seq: int) -> int:
    """Another version number for request `seq`, which this worker holds (the number its claim
    gave was recorded by an earlier attempt)."""
    item = ProjectModel(project_id=project_id)
    item.update(actions=[ProjectModel.version_seq.add(1)], condition=ProjectModel.training_seq == seq)
    return int(item.version_seq)


def _finish_actions(seq: int, error: str | None) -> list:
    actions = [ProjectModel.trained_seq.set(seq)]
    if error:
        actions += [ProjectModel.last_error.set(error[:MAX_ERROR_CHARS]), ProjectModel.last_error_at.set(now())]
    else:
        actions += [ProjectModel.last_error.remove(), ProjectModel.last_error_at.remove()]
    return actions


def finish_training(project_id: str, seq: int, error: str | None) -> bool:
    return conditional(lambda: ProjectModel(project_id=project_id).update(
        actions=_finish_actions(seq, error), condition=ProjectModel.trained_seq < seq))


def clear_training_error(project_id: str, seq: int) -> None:
    """The error a finished request `seq` recorded after its end (its rescoring was not queued) is
    mended: cleared, unless a later request has finished since."""
    conditional(lambda: ProjectModel(project_id=project_id).update(
        actions=[ProjectModel.last_error.remove(), ProjectModel.last_error_at.remove()],
        condition=ProjectModel.trained_seq == seq))


def record_training_error(project_id: str, error: str) -> None:
    """Make a failure visible in /training while the request stays open for its retry."""
    ProjectModel(project_id=project_id).update(actions=[
        ProjectModel.last_error.set(error[:MAX_ERROR_CHARS]), ProjectModel.last_error_at.set(now()),
    ])


def record_model_version(version: ModelVersion) -> None:
    """Idempotent: the same version number is only ever written with the same artifact."""
    pointer = version.pointer
    ModelVersionModel(
        project_id=version.project_id, version=version.version, model_version=version.model_version,
        model=version.model, created_at=version.created_at, n_train=version.n_train, metrics=version.metrics,
        s3_bucket=pointer.bucket, s3_key=pointer.key, s3_version_id=pointer.version_id, sha256=pointer.sha256,
        sklearn_version=pointer.sklearn_version, label_changes=version.label_changes, train_seq=version.train_seq,
        **({} if version.joblib is None else {"joblib_key": version.joblib.key,
                                              "joblib_version_id": version.joblib.version_id,
                                              "joblib_sha256": version.joblib.sha256}),
        status=version.status, decision=version.decision, validation=version.validation,
        calibration=version.calibration, representation=version.representation,
    ).save()


def pointer_actions(version: ModelVersion) -> list:
    """The project's pointer at `version` (what promote, rollback and pin write)."""
    pointer = version.pointer
    return [
        ProjectModel.active_version.set(version.version),
        ProjectModel.model_version.set(version.model_version),
        ProjectModel.model_name.set(version.model),
        ProjectModel.model_key.set(pointer.key),
        ProjectModel.model_s3_version.set(pointer.version_id),
        ProjectModel.model_sha256.set(pointer.sha256),
        ProjectModel.model_sklearn_version.set(pointer.sklearn_version),
        ProjectModel.model_label_changes.set(version.label_changes),
    ]


def promote(project_id: str, version: ModelVersion, finish_seq: int | None = None) -> bool:
    """Point the project at `version` unless a newer version is already active or the project was
    pinned meanwhile (its `pinned_version` mirror, written with the pin: the pin and the pointer agree).
    `finish_seq`: finish that training request in the same write (`finish_training`; refused too
    when it is finished already)."""
    actions = pointer_actions(version)
    condition = (ProjectModel.active_version.does_not_exist() | (ProjectModel.active_version < version.version)) \
        & ProjectModel.pinned_version.does_not_exist()
    if finish_seq is not None:
        actions += _finish_actions(finish_seq, None)
        condition &= ProjectModel.trained_seq < finish_seq
    warm.projects.discard(project_id)
    return conditional(lambda: ProjectModel(project_id=project_id).update(actions=actions, condition=condition))


def get_model_version(project_id: str, version: int) -> ModelVersion | None:
    try:
        return records.model_version(ModelVersionModel.get(project_id, version))
    except DoesNotExist:
        return None


def list_model_versions(project_id: str) -> list[ModelVersion]:
    return [records.model_version(item) for item in ModelVersionModel.query(project_id, scan_index_forward=False)]
