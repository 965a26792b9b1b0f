"""Rescore the unlabeled pool after a model is promoted, fanned out over SQS (events/rescoring.py
delivers the messages).

The train worker sends one message covering task ids [1, task_seq]. A range larger than the chunk
size is split into at most FANOUT sub-ranges sent back to the queue (a tree: 10 million tasks in
chunks of 2,000 is 5,000 leaves, 4 levels deep); a range within the chunk size is scored: one
bounded range query of the tasks table, `predict_proba` of the version's model, priorities from the
project's strategy (ml/sampling.py), one conditional write per unlabeled task.

Safe under redelivery and never in the way of `GET /next`:
- a message for a version that is no longer the active one does nothing (a newer model's rescoring
  is on its way), and scores are written only if no newer version scored the task;
- priorities are deterministic for a (version, range), so a redelivered chunk writes the same values;
- until a chunk is scored its tasks keep their previous scores (or stay in the random pool), so
  `next` always has an order to serve.

Random-key backfill: tasks imported before the `random_key` attribute existed have no key, so they
are missing from the sparse `pool` index and `next` never serves them. Every leaf (of a rescoring
or of a backfill-only run, `start_backfill`) also reads its range's keyless tasks and gives each a
key (its task id in a `sequential` project, uniform random otherwise) with one conditional write,
putting it in the pool if no completion of it was ever started (`repository.backfill_random_key`).
A task that already has a key is never rewritten, so both are idempotent and can be re-run.
"""
import logging
import os
import random

from chalicelib.domain.settings import DEFAULTS
from chalicelib.ml import sampling
from chalicelib.services import prediction
from chalicelib.store import queue, repository

log = logging.getLogger("activelabel.services.rescoring")

_random = random.SystemRandom()

FANOUT = 10  # SendMessageBatch takes 10 entries
CHUNK_ENV = "ACTIVELABEL_RESCORE_CHUNK"
# Diversity-aware strategies (diverse_margin, badge) see one chunk at a time, so the chunk is the
# window they spread a batch over (bench/results/README.md). A chunk of 2,000 tasks costs a range
# Query of a few pages and 2,000 conditional writes: an estimated 10-20 s on DynamoDB, inside the
# rescore function's 300 s.
DEFAULT_CHUNK = 2000


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


def start_backfill(project_id: str) -> bool:
    """Queue the random-key backfill of every task of the project; False when it has no tasks."""
    project = repository.find_project(project_id)
    last_task_id = int(project.task_seq or 0) if project else 0
    if last_task_id < 1:
        return False
    queue.send_rescore_ranges(project_id, 0, [(1, last_task_id)], chunk_size(), mode="backfill")
    return True


def backfill_random_keys(project_id: str, tasks: list, sequential: bool) -> tuple[list, int]:
    """Give the keyless ones of `tasks` (read by `repository.rescoring_tasks_in_range`) a random key.

    Returns the tasks that are in the unlabeled pool (as read, or put there now) and the number of
    keys written.
    """
    in_pool, written = [], 0
    for task in tasks:
        if task.random_key is None:
            key = float(task.task_id) if sequential else _random.random()
            outcome = repository.backfill_random_key(project_id, int(task.task_id), key)
            written += outcome is not None
            # None: another delivery wrote the key first; scoring such a task is conditional on the pool
            if outcome == "pool" or (outcome is None and not int(task.completion_seq or 0)):
                in_pool.append(task)
        elif task.pool_project is not None:
            in_pool.append(task)
    return in_pool, written


def handle_request(project_id: str, version: int, first: int, last: int, chunk: int, mode: str = "rescore") -> str:
    """One message: "split", "scored:<n>", "backfilled:<n>" or "skipped:<why>"."""
    project = repository.find_project(project_id, consistent=False)
    if project is None:
        return "skipped:project deleted"
    settings = {**DEFAULTS, **(project.ml or {})}
    rescore = mode == "rescore"
    if rescore and (project.active_version is None or int(project.active_version) != version):
        return "skipped:superseded"
    if rescore and not sampling.needs_model(settings.get("sampling")):
        return "skipped:model-free strategy"
    if last - first + 1 > chunk:
        queue.send_rescore_ranges(project_id, version, split(first, last, chunk), chunk, mode)
        return "split"
    read = repository.rescoring_tasks_in_range(project_id, first, last)
    strategy = sampling.resolve(settings.get("sampling"))
    tasks, backfilled = backfill_random_keys(project_id, read, sequential=strategy == "sequential")
    if not rescore:
        log.info("project %s: backfilled %s random keys in [%s, %s]", project_id, backfilled, first, last)
        return f"backfilled:{backfilled}"
    if not tasks:
        return "scored:0"
    model = prediction.load_version(project_id, version)
    if model is None:
        return "skipped:version record missing"
    inputs = model.inputs([task.data for task in tasks])
    probabilities = model.predict_proba(inputs)
    embedding = sampling.feature_embedding(model, inputs) if strategy in sampling.EMBEDDING_STRATEGIES else None
    scores = sampling.priorities(strategy, probabilities, task_ids=[int(t.task_id) for t in tasks],
                                 embedding=embedding, seed=version * 1_000_003 + first)
    written = sum(repository.store_score(project_id, int(t.task_id), float(s), version)
                  for t, s in zip(tasks, scores))
    log.info("project %s: v%s scored %s of %s tasks in [%s, %s] (%s random keys backfilled)", project_id, version,
             written, len(tasks), first, last, backfilled)
    return f"scored:{written}"
