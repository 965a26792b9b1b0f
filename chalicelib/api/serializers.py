"""Records -> JSON bodies of the API contract (docs/api.md)."""
from chalicelib.domain.settings import masked
from chalicelib.domain.training_state import training_state
from chalicelib.labeling.results import completion_record, completion_to_labelstudio, iso, task_to_labelstudio

completion_json = completion_record
__all__ = ["completion_json", "iso", "model_version_json", "project_json", "suspect_json", "task_json", "token_json"]


def project_json(project) -> dict:
    counters = project.counters
    return {
        "id": project.project_id,
        "title": project.title,
        "label_config": project.label_config,
        "ml": masked(project.ml),
        "created_at": iso(project.created_at),
        "updated_at": iso(project.updated_at),
        "task_count": project.task_seq,
        "completions": project.completions_count,
        "accepted_tasks": counters.accepted_tasks,
        "training_state": training_state(counters),
        "model_version": project.model_version,
    }


# how the export shows a standing auto label: a prediction marked "auto": true (the default), or an
# annotation marked "origin": "auto" (`?auto_labels=annotations`), so a Label Studio import shows it
AUTO_LABEL_EXPORTS = ("predictions", "annotations")


def _auto(task) -> list[dict]:
    """A standing auto label, as a prediction marked `"auto": true` (services/auto_labeling.py)."""
    auto = getattr(task, "auto_label", None)
    if not auto or getattr(task, "auto_project", None) is None:
        return []
    return [{key: auto[key] for key in ("result", "score", "model_version", "auto") if key in auto}]


def _auto_annotation(task, naming: str) -> list[dict]:
    """A standing auto label as a Label Studio annotation marked `"origin": "auto"`."""
    annotations = []
    for auto in _auto(task):
        annotation = completion_to_labelstudio(
            {"id": f"{task.task_id}.auto", "result": auto["result"], "completed_by": "auto",
             "task_id": task.task_id}, naming)
        annotations.append({**annotation, "origin": "auto", "model_version": auto.get("model_version"),
                            "score": auto.get("score")})
    return annotations


def task_json(task, completions=(), naming: str = "annotations", auto_labels: str = "predictions") -> dict:
    as_annotation = auto_labels == "annotations"
    body = task_to_labelstudio(
        {"id": task.task_id, "data": task.data, "meta": task.meta or {}, "created_at": iso(task.created_at)},
        [completion_record(c) for c in completions],
        list(task.predictions or []) + ([task.preannotation] if task.preannotation else [])
        + ([] if as_annotation else _auto(task)),
        naming=naming,
    )
    if as_annotation:
        body[naming] += _auto_annotation(task, naming)
    body["project"] = task.project_id
    body["is_labeled"] = bool(task.accepted)
    body["agreement"] = None if task.agreement is None else float(task.agreement)
    body["total_annotations"] = task.n_completions
    return body


def suspect_json(task) -> dict:
    """A suspect task as `GET /suspects` lists it (the mark services/suspects.py wrote)."""
    mark = task.suspect or {}
    return {"task_id": task.task_id, "human_label": mark.get("human_label"),
            "model_label": mark.get("model_label"), "score": mark.get("score"),
            "self_confidence": mark.get("self_confidence"), "control": mark.get("control"),
            "model_version": mark.get("model_version")}


def model_version_json(item, active_version) -> dict:
    return {
        "model_version": item.model_version,
        "created_at": iso(item.created_at),
        "model": item.model,
        "n_train": int(item.n_train),
        "metrics": item.metrics,
        "active": active_version is not None and int(active_version) == int(item.version),
        "sha256": item.sha256,
        "sklearn_version": item.sklearn_version,
        # records from before champion / challenger were all promoted
        "status": item.status or "promoted",
        "decision": item.decision,
        "validation": item.validation,
        # the pool representation its features read (ml/pool_representation.py), null for other kinds
        "pool_representation": None if not item.representation else {
            k: item.representation.get(k) for k in ("mode", "dimensions", "fitted_on", "sample", "fitted_by")},
    }


def job_json(job) -> dict:
    body = {
        "id": job.sk,
        "kind": job.kind,
        "state": job.state,
        "total": int(job.total or 0),
        "done": int(job.done or 0),
        "failed": int(job.failed or 0),
        "started": iso(job.started),
        "finished": iso(job.finished) if job.finished else None,
        "error": job.error,
        "model_version": job.model_version,
    }
    if job.kind in ("preannotation", "rescoring+preannotation"):
        body["predictions_stored"] = int(job.stored or 0)
        if job.pushed is not None:
            body["predictions_pushed_to_labelstudio"] = int(job.pushed)
    if job.detail:
        body["detail"] = job.detail
    return body


def token_json(item) -> dict:
    """A token's record; never its secret nor the secret's digest."""
    return {
        "id": item.token_id,
        "name": item.name,
        "role": item.role,
        "projects": item.projects,
        "created_at": iso(item.created_at),
        "created_by": item.created_by,
    }
