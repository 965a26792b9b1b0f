"""The rescore queue's leaves: one small handler per job type over one chunk of task ids, each
over the pure planner (domain/rescoring_plan.py, whose docstring lists the job types).

A model pass (rescore, preannotate, rejudge) reads the chunk with one bounded range query, gives
keyless tasks their random key (services/migrations/random_keys.py), runs the version's model once
(ml/chunk_model.py: features once, `predict_proba` once; scoring, prediction and auto-labelling read
the same probabilities), lets the planner decide, and writes one UpdateItem per task
(store/task_plans.py). Then `after_chunk` runs: the hook for whatever follows a written chunk
(today the push of stored predictions to a linked Label Studio project).

Safe under redelivery: priorities are deterministic for a (version, range); every write is
conditional (a newer version's score or label is never overwritten, a task a person started is
never predicted or auto-labelled); a leaf counts in its job once (store/jobs.record_leaf). A leaf
whose version stops being the active one (a promotion, a rollback or pin) stops between slices of
its writes and ends its job as "superseded", so the pass of the version moved to never waits
behind a whole chunk of the version it replaced.
"""
import logging
from dataclasses import dataclass

from chalicelib.domain import rescoring_plan
from chalicelib.domain.rescoring_plan import Work
from chalicelib.ml import chunk_model, sampling
from chalicelib.services import auto_labeling, labelstudio_push, labelstudio_stream, prediction
from chalicelib.services.migrations import random_keys
from chalicelib.store import jobs, preannotations, task_plans
from chalicelib.store import projects as project_db
from chalicelib.store import tasks as task_db
from chalicelib.store import training as training_db
from chalicelib.telemetry import metrics

log = logging.getLogger("activelabel.services.rescoring")

WRITE_SLICE = 500  # writes between two checks that the version is still the active one


@dataclass(frozen=True)
class Chunk:
    """One leaf message: task ids [first, last] of a pass by `version`, counted in `job`."""

    project_id: str
    version: int
    first: int
    last: int
    job: str | None = None
    mode: str = "rescore"  # the job type


def superseded(project, chunk: Chunk) -> bool:
    """The chunk's version is no longer the active one: its job ends as superseded."""
    if project is not None and project.active_version == chunk.version:
        return False
    if chunk.job:
        jobs.supersede(chunk.project_id, chunk.job, f"v{chunk.version} is no longer the active version")
    return True


def rescore(project, chunk: Chunk, predict: bool = False) -> str:
    """After a promotion: the pool's priorities, auto labels judged, and predictions when `predict`."""
    work = Work(chunk.version, score=sampling.needs_model(project.settings.get("sampling")), predict=predict,
                judge=True, move=project.activation_seq)
    return _model_pass(project, chunk, work)


def preannotate(project, chunk: Chunk) -> str:
    """Predictions of every task no one has started (`POST /predictions`, a rollback or pin)."""
    return _model_pass(project, chunk, Work(chunk.version, predict=True, move=project.activation_seq))


def rejudge(project, chunk: Chunk) -> str:
    """The auto labels only (`ml.auto_label` changed; a rollback or pin with it set)."""
    return _model_pass(project, chunk, Work(chunk.version, judge=True, move=project.activation_seq))


def backfill(project, chunk: Chunk) -> str:
    """Random keys for the chunk's keyless tasks; no model."""
    read = task_db.rescoring_tasks_in_range(chunk.project_id, chunk.first, chunk.last)
    _, written = random_keys.key_keyless(chunk.project_id, read, sequential=_strategy(project) == "sequential")
    log.info("project %s: backfilled %s random keys in [%s, %s]", chunk.project_id, written, chunk.first, chunk.last)
    return f"backfilled:{written}"


def _strategy(project) -> str:
    return sampling.resolve(project.settings.get("sampling"))


