"""Training state, manual train requests, model versions."""
from chalicelib.api.http import accepted
from chalicelib.api.serializers import model_version_json
from chalicelib.domain.settings import DEFAULTS
from chalicelib.domain.training_state import manual_training_refusal, training_state
from chalicelib.errors import ConflictError
from chalicelib.store import queue, repository


def get_training(project_id: str):
    project = repository.get_project(project_id, consistent=True)
    counters = repository.training_counters(project)
    return {
        "state": training_state(counters),
        "accepted_tasks": counters.accepted_tasks,
        "completions": int(project.completions_count or 0),
        "last_error": project.last_error,
        "model_version": project.model_version,
        "min_completions": {**DEFAULTS, **project.ml}["min_completions"],
        "request_seq": counters.train_request_seq,
        "trained_seq": counters.trained_seq,
    }


def request_training(project_id: str):
    """Queue a training now; idempotent while one is already queued."""
    for _ in range(5):
        project = repository.get_project(project_id, consistent=True)
        settings = {**DEFAULTS, **project.ml}
        if settings.get("model") is None:
            raise ConflictError("no model fits this project; choose 'custom' with a custom_backend", "model")
        counters = repository.training_counters(project)
        if counters.train_request_seq > counters.trained_seq:
            return accepted({"state": training_state(counters), "request_seq": counters.train_request_seq})
        refusal = manual_training_refusal(counters, settings["min_completions"])
        if refusal:
            raise ConflictError(refusal, "min_completions")
        seq = repository.request_training(project, counters)
        if seq is not None:
            queue.dispatch_train_request(project_id, seq)
            return accepted({"state": "queued", "request_seq": seq})
    raise ConflictError("the project changed concurrently; retry", "project_id")


def list_model_versions(project_id: str):
    project = repository.get_project(project_id)
    return {"versions": [model_version_json(v, project.active_version)
                         for v in repository.list_model_versions(project_id)]}
