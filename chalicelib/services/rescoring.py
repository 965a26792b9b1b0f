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

Pre-annotation rides on the same fan-out: a message with `predict` makes its leaf also store the
version's prediction on every unlabeled task of the range (store/preannotations.py), from the same
read and the same encoded inputs (one pass scores and predicts), and pushes them to a linked
Label Studio project (services/labelstudio_push.py); mode "preannotate" predicts
without rescoring (`POST /predictions`). A message naming a `job` counts its leaf's task ids and
stored predictions in that job once (store/jobs.py), which `GET /jobs` shows.

Every leaf also runs the random-key migration on the tasks it read (services/migrations/random_keys.py):
tasks imported before random keys existed come back from the same range query and get their key.
"""
import logging
import os

from chalicelib.errors import ConflictError
from chalicelib.ml import sampling
from chalicelib.services import auto_labeling, labelstudio_push, prediction, suspects
from chalicelib.services.migrations import random_keys
from chalicelib.store import dynamo, jobs, preannotations, queue
from chalicelib.store import projects as project_db
from chalicelib.store import tasks as task_db
from chalicelib.telemetry import metrics

log = logging.getLogger("activelabel.services.rescoring")


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


def start(project_id: str, version: int, last_task_id: int, predict: bool = False) -> str | None:
    """Queue the rescoring of the whole pool by `version` (and its pre-annotation when `predict`),
    and its suspects job (services/suspects.py) when the project asks for one; returns the
    rescoring job's id, or None when there is nothing to rescore."""
    project = project_db.find_project(project_id)
    if project is None:
        return None
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
    return _start_move_pass(project_id, f"rescoring-v{version}-a{move}", version, mode="rescore")


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
    the next promotion (one rescoring pass; its scores are the ones the version already wrote).
    `stamp` (the settings write's time in ms) names the job, one per settings change."""
    if last_task_id < 1:
        return None
    job_id = f"rescoring-v{version}-s{stamp}"
    _start_pass(project_id, job_id, version, last_task_id, mode="rescore")
    return job_id


def _start_pass(project_id: str, job_id: str, version: int, last_task_id: int, mode: str = "preannotate"):
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
    """One message: "split", "scored:<n>" (",predicted:<n>" when predicting), "backfilled:<n>" or
    "skipped:<why>"."""
    project = project_db.find_project(project_id, consistent=False)
    if project is None:
        return "skipped:project deleted"
    settings = project.settings
    with_model = mode in ("rescore", "preannotate")
    predict = predict or mode == "preannotate"
    if with_model and project.active_version != version:
        if job:
            jobs.finish(project_id, job, error=f"superseded: v{version} is no longer the active version",
                        if_running=True)
        return "skipped:superseded"
    auto_on = mode == "rescore" and settings.get("auto_label") is not None
    score = mode == "rescore" and sampling.needs_model(settings.get("sampling"))
    if with_model and not (score or predict or auto_on):
        return "skipped:model-free strategy"
    if last - first + 1 > chunk:
        queue.send_rescore_ranges(project_id, version, split(first, last, chunk), chunk, mode, job, predict)
        return "split"
    read = (preannotations.tasks_in_range if predict and with_model else task_db.rescoring_tasks_in_range)(
        project_id, first, last)
    strategy = sampling.resolve(settings.get("sampling"))
    tasks, backfilled = random_keys.key_keyless(project_id, read, sequential=strategy == "sequential")
    if not with_model:
        log.info("project %s: backfilled %s random keys in [%s, %s]", project_id, backfilled, first, last)
        return f"backfilled:{backfilled}"
    # scored: the pool; predicted: every task without a completion (the pool and more)
    in_pool = {t.task_id for t in tasks}
    unlabeled = [t for t in read if not t.completion_seq or t.task_id in in_pool] if predict else tasks
    written = stored = pushed = 0
    auto = {"labelled": 0, "withdrawn": 0}
    auto_held = _auto_held(read) if mode == "rescore" else []
    judged = tasks + auto_held if auto_on or auto_held else []  # whose auto label this version decides
    in_unlabeled = {t.task_id for t in unlabeled}
    encoded = unlabeled + [t for t in judged if t.task_id not in in_unlabeled]
    if encoded:
        model = prediction.load_version(project_id, version)
        if model is None:
            return "skipped:version record missing"
        inputs_of = _encode_once(model, encoded)
    if unlabeled:
        if score and tasks:
            pooled = [t for t in unlabeled if t.task_id in in_pool]
            written = score_tasks(project_id, version, first, strategy, model, inputs_of(pooled), pooled)
        if predict:
            predictions = store_predictions(project_id, f"v{version}", model, inputs_of(unlabeled), unlabeled)
            stored = len(predictions)
            pushed = labelstudio_push.push(project, job, first, predictions)
    if judged:
        auto = auto_labeling.label_chunk(project, version, model, judged, inputs_of(judged))
    if job:
        jobs.record_leaf(project_id, job, first, done=last - first + 1, stored=stored, pushed=pushed)
    _report(project_id, version, mode, (first, last), (written, len(tasks)), (stored, len(unlabeled)), backfilled, auto)
    return f"scored:{written}" + (f",predicted:{stored}" if predict else "") + (
        f",auto:{auto['labelled']}" if auto["labelled"] or auto["withdrawn"] else "")


def _report(project_id: str, version: int, mode: str, bounds: tuple, scored: tuple, predicted: tuple,
            backfilled: int, auto: dict) -> None:
    """The log line and the metric line of one rescored range."""
    log.info("project %s: v%s scored %s of %s, predicted %s of %s tasks in [%s, %s] (%s random keys backfilled; "
             "auto-labelled %s, withdrawn %s)", project_id, version, *scored, *predicted, *bounds, backfilled,
             auto["labelled"], auto["withdrawn"])
    metrics.emit({"TasksRescored": scored[0], "TasksPreannotated": predicted[0], "AutoLabelsApplied": auto["labelled"],
                  "AutoLabelsWithdrawn": auto["withdrawn"]}, project_id, model_version=f"v{version}", mode=mode)


def _auto_held(read: list) -> list:
    """Tasks an earlier version auto-labelled (off the pool): this version re-judges them, even when
    auto-labelling was turned off since (then withdrawn)."""
    return [t for t in read if t.auto_project is not None and t.pool_project is None]


def _encode_once(model, tasks: list):
    """Encode `tasks` once; the function returned gives the encoded rows of any subset of them."""
    inputs = model.inputs([task.data for task in tasks])
    row = {t.task_id: i for i, t in enumerate(tasks)}

    def inputs_of(some: list):
        return inputs if len(some) == len(tasks) else _take(inputs, [row[t.task_id] for t in some])

    return inputs_of


def _take(X, rows: list[int]):
    """Rows of encoded inputs: a matrix (numpy, scipy sparse) or a list."""
    return X[rows] if hasattr(X, "shape") else [X[i] for i in rows]


def score_tasks(project_id: str, version: int, first: int, strategy: str, model, inputs, tasks: list) -> int:
    probabilities = model.predict_proba(inputs)
    embedding = sampling.feature_embedding(model, inputs) if strategy in sampling.EMBEDDING_STRATEGIES else None
    scores = sampling.priorities(strategy, probabilities, task_ids=[t.task_id for t in tasks],
                                 embedding=embedding, seed=version * 1_000_003 + first)
    return sum(task_db.store_score(project_id, t.task_id, float(s), version)
               for t, s in zip(tasks, scores))


def store_predictions(project_id: str, model_version: str, model, inputs, tasks: list) -> dict[int, dict]:
    """Store one Label Studio prediction per task (those still unlabeled); returns them by task id."""
    stored = {}
    for task, (label, score) in zip(tasks, model.scored(inputs)):
        prediction = {"result": model.result_items(label, score), "score": round(float(score), 6),
                      "model_version": model_version}
        if preannotations.store_prediction(project_id, task.task_id, prediction):
            stored[task.task_id] = prediction
    return stored
