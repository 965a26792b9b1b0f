"""Rescoring passes over the pool, fanned out over SQS: who starts them, and the fan-out.

A pass is one job type per message (domain/rescoring_plan.py lists them; services/rescoring_chunk.py
holds one small handler per type): `rescore` after a promotion (scores, auto labels, and the
predictions too when `ml.preannotate` is on: one pass, the model run once per chunk), `preannotate`
(`POST /predictions`, a rollback or pin), `rejudge` (`ml.auto_label` changed; a rollback or pin with
it set), `backfill` (random keys, services/migrations/random_keys.py) and `suspects`
(services/suspects.py). Messages queued before job types were split keep their meaning: no mode is
`rescore`; a `rescore` message carrying `predict` scores and predicts.

The starter sends one message covering task ids [1, task_seq]. A range larger than the chunk
size is split into at most FANOUT sub-ranges sent back to the queue (a tree: 10 million tasks in
chunks of 2,000 is 5,000 leaves, 4 levels deep); a range within the chunk size is one leaf.

Safe under redelivery and never in the way of `GET /next`:
- a message for a version that is no longer the active one does nothing, and ends its job as
  "superseded" (a newer model's pass, or the pass of a move by hand, is on its way); starting a pass
  supersedes the running passes of other versions at once;
- priorities are deterministic for a (version, range), so a redelivered chunk writes the same values;
- until a chunk is scored its tasks keep their previous scores (or stay in the random pool), so
  `next` always has an order to serve.

A message naming a `job` counts its leaf's task ids and stored predictions in that job once
(store/jobs.py), which `GET /jobs` shows.
"""
import os

from chalicelib.errors import ConflictError
from chalicelib.ml import sampling
from chalicelib.services import rescoring_chunk, suspects
from chalicelib.store import dynamo, jobs, queue
from chalicelib.store import projects as project_db


FANOUT = 10  # SendMessageBatch takes 10 entries
CHUNK_ENV = "ACTIVELABEL_RESCORE_CHUNK"
# Diversity-aware strategies (diverse_margin, badge) see one chunk at a time, so the chunk is the
# window they spread a batch over (bench/results/README.md); a chunk is a range Query of a few
# pages and one conditional write per task, well inside the rescore function's time limit.
DEFAULT_CHUNK = 2000


def chunk_size() -> int:
    return max(1, int(os.environ.get(CHUNK_ENV) or DEFAULT_CHUNK))


