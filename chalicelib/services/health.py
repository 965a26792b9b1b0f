"""What an operator needs to see at a glance (GET /api/health/detail, the CLI's `health`): the
queues' depths, the messages in the dead-letter queues, and per project its training state and the
last failures of its jobs, stream records and trainings. docs/operations.md says what to do."""
from chalicelib import config
from chalicelib.domain.training_state import training_state
from chalicelib.store import jobs, queue_depths, stream_errors
from chalicelib.store import projects as project_db

LAST_FAILURES = 5  # per project
MAX_PROJECTS = 100  # without ?project=: the first 100 projects of the scan


def detail(project_id: str | None = None) -> dict:
    queues = {name: queue_depths.depth(url) for name, url in config.watched_queue_urls().items()}
    dead_letters = sum(q.get("waiting", 0) + q.get("in_flight", 0) + q.get("delayed", 0)
                       for name, q in queues.items() if name.endswith("_dead_letters"))
    if project_id is not None:
        projects = [project_db.get_project(project_id, consistent=True)]
    else:
        projects, _ = project_db.list_projects(MAX_PROJECTS, None)
    summaries = [project_health(project) for project in projects]
    failing = [s["project_id"] for s in summaries if s["training"]["state"] == "failed" or s["stream_errors"]]
    unreachable = [name for name, q in queues.items() if "error" in q]
    return {
        "status": "degraded" if dead_letters or failing or unreachable else "ok",
        "stage": config.stage(),
        "queues": queues,
        "dead_letters": dead_letters,
        "failing_projects": failing,
        "projects": summaries,
    }


def project_health(project) -> dict:
    failed_jobs = [job for job in jobs.list_jobs(project.project_id) if job.state == "failed" or job.error]
    return {
        "project_id": project.project_id,
        "title": project.title,
        "training": {"state": training_state(project.counters), "last_error": project.last_error,
                     "model_version": project.model_version},
        "stream_errors": stream_errors.as_list(project.stream_errors),
        "last_failures": [{"job": job.sk, "kind": job.kind, "state": job.state, "error": job.error,
                           "model_version": job.model_version,
                           "at": (job.finished or job.started).isoformat() if (job.finished or job.started) else None}
                          for job in failed_jobs[:LAST_FAILURES]],
    }
