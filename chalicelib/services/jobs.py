"""What a project's background work is doing (store/jobs.py), and starting a pre-annotation."""
from chalicelib.errors import NotFoundError
from chalicelib.services import rescoring
from chalicelib.store import jobs
from chalicelib.store import projects as project_db


def list_jobs(project_id: str) -> list:
    project_db.get_project(project_id)
    return jobs.list_jobs(project_id)


def get_job(project_id: str, job_id: str):
    project_db.get_project(project_id)
    job = jobs.find(project_id, job_id)
    if job is None:
        raise NotFoundError(f"project {project_id} has no job {job_id!r}", "job_id")
    return job


def start_preannotation(project_id: str):
    """Every task without a human completion gets a stored prediction of the active version."""
    return rescoring.start_preannotation(project_id)
