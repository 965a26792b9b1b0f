"""The pool representation a training's text model reads (ml/pool_representation.py): the one the
active version recorded, reused while the pool has not grown by REFIT_GROWTH since it was fitted;
otherwise fitted now on a stable sample of at most SAMPLE_CAP of the project's tasks (labelled and
not) and stored beside the version being trained (`models/<project>/v<n>/pool.pkl`, sha256 and
S3 version id recorded on the version, read back only through that check). Every model artifact
also embeds the projection it was fitted with, so predicting never reads this artifact.
"""
import logging

from chalicelib import config
from chalicelib.errors import ArtifactIntegrityError
from chalicelib.ml import pool_representation, training
from chalicelib.store import artifacts
from chalicelib.store import tasks as task_db

log = logging.getLogger("activelabel.services.pool_features")

ARTIFACT = "pool.pkl"


def for_training(project, model, version: int, champion=None):
    """(the projection, the record to store on the version) for a model of a kind that reads the
    pool, or (None, None): another kind, or too few texts in the pool. `champion`: the active
    version's record (None without one), whose representation is reused while it may be."""
    if not getattr(model, "reads_pool", False):
        return None, None
    n_tasks = int(project.task_seq or 0)
    recorded = (champion.representation or None) if champion is not None else None
    if recorded is not None and not pool_representation.needs_refit(recorded.get("fitted_on"), n_tasks):
        try:
            return _load(recorded), recorded
        except ArtifactIntegrityError as exc:
            log.warning("project %s: pool representation unreadable (%s); fitting it again",
                        project.project_id, exc.message)
    sample = task_db.pool_sample(project.project_id,
                                 lambda task_id: pool_representation.in_sample(project.project_id, task_id, n_tasks))
    with training.one_blas_thread():
        projection = pool_representation.fit_text([model.raw_input(data) for _, data in sample], seed=version)
    if projection is None:
        return None, None
    projection.fitted_on = n_tasks
    stored = artifacts.put_artifact(artifacts.artifact_key(project.project_id, version, ARTIFACT),
                                    training.serialize(projection), {"project-id": project.project_id})
    record = {"key": stored.key, "version_id": stored.version_id, "sha256": stored.sha256, "fitted_on": n_tasks,
              "sample": len(sample), "dimensions": projection.dimensions, "fitted_by": f"v{version}"}
    log.info("project %s: pool representation fitted on %s of %s tasks (%s dimensions)", project.project_id,
             len(sample), n_tasks, projection.dimensions)
    return projection, record


def _load(recorded: dict):
    body = artifacts.get_artifact(config.model_bucket(), recorded["key"], recorded["version_id"], recorded["sha256"])
    return training.deserialize(body)