def split(first: int, last: int, chunk: int, fanout: int = FANOUT) -> list[tuple[int, int]]:
    """[first, last] cut into at most `fanout` contiguous ranges whose sizes are multiples of `chunk`
    (but the last), so the tree's leaves are exactly the chunks."""
    n_chunks = -(-(last - first + 1) // chunk)
    per_part = -(-n_chunks // fanout) * chunk
    return [(lo, min(last, lo + per_part - 1)) for lo in range(first, last + 1, per_part)]


def start(project_id: str, version: int, last_task_id: int, predict: bool = False, project=None) -> str | None:
    """Queue the rescoring of the whole pool by `version` (and its pre-annotation when `predict`),
    and its suspects job (services/suspects.py) when the project asks for one; returns the
    rescoring job's id, or None when there is nothing to rescore. `project`: its record as the
    caller has it (the train worker's claim), for its settings; read when not given."""
    project = project or project_db.find_project(project_id)
    if project is None:
        return None
    supersede_others(project_id, version)
    suspects.start(project, version)  # its own job on the rescore queue (ml.suspects)
    # a project that ever set ml.auto_label is rescored after each promotion, so that the new version
    # re-judges (or, when turned off, withdraws) the auto labels standing
    score = sampling.needs_model(project.settings.get("sampling")) or project.settings.get("auto_label") is not None
    if last_task_id < 1 or not (score or predict):
        return None
    kind = "rescoring+preannotation" if score and predict else "rescoring" if score else "preannotation"
    job_id = f"{kind}-v{version}"
    jobs.start(project_id, job_id, kind, last_task_id, f"v{version}")
    queue.send_rescore_ranges(project_id, version, [(1, last_task_id)], chunk_size(),
                              mode="rescore" if score else "preannotate", job=job_id, predict=predict)
    return job_id


def start_preannotation(project_id: str):
    """`POST /predictions`: a pre-annotation job of every unlabeled task by the active version."""
    project = project_db.get_project(project_id, consistent=True)
    if project.active_version is None:
        raise ConflictError(f"project {project_id} has no active model version to predict with; see /training",
                            "model_version")
    version = project.active_version
    job_id = f"preannotation-v{version}-{int(dynamo.now().timestamp() * 1000)}"
    return _start_pass(project_id, job_id, version, project.task_seq)


def start_move_preannotation(project_id: str, version: int, move: int) -> str:
    """The pre-annotation pass of the pointer's move number `move` to `version` (rollback, pin)."""
    return _start_move_pass(project_id, f"preannotation-v{version}-a{move}", version)


def start_move_rejudging(project_id: str, version: int, move: int) -> str:
    """The auto-label re-judging pass of the pointer's move number `move` (ml.auto_label set): the
    version moved to judges every auto label standing, those of the version moved from included
    (their writes carry the move: store/auto_labels.py)."""
    return _start_move_pass(project_id, f"rescoring-v{version}-a{move}", version, mode="rejudge")


def _start_move_pass(project_id: str, job_id: str, version: int, mode: str = "preannotate") -> str:
    """Idempotent: the job is created once; a repeated call sends the fan-out again only while the job
    has counted nothing yet (the first call may have stopped between creating the job and sending;
    leaves are idempotent, so a second send costs work, never a wrong count)."""
    existing = jobs.find(project_id, job_id)
    if existing is not None and (existing.state != "running" or int(existing.done or 0) or int(existing.failed or 0)):
        return job_id
    last_task_id = int(existing.total) if existing is not None else project_db.get_project(
        project_id, consistent=True).task_seq
    _start_pass(project_id, job_id, version, last_task_id, mode)
    return job_id


def start_rejudging(project_id: str, version: int, last_task_id: int, stamp: int) -> str | None:
    """`ml.auto_label` changed: the active version re-judges the pool's auto labels now instead of at
    the next promotion (a `rejudge` pass: the scores are the ones the version already wrote).
    `stamp` (the settings write's time in ms) names the job, one per settings change."""
    if last_task_id < 1:
        return None
    job_id = f"rescoring-v{version}-s{stamp}"
    _start_pass(project_id, job_id, version, last_task_id, mode="rejudge")
    return job_id


def supersede_others(project_id: str, version: int) -> None:
    """A pass of `version` starts: the running passes (and suspects jobs) of other versions end as
    superseded now; their leaves still queued skip at their first read, and a leaf writing stops
    at its next slice (services/rescoring_chunk.py)."""
    for job in jobs.list_jobs(project_id):
        if job.state == "running" and job.kind in PASS_KINDS and job.model_version != f"v{version}":
            jobs.supersede(project_id, job.sk, f"v{version} became the active version")


PASS_KINDS = ("rescoring", "preannotation", "rescoring+preannotation", "suspects")


def _start_pass(project_id: str, job_id: str, version: int, last_task_id: int, mode: str = "preannotate"):
    supersede_others(project_id, version)
    job = jobs.start(project_id, job_id, "preannotation" if mode == "preannotate" else "rescoring", last_task_id,
                     f"v{version}")
    if last_task_id < 1:
        jobs.finish(project_id, job_id)
    else:
        queue.send_rescore_ranges(project_id, version, [(1, last_task_id)], chunk_size(), mode=mode,
                                  job=job_id, predict=mode == "preannotate")
    return job


def handle_request(project_id: str, version: int, first: int, last: int, chunk: int, mode: str = "rescore",
                   job: str | None = None, predict: bool = False) -> str:
    """One message: "split", "scored:<n>" (",predicted:<n>", ",auto:<n>"), "backfilled:<n>",
    "suspects:<n>" or "skipped:<why>"."""
    if mode == "suspects":
        return suspects.run(project_id, version, job)
    project = project_db.find_project(project_id, consistent=False)
    if project is None:
        return "skipped:project deleted"
    leaf = rescoring_chunk.Chunk(project_id, version, first, last, job, mode)
    if mode != "backfill" and rescoring_chunk.superseded(project, leaf):
        return "skipped:superseded"
    settings = project.settings
    if mode == "rescore" and not (predict or sampling.needs_model(settings.get("sampling"))
                                  or settings.get("auto_label") is not None):
        return "skipped:model-free strategy"
    if last - first + 1 > chunk:
        queue.send_rescore_ranges(project_id, version, split(first, last, chunk), chunk, mode, job, predict)
        return "split"
    if mode == "rescore":
        return rescoring_chunk.rescore(project, leaf, predict=predict)
    return {"preannotate": rescoring_chunk.preannotate, "rejudge": rescoring_chunk.rejudge,
            "backfill": rescoring_chunk.backfill}[mode](project, leaf)
