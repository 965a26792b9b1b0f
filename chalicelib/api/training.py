"""Training state, manual train requests, model versions."""
from chalicelib.api.http import accepted, json_body
from chalicelib.api.serializers import model_version_json
from chalicelib.errors import ValidationError
from chalicelib.services import model_versions, training, training_requests


def get_training(project_id: str):
    return training_requests.status(project_id)


def request_training(project_id: str):
    """Queue a training now; idempotent while one is already queued."""
    return accepted(training_requests.request(project_id, "manual"))


def list_model_versions(project_id: str):
    project, versions = training.model_versions(project_id)
    return {"versions": [model_version_json(v, project.active_version) for v in versions]}


def activate_model_version(request, project_id: str, version: str):
    """Roll back (or forward) to a stored version; body {"pin": bool} optional."""
    body = json_body(request, required=False)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ValidationError("body", f"must be a JSON object, got {type(body).__name__}")
    return model_versions.activate(project_id, version, body)
