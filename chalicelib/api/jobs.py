"""Jobs (training, rescoring, pre-annotation, Label Studio pull) and starting a pre-annotation."""
from chalicelib.api.http import accepted
from chalicelib.api.serializers import job_json
from chalicelib.services import jobs


def list_jobs(project_id: str):
    return {"jobs": [job_json(job) for job in jobs.list_jobs(project_id)]}


def get_job(project_id: str, job_id: str):
    return job_json(jobs.get_job(project_id, job_id))


def start_preannotation(project_id: str):
    return accepted(job_json(jobs.start_preannotation(project_id)))
