"""Suspect labels (`ml.suspects`: null by default, off): human labels a model confidently contradicts,
sent back to people.

1. After a version is promoted, the rescoring fan-out's start (services/rescoring.start) queues one
   suspects job of that version on the rescore queue (job `suspects-v<version>` in the jobs ledger),
   so it never runs inside a training and never delays one.
2. The job (`run`): out-of-fold probabilities over the project's accepted, human-labelled tasks
   (ml/out_of_fold.py: stratified 5-fold, the version's own model kind, seed = the version; auto
   labels are not accepted tasks, so they never take part), stored as JSON in the model bucket
   (`models/<project>/v<version>/suspects-oof.json`, store/suspects.oof_key), then confident
   learning (domain/suspects.py) flags the tasks whose label the model confidently contradicts.
   Each is marked (`suspect` on the task) and put in the `rework` queue (domain/assignment.queues_of
   with `suspect`), so `GET /next` serves it to an annotator who has not labelled it, before new
   tasks. Marks of an older run that this run no longer flags are cleared; with `ml.suspects`
   turned off, the next promotion's job clears every mark.
3. A new completion re-judges the task (services/task_state.py): its mark is removed, it leaves the
   list, and the usual rules (agreement, overlap) decide what follows.

Idempotent under redelivery: the folds are deterministic for a version, a mark is written only on
the label state the run read and never over a newer version's, a finished job is not re-run, and a
job of a version that is no longer active does nothing ("superseded").
Single-label classification kinds only (Choices with one answer): confident learning needs one
class probability per label. NER (spans) and regression (numbers) get no suspects (docs/api.md).
"""
import logging

from chalicelib.domain import assignment
from chalicelib.domain.suspects import find_suspects
from chalicelib.errors import TrainingDataError, ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.ml import out_of_fold, registry
from chalicelib.services import labelstudio_stream
from chalicelib.store import jobs, queue
from chalicelib.store import projects as project_db
from chalicelib.store import suspects as suspects_db
from chalicelib.store import tasks as task_db
from chalicelib.store import training as training_db

log = logging.getLogger("activelabel.services.suspects")

FOLDS = 5


def job_id(version: int) -> str:
    return f"suspects-v{version}"


def _model_of(project, kind_name: str | None):
    """(kind, target, an unfitted model) of `kind_name` for the project, or None when it has none."""
    kind = registry.get_kind(kind_name or "")
    if kind is None:
        return None
    try:
        target = kind.target(parse_label_config(project.label_config), project.settings.get("target"))
    except ValidationError:
        return None
    return kind, target, kind.implementation()(target)


def single_label(model) -> bool:
    """Confident learning reads one class probability per label: single-label Choices kinds."""
    return getattr(model, "problem", None) == "classification" and model.control.type == "Choices"


def start(project, version: int) -> str | None:
    """Queue the suspects job of freshly promoted `version` when the project asks for it and its
    model kind is a single-label classifier, or when it was turned off (the job then clears the
    marks); returns the job id (None: nothing queued)."""
    if project.settings.get("suspects") is None:
        return None  # never asked for: nothing to flag or clear
    if project.settings.get("suspects"):
        found = _model_of(project, project.settings.get("model"))
        if found is None or not single_label(found[2]):
            return None
    # turned off after it was on: the job clears the marks standing
    job = job_id(version)
    jobs.start(project.project_id, job, "suspects", 1, f"v{version}")
    queue.send_suspects_request(project.project_id, version, job)
    return job


def run(project_id: str, version: int, job: str) -> str:
    """The suspects job: "suspects:<n>", "failed" (a data problem, in the job) or "skipped:<why>"."""
    project = project_db.find_project(project_id, consistent=False)
    if project is None:
        return "skipped:project deleted"
    record = jobs.find(project_id, job)
    if record is not None and record.state != "running":
        return f"skipped:{record.state}"
    if project.active_version != version:
        jobs.supersede(project_id, job, f"v{version} is no longer the active version")
        return "skipped:superseded"
    overlap = project.settings["overlap"]

    def clear_all_but(keep: dict) -> int:
        """Clear the other marks; Label Studio's stream serves `keep` again and no longer the others."""
        others = [task for task in suspects_db.flagged(project_id) if task.task_id not in keep]
        labelstudio_stream.relabels(project, keep, [task.task_id for task in others])
        return sum(suspects_db.clear(task, version, _queues(task, bool(task.accepted), overlap)) for task in others)

    if not project.settings.get("suspects"):
        jobs.finish(project_id, job, done=1, detail={"suspects": 0, "cleared": clear_all_but({}),
                                                     "reason": "ml.suspects is off"})
        return "cleared"
    version_record = training_db.get_model_version(project_id, version)
    found = _model_of(project, getattr(version_record, "model", None))
    if found is None:
        jobs.finish(project_id, job, error=f"v{version}'s model kind is unknown or cannot learn this label config")
        return "failed"
    kind, target, _ = found
    accepted = list(task_db.accepted_tasks(project_id))
    try:
        oof = out_of_fold.out_of_fold(kind, target, [(t.data, t.consensus) for t in accepted], FOLDS, seed=version)
    except TrainingDataError as exc:
        jobs.finish(project_id, job, error=str(exc))
        return "failed"
    tasks = [accepted[i] for i in oof.rows]
    stored = suspects_db.put_out_of_fold(project_id, version, {
        "project_id": project_id, "model_version": f"v{version}", "model": kind.name, "control": target.control.name,
        "folds": oof.folds, "seed": oof.seed, "classes": oof.classes, "task_ids": [t.task_id for t in tasks],
        "labels": oof.labels, "probabilities": oof.probabilities})
    by_class = [dict(zip(oof.classes, row)) for row in oof.probabilities]
    flagged, marked = {}, 0  # task id: its human annotators
    for suspect in find_suspects(by_class, oof.labels):
        task = tasks[suspect.index]
        body = {"model_label": suspect.suggested, "score": by_class[suspect.index][suspect.suggested],
                "human_label": suspect.given, "self_confidence": round(suspect.self_confidence, 6),
                "control": target.control.name, "model_version": f"v{version}",
                "annotators": sorted(task.annotators)}  # whose label it is: their re-posts review nothing
        marked += suspects_db.mark(task, body, version, _queues(task, True, overlap, suspect=True))
        flagged[task.task_id] = int(task.n_completions or 1)
    cleared = clear_all_but(flagged)
    jobs.finish(project_id, job, done=1, detail={
        "examples": len(oof.labels), "folds": oof.folds, "suspects": len(flagged), "marked": marked,
        "cleared": cleared, "out_of_fold": stored})
    log.info("project %s: suspects of v%s: %s of %s accepted tasks flagged (%s marked, %s older marks cleared)",
             project_id, version, len(flagged), len(oof.labels), marked, cleared)
    return f"suspects:{len(flagged)}"


def _queues(task, accepted: bool, overlap: int, suspect: bool = False) -> frozenset:
    """The task's queues from its stored label state, with or without a suspect mark."""
    agreement = None if task.agreement is None else float(task.agreement)
    return assignment.queues_of(task.n_completions, accepted, agreement, overlap, task.random_key is not None,
                                task.score_version is not None, suspect=suspect)


def list_page(project_id: str, limit: int, cursor: str | None):
    """`GET /suspects`: (the flagged tasks, least likely label first; the next cursor)."""
    project_db.get_project(project_id)
    return suspects_db.list_page(project_id, limit, cursor)


def count(project_id: str) -> int:
    return suspects_db.count(project_id)
