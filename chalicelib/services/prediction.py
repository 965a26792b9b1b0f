"""Predict for a project: its promoted built-in model (S3 artifact by VersionId, digest-checked,
cached per warm container) or its custom backend. Every caller (the predict route, Label Studio's
/predict, the rescore worker) gets its model pointer and its artifact bytes from here.
"""
import logging

from chalicelib.errors import ConflictError, ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labeling.validation import validate_task_data
from chalicelib.labelstudio import client, protocol
from chalicelib.ml import serving
from chalicelib.store import artifacts
from chalicelib.store import projects as project_db
from chalicelib.store import training as training_db

log = logging.getLogger("activelabel.services.prediction")


def fetch(pointer: serving.ModelPointer) -> bytes:
    """The artifact's bytes, from our bucket by VersionId, after the sha256 check."""
    return artifacts.get_artifact(pointer.bucket, pointer.key, pointer.version_id, pointer.sha256)


def project_pointer(project) -> serving.ModelPointer:
    """The project's promoted model (409 when none is promoted yet)."""
    if project.model is None:
        raise ConflictError(f"project {project.project_id} has no trained model yet; see /training", "model_version")
    return project.model


def load_version(project_id: str, version: int):
    """Model `version` of the project (from the warm container's cache after the first load), or None
    when its record is missing."""
    return load_record(training_db.get_model_version(project_id, version))


def load_record(record):
    """The model of a model-version record already read (None for None)."""
    return None if record is None else serving.load(record.pointer, fetch)


def load_auto_labeler(project_id: str, version: int, record=None):
    """The model whose predictions auto-label for `version`: its judge, fit without the validation
    set its calibration was computed on, when the version stored one (services/training.py); else
    the served model (it then is the judge). The judge reads the served model's encoded inputs."""
    record = record or training_db.get_model_version(project_id, version)
    if record is None:
        return None
    judge = (record.calibration or {}).get("model")
    if not judge:
        return serving.load(record.pointer, fetch)
    pointer = serving.ModelPointer(bucket=record.pointer.bucket, key=judge["key"], version_id=judge["version_id"],
                                   sha256=judge["sha256"], sklearn_version=record.pointer.sklearn_version,
                                   model_version=record.model_version)
    return serving.load(pointer, fetch)


def parsed_config(label_config: str):
    """The parsed label config (labeling/config.parse_label_config keeps each distinct XML parsed once)."""
    return parse_label_config(label_config)


def is_custom(project) -> bool:
    return project.settings.get("model") == "custom"


def model_version(project) -> str:
    """The version string predictions carry: the promoted one, or "untrained"."""
    return project.model_version if project is not None and project.model_version else protocol.UNTRAINED_VERSION


def predict_samples(project_id: str, samples: list[dict], field: str) -> tuple[list[dict], str | None]:
    """(one prediction per sample, the model version). Each sample is checked against the label
    config first (400 naming `field[i]`); a project without a promoted built-in model is a 409."""
    project = project_db.get_project_warm(project_id)
    config = parsed_config(project.label_config)
    for i, data in enumerate(samples):
        validate_task_data(config, data, f"{field}[{i}]" + (".data" if field == "tasks" else ""))
    if is_custom(project):
        tasks = [{"id": i + 1, "data": data} for i, data in enumerate(samples)]
        return client.backend_for(project).predict(tasks) if tasks else ([], None)
    pointer = project_pointer(project)
    return (serving.predict(pointer, samples, fetch) if samples else []), pointer.model_version


def predict_tasks(project, tasks: list[dict]) -> tuple[list[dict], str]:
    """One prediction per Label Studio task, in order. Tasks whose data does not fit the config get
    an empty result, so one odd task never costs Label Studio the whole batch."""
    version = model_version(project)
    results = [protocol.empty_prediction(version) for _ in tasks]
    if project is None:
        return results, version
    if is_custom(project):
        return client.backend_for(project).predict(tasks)
    if project.model is None:
        return results, version
    config = parse_label_config(project.label_config)
    valid = []
    for i, task in enumerate(tasks):
        try:
            validate_task_data(config, task.get("data"), f"tasks[{i}].data")
        except ValidationError as exc:
            log.info("predict: task %s skipped (%s)", task.get("id"), exc.message)
            continue
        valid.append(i)
    if valid:
        scored = serving.predict(project_pointer(project), [tasks[i]["data"] for i in valid], fetch)
        for i, prediction in zip(valid, scored):
            results[i] = prediction
    return results, version
