"""Jobs: what a project's background work is doing (training, rescoring, pre-annotation, Label
Studio pull, suspects), shown by `GET /api/projects/{id}/jobs`.

One item per job in the ledger table (pk `jobs#<project>`, sk the job id), so no new table. Every
write is idempotent under redelivery:
- a job is created once (conditional put; a redelivered start finds it and changes nothing);
- a fan-out leaf adds its counts in one transaction with a marker of the leaf (`jobleaf#<job>#<first>`),
  so a redelivered leaf counts nothing twice;
- the state moves to "succeeded" when done + failed reach the total (a conditional update).
"""
import time

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import config
from chalicelib.store.models import LedgerModel
from chalicelib.store.dynamo import connection as _connection
from chalicelib.store.dynamo import is_conditional_failure as _is_conditional_failure
from chalicelib.store.dynamo import now
from chalicelib.store.ledger import MARKER_TTL_SECONDS

JOB_TTL_SECONDS = 90 * 24 * 3600
KINDS = ("training", "rescoring", "preannotation", "rescoring+preannotation", "labelstudio_pull", "suspects")


class JobModel(Model):
    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    state = UnicodeAttribute()  # "running" | "succeeded" | "failed" | "superseded"
    total = NumberAttribute(default=0)
    done = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    stored = NumberAttribute(default=0)  # predictions stored (pre-annotation)
    pushed = NumberAttribute(null=True)  # predictions Label Studio created (a linked project)
    model_version = UnicodeAttribute(null=True)
    started = UTCDateTimeAttribute()
    finished = UTCDateTimeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    detail = JSONAttribute(null=True)
    expires_at = NumberAttribute(null=True)


def _bind() -> None:
    """The ledger table of the environment (read at each call: tests and the local stack rebind)."""
    JobModel.Meta.table_name = LedgerModel.Meta.table_name
    JobModel.Meta.region = config.region()
    if getattr(JobModel, "_bound_to", None) != (LedgerModel.Meta.table_name, LedgerModel._connection):
        JobModel._connection = None
        JobModel._bound_to = (LedgerModel.Meta.table_name, LedgerModel._connection)


def _pk(project_id: str) -> str:
    return f"jobs#{project_id}"


def start(project_id: str, job_id: str, kind: str, total: int, model_version: str | None = None) -> JobModel:
    """Create the job (state running) unless it exists; returns the stored job."""
    _bind()
    item = JobModel(pk=_pk(project_id), sk=job_id, kind=kind, state="running", total=total, done=0, failed=0,
                    stored=0, model_version=model_version, started=now(),
                    expires_at=int(time.time()) + JOB_TTL_SECONDS)
    try:
        item.save(condition=JobModel.sk.does_not_exist())
    except PutError as exc:
        if not _is_conditional_failure(exc):
            raise
        return find(project_id, job_id)
    return item


def finish(project_id: str, job_id: str, error: str | None = None, done: int | None = None,
           detail: dict | None = None, total: int | None = None, if_running: bool = False) -> None:
    """Mark the job succeeded (or failed with `error`); idempotent. `if_running`: only a job still
    running (a redelivered message of a finished job leaves its outcome alone)."""
    _bind()
    actions = [JobModel.state.set("failed" if error else "succeeded"), JobModel.finished.set(now())]
    if detail is not None:
        actions.append(JobModel.detail.set(detail))
    if error:
        actions.append(JobModel.error.set(error[:2000]))
    if done is not None:
        actions.append(JobModel.done.set(done))
    if total is not None:
        actions.append(JobModel.total.set(total))
    try:
        JobModel(pk=_pk(project_id), sk=job_id).update(
            actions=actions, condition=JobModel.state == "running" if if_running else JobModel.sk.exists())
    except UpdateError as exc:
        if not _is_conditional_failure(exc):
            raise


def supersede(project_id: str, job_id: str, reason: str) -> None:
    """A running job overtaken by a newer version (or a move by hand) ends as "superseded", not
    "failed"; a job already finished keeps its outcome (idempotent)."""
    _bind()
    try:
        JobModel(pk=_pk(project_id), sk=job_id).update(
            actions=[JobModel.state.set("superseded"), JobModel.finished.set(now()),
                     JobModel.detail.set({"reason": reason[:2000]})],
            condition=JobModel.state == "running")
    except UpdateError as exc:
        if not _is_conditional_failure(exc):
            raise


def note_error(project_id: str, job_id: str, error: str) -> None:
    """Record an error of a running job without ending it (e.g. Label Studio refused a push)."""
    _bind()
    try:
        JobModel(pk=_pk(project_id), sk=job_id).update(actions=[JobModel.error.set(error[:2000])],
                                                       condition=JobModel.sk.exists())
    except UpdateError as exc:
        if not _is_conditional_failure(exc):
            raise


def record_leaf(project_id: str, job_id: str, first: int, done: int, failed: int = 0, stored: int = 0,
                pushed: int = 0) -> bool:
    """Count one fan-out leaf once (False: already counted); finishes the job when it is complete."""
    _bind()
    marker = LedgerModel(pk=f"p#{project_id}", sk=f"jobleaf#{job_id}#{first}",
                         expires_at=int(time.time()) + MARKER_TTL_SECONDS)
    try:
        with TransactWrite(connection=_connection()) as tx:
            tx.save(marker, condition=LedgerModel.sk.does_not_exist())
            tx.update(JobModel(pk=_pk(project_id), sk=job_id),
                      actions=[JobModel.done.add(done), JobModel.failed.add(failed), JobModel.stored.add(stored)]
                      + ([JobModel.pushed.add(pushed)] if pushed else []),
                      condition=JobModel.sk.exists())
    except TransactWriteError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    job = find(project_id, job_id)
    if job is not None and job.state == "running" and int(job.done) + int(job.failed) >= int(job.total):
        try:
            JobModel(pk=_pk(project_id), sk=job_id).update(
                actions=[JobModel.state.set("succeeded" if not int(job.failed) else "failed"),
                         JobModel.finished.set(now())]
                + ([JobModel.error.set(f"{int(job.failed)} tasks could not be processed")] if int(job.failed) else []),
                condition=JobModel.state == "running")
        except UpdateError as exc:
            if not _is_conditional_failure(exc):
                raise
    return True


def find(project_id: str, job_id: str) -> JobModel | None:
    _bind()
    try:
        return JobModel.get(_pk(project_id), job_id, consistent_read=True)
    except DoesNotExist:
        return None


def list_jobs(project_id: str) -> list[JobModel]:
    """Every job of the project, newest first."""
    _bind()
    return sorted(JobModel.query(_pk(project_id)), key=lambda j: (j.started, j.sk), reverse=True)
