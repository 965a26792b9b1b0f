"""`POST /api/projects/{id}/predict`: predictions in Label Studio's result format
(services/prediction.py: the promoted built-in model or the custom backend)."""
import time

from chalicelib.api.http import json_object
from chalicelib.errors import ValidationError
from chalicelib.services import prediction
from chalicelib.telemetry import metrics

MAX_SAMPLES = 1000


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
    started = time.monotonic()
    results, version = prediction.predict_samples(project_id, samples, field)
    metrics.predictions_served(len(results), started, project_id, version, "api")
    return {"results": results, "model_version": version}
