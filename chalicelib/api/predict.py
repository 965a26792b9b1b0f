"""Predictions in Label Studio's result format from the project's promoted model."""
from chalicelib.api.http import json_object
from chalicelib.errors import ConflictError, ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labeling.validation import validate_task_data
from chalicelib.ml import serving
from chalicelib.store import artifacts, repository
from chalicelib import config as app_config

MAX_SAMPLES = 1000


def _fetch(pointer: serving.ModelPointer) -> bytes:
    return artifacts.get_artifact(pointer.bucket, pointer.key, pointer.version_id, pointer.sha256)


def model_pointer(project) -> serving.ModelPointer:
    if project.active_version is None:
        raise ConflictError(f"project {project.project_id} has no trained model yet; see /training", "model_version")
    return serving.ModelPointer(
        bucket=app_config.model_bucket(), key=project.model_key, version_id=project.model_s3_version,
        sha256=project.model_sha256, sklearn_version=project.model_sklearn_version,
        model_version=project.model_version,
    )


def samples_from_body(body: dict) -> tuple[list[dict], str]:
    if "tasks" in body:
        items, field = body["tasks"], "tasks"
        if not isinstance(items, list):
            raise ValidationError(field, "must be a list of tasks")
        samples = []
        for i, task in enumerate(items):
            if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
                raise ValidationError(f"tasks[{i}].data", "must be an object with the task's data")
            samples.append(task["data"])
        return samples, field
    if "samples" in body:
        if not isinstance(body["samples"], list):
            raise ValidationError("samples", "must be a list of data objects")
        return body["samples"], "samples"
    raise ValidationError("tasks", "required: {\"tasks\": [{\"data\": {...}}]} or {\"samples\": [{...}]}")


def predict(request, project_id: str):
    samples, field = samples_from_body(json_object(request))
    if len(samples) > MAX_SAMPLES:
        raise ValidationError(field, f"has {len(samples)} items; at most {MAX_SAMPLES} per request")
    project = repository.get_project(project_id)
    config = parse_label_config(project.label_config)
    for i, data in enumerate(samples):
        validate_task_data(config, data, f"{field}[{i}]" + (".data" if field == "tasks" else ""))
    if (project.ml or {}).get("model") == "custom":
        from chalicelib.labelstudio import client

        tasks = [{"id": i + 1, "data": data} for i, data in enumerate(samples)]
        results, version = client.backend_for(project).predict(tasks) if tasks else ([], None)
        return {"results": results, "model_version": version}
    pointer = model_pointer(project)
    results = serving.predict(pointer, samples, _fetch) if samples else []
    return {"results": results, "model_version": pointer.model_version}
