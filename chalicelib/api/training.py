"""Training state, manual train requests, model versions."""
from chalicelib.api.http import accepted
from chalicelib.api.serializers import model_version_json
from chalicelib.services import training, training_requests


def get_training(project_id: str):
    return training_requests.status(project_id)


def request_training(project_id: str):
    """Queue a training now; idempotent while one is already queued."""
    return accepted(training_requests.request(project_id, "manual"))


def list_model_versions(project_id: str):
    project, versions = training.model_versions(project_id)
    return {"versions": [model_version_json(v, project.active_version) for v in versions]}