def _plan(project, chunk: Chunk, work: Work, read: list, in_pool: set):
    """(the planner's updates, or a reason to skip the chunk)."""
    selection = rescoring_plan.select(read, in_pool, work, project.settings.get("auto_label") is not None)
    if not selection.encoded:
        return [], None
    record = training_db.get_model_version(chunk.project_id, chunk.version)
    model = prediction.load_record(record)
    if model is None:
        return [], "skipped:version record missing"
    strategy = _strategy(project)
    run = chunk_model.run_model(model, [t.data for t in selection.encoded],
                                embed=bool(selection.pooled) and strategy in sampling.EMBEDDING_STRATEGIES)
    served = chunk_model.readings(model, run) if selection.predicted or selection.judged else []
    judge = served
    if selection.judged:  # auto labels are the judge's: the model the version's calibration holds for
        labeler = prediction.load_auto_labeler(chunk.project_id, chunk.version, record)
        if labeler is not None and labeler is not model:
            judge = chunk_model.readings(labeler, chunk_model.run_on(labeler, run))
    ranks = chunk_model.rank_rows(strategy, run, list(range(len(selection.pooled))),
                                  [t.task_id for t in selection.pooled], seed=chunk.version * 1_000_003 + chunk.first)
    if ranks is None:
        log.info("project %s: v%s has no class probabilities to rank by %s", chunk.project_id, chunk.version, strategy)
    policy = auto_labeling.chunk_policy(project, chunk.version, model, list(selection.judged), record) \
        if selection.judged else None
    return rescoring_plan.plan(selection, work, ranks=ranks or [], served=served, judge=judge, policy=policy), None


def _model_pass(project, chunk: Chunk, work: Work) -> str:
    """One chunk of a pass that runs the model: "scored:<n>" (",predicted:<n>", ",auto:<n>") or "skipped:<why>"."""
    project_id = chunk.project_id
    read = (preannotations.tasks_in_range if work.predict else task_db.rescoring_tasks_in_range)(
        project_id, chunk.first, chunk.last)
    pooled, backfilled = random_keys.key_keyless(project_id, read, sequential=_strategy(project) == "sequential")
    updates, skipped = _plan(project, chunk, work, read, {t.task_id for t in pooled})
    if skipped:
        return skipped
    labelstudio_stream.clear_auto_labels(project, updates)  # before the withdrawals: a redelivery plans them again
    counts = {"scored": 0, "predicted": 0, "labelled": 0, "withdrawn": 0}
    predictions: dict[int, dict] = {}
    for start in range(0, len(updates), WRITE_SLICE):
        if start and superseded(project_db.find_project(project_id, consistent=False), chunk):
            return "skipped:superseded"
        for update in updates[start:start + WRITE_SLICE]:
            written = task_plans.write(project_id, update)
            for name in counts:
                counts[name] += getattr(written, name)
            if written.predicted:
                predictions[update.task_id] = update.prediction
    pushed = after_chunk(project, chunk, updates, predictions)
    if chunk.job:
        jobs.record_leaf(project_id, chunk.job, chunk.first, done=chunk.last - chunk.first + 1,
                         stored=counts["predicted"], pushed=pushed)
    _report(chunk, work, counts, backfilled)
    return f"scored:{counts['scored']}" + (f",predicted:{counts['predicted']}" if work.predict else "") + (
        f",auto:{counts['labelled']}" if counts["labelled"] or counts["withdrawn"] else "")


def _report(chunk: Chunk, work: Work, counts: dict, backfilled: int) -> None:
    """The log line and the metric line of one chunk."""
    log.info("project %s: v%s scored %s, predicted %s, auto-labelled %s, withdrew %s in [%s, %s] "
             "(%s random keys backfilled)", chunk.project_id, chunk.version, counts["scored"], counts["predicted"],
             counts["labelled"], counts["withdrawn"], chunk.first, chunk.last, backfilled)
    metrics.emit({"TasksRescored": counts["scored"], "TasksPreannotated": counts["predicted"],
                  "AutoLabelsApplied": counts["labelled"], "AutoLabelsWithdrawn": counts["withdrawn"]},
                 chunk.project_id, model_version=f"v{chunk.version}", mode=chunk.mode)


def after_chunk(project, chunk: Chunk, updates: list, predictions: dict[int, dict]) -> int:
    """What follows a written chunk (the hook point): `updates` are the planner's TaskUpdates (each
    scored one's `rank.cluster`), `predictions` the predictions stored, by task id (each carries
    `cluster` when its task has one). Today: push them to a linked Label Studio project; returns how
    many predictions Label Studio created. With `ml.labelstudio_stream`, the chunk's auto labels
    become annotations there too (planned again on a redelivery, written once)."""
    pushed = labelstudio_push.push(project, chunk.job, chunk.first, predictions)
    labelstudio_stream.write_auto_labels(project, chunk.version, updates)
    return pushed
