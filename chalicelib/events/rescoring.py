"""Rescoring the unlabeled pool after a model is promoted, fanned out over SQS.

The train worker sends one message covering task ids [1, task_seq]. The rescore worker splits a
range larger than the chunk size into at most FANOUT sub-ranges and sends them back to the queue
(a tree: 10 million tasks in chunks of 500 is 20,000 leaves, 5 levels deep); a range within the
chunk size is scored: one bounded range query of the tasks table, `predict_proba` of the version's
model, priorities from the project's strategy (ml/sampling.py), one conditional write per
unlabeled task.

Safe under redelivery and never in the way of `GET /next`:
- a message for a version that is no longer the active one does nothing (a newer model's rescoring
  is on its way), and scores are written only if no newer version scored the task;
- priorities are deterministic for a (version, range), so a redelivered chunk writes the same values;
- until a chunk is scored its tasks keep their previous scores (or stay in the random pool), so
  `next` always has an order to serve.
"""
import logging
import os

from chalicelib.domain.settings import DEFAULTS
from chalicelib.ml import sampling, serving
from chalicelib.store import artifacts, queue, repository

log = logging.getLogger("activelabel.events.rescoring")

FANOUT = 10  # SendMessageBatch takes 10 entries
CHUNK_ENV = "ACTIVELABEL_RESCORE_CHUNK"
DEFAULT_CHUNK = 500


def chunk_size() -> int:
    return max(1, int(os.environ.get(CHUNK_ENV) or DEFAULT_CHUNK))


def split(first: int, last: int, chunk: int, fanout: int = FANOUT) -> list[tuple[int, int]]:
    """[first, last] cut into at most `fanout` contiguous ranges whose sizes are multiples of `chunk`
    (but the last), so the tree's leaves are exactly the chunks."""
    n_chunks = -(-(last - first + 1) // chunk)
    per_part = -(-n_chunks // fanout) * chunk
    return [(lo, min(last, lo + per_part - 1)) for lo in range(first, last + 1, per_part)]


def start(project_id: str, version: int, last_task_id: int) -> bool:
    """Queue the rescoring of the whole pool by `version`; False when there is nothing to do."""
    project = repository.find_project(project_id)
    settings = {**DEFAULTS, **((project.ml if project else None) or {})}
    if last_task_id < 1 or not sampling.needs_model(settings.get("sampling")):
        return False
    queue.send_rescore_ranges(project_id, version, [(1, last_task_id)], chunk_size())
    return True


def _fetch(pointer: serving.ModelPointer) -> bytes:
    return artifacts.get_artifact(pointer.bucket, pointer.key, pointer.version_id, pointer.sha256)


def handle_request(project_id: str, version: int, first: int, last: int, chunk: int) -> str:
    """One message: "split", "scored:<n>" or "skipped:<why>"."""
    project = repository.find_project(project_id, consistent=False)
    if project is None:
        return "skipped:project deleted"
    if project.active_version is None or int(project.active_version) != version:
        return "skipped:superseded"
    settings = {**DEFAULTS, **(project.ml or {})}
    if not sampling.needs_model(settings.get("sampling")):
        return "skipped:model-free strategy"
    if last - first + 1 > chunk:
        queue.send_rescore_ranges(project_id, version, split(first, last, chunk), chunk)
        return "split"
    tasks = repository.unlabeled_tasks_in_range(project_id, first, last)
    if not tasks:
        return "scored:0"
    item = repository.get_model_version(project_id, version)
    if item is None:
        return "skipped:version record missing"
    pointer = serving.ModelPointer(
        bucket=item.s3_bucket, key=item.s3_key, version_id=item.s3_version_id, sha256=item.sha256,
        sklearn_version=item.sklearn_version, model_version=item.model_version)
    model = serving.load(pointer, _fetch)
    inputs = model.inputs([task.data for task in tasks])
    probabilities = model.predict_proba(inputs)
    strategy = sampling.resolve(settings.get("sampling"))
    embedding = sampling.feature_embedding(model, inputs) if strategy == "diverse_margin" else None
    scores = sampling.priorities(strategy, probabilities, task_ids=[int(t.task_id) for t in tasks],
                                 embedding=embedding, seed=version * 1_000_003 + first)
    written = sum(repository.store_score(project_id, int(t.task_id), float(s), version)
                  for t, s in zip(tasks, scores))
    log.info("project %s: v%s scored %s of %s tasks in [%s, %s]", project_id, version, written, len(tasks),
             first, last)
    return f"scored:{written}"


def handle_rescore_batch(event) -> dict:
    """Chalice SQSEvent -> partial batch response; each message is one range of task ids."""
    from chalicelib.events.batch import process_batch

    return process_batch(
        event,
        lambda record: handle_request(**queue.parse_rescore_request(record.body)),
        identifier=lambda record: record.to_dict()["messageId"],
        ordered=False,
    )
