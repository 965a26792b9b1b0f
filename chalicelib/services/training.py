"""Run a training: one training request -> fit -> evaluate -> S3 (versioned) -> promote -> rescore.

Claiming the request is a conditional write, so a redelivered or superseded message does nothing.
A data problem (e.g. a single class) finishes the request as failed and is not retried; any other
error is recorded in /training and re-raised so SQS redelivers the message (then its DLQ). The
previous model keeps serving throughout: the pointer moves only after the new artifact and its
model-version record exist, and only forward. A custom backend trains itself: the accepted tasks
are forwarded to it.
"""
import logging
from dataclasses import dataclass

from chalicelib.domain import validation_set
from chalicelib.domain.settings import auto_label_settings
from chalicelib.errors import TrainingDataError, ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labelstudio import client, net
from chalicelib.ml import numpy_form, registry, training
from chalicelib.services import auto_labeling, labelstudio_stream, pool_features, promotion, rescoring
from chalicelib.store import artifacts, dynamo, jobs, model_registry
from chalicelib.store import completions as completion_db
from chalicelib.store import projects as project_db
from chalicelib.store import tasks as task_db
from chalicelib.store import training as training_db
from chalicelib.store import validation_predictions
from chalicelib.domain.records import ModelPointer, ModelVersion
from chalicelib.telemetry import context

log = logging.getLogger("activelabel.services.training")


def run(project_id: str, seq: int) -> str:
    """Returns what happened: "skipped", "promoted", "rejected" (worse than the active version),
    "held" (the project is pinned), "kept" (a newer model was active), "forwarded" (a custom backend
    trains) or "failed"."""
    project = training_db.claim_training(project_id, seq)
    if project is None:
        log.info("project %s: training request %s is stale or done; skipping", project_id, seq)
        resume_rescoring(project_id, seq)
        return "skipped"
    if project.settings.get("model") == "custom":
        return forward(project, seq)
    version = project.version_seq
    if training_db.get_model_version(project_id, version) is not None:  # recorded by an attempt that died after
        version = training_db.next_version(project_id, seq)
    context.annotate(model_version=f"v{version}")
    job_id = f"training-{seq}"
    jobs.start(project_id, job_id, "training", 1, f"v{version}")
    try:
        item = train_version(project, version, seq)
        # the pointer and the request's end in one write; if queuing the rescoring fails after it, the
        # redelivered request finds it finished and queues the rescoring (resume_rescoring)
        promoted = finished = item.status == "promoted" and training_db.promote(project_id, item, finish_seq=seq)
        if item.status == "promoted" and not promoted:
            promoted = training_db.promote(project_id, item)
            if not promoted:
                model_registry.set_status(project_id, version, "superseded")
        if promoted:
            rescoring.start(project_id, version, project.task_seq, predict=bool(project.settings["preannotate"]),
                            project=project)
            labelstudio_stream.follow(project, f"promote-v{version}")  # Label Studio's model_version
        if not finished:
            training_db.finish_training(project_id, seq, None)
    except TrainingDataError as exc:
        training_db.finish_training(project_id, seq, str(exc))
        jobs.finish(project_id, job_id, error=str(exc))
        return "failed"
    except Exception as exc:
        training_db.record_training_error(project_id, f"{type(exc).__name__}: {exc}")
        raise
    outcome = item.status if item.status != "promoted" else "promoted" if promoted else "kept"
    jobs.finish(project_id, job_id, done=1, detail={"model_version": item.model_version, "outcome": outcome,
                                                    "reason": (item.decision or {}).get("reason")})
    return outcome


def resume_rescoring(project_id: str, seq: int) -> None:
    """A redelivered request whose training promoted its version and finished, but stopped before the
    rescoring was queued: queue it now (rescoring.start is idempotent). Read only on this skip path."""
    project = project_db.find_project(project_id)
    if project is None or project.active_version is None or project.counters.trained_seq != seq:
        return
    record = training_db.get_model_version(project_id, project.active_version)
    if record is None or record.train_seq != seq or any(
            jobs.find(project_id, f"{kind}-v{record.version}") for kind in rescoring.PASS_KINDS):
        return
    rescoring.start(project_id, record.version, project.task_seq, predict=bool(project.settings["preannotate"]),
                    project=project)
    labelstudio_stream.follow(project, f"promote-v{record.version}")
    if project.last_error:
        training_db.clear_training_error(project_id, seq)


def forward(project, seq: int) -> str:
    """Send a custom backend the accepted tasks (labelstudio/client.py). A backend that is down is
    retried through SQS; one that refuses finishes the request as failed."""
    project_id = project.project_id
    accepted = [(task, completion_db.completions_of_task(project_id, task.task_id))
                for task in task_db.accepted_tasks(project_id)]
    try:
        answer = client.backend_for(project).train(client.labelstudio_tasks(project, accepted))
    except net.UpstreamError as exc:
        if exc.kind in ("connect", "timeout"):
            training_db.record_training_error(project_id, f"custom backend: {exc.message}")
            raise
        training_db.finish_training(project_id, seq, f"custom backend: {exc.message}")
        return "failed"
    log.info("project %s: training %s forwarded to the custom backend via %s", project_id, seq, answer["via"])
    training_db.finish_training(project_id, seq, None)
    return "forwarded"


def train_version(project, version: int, seq: int) -> ModelVersion:
    """Fit model `version`: a judge on the accepted tasks outside the validation set, judged
    against the active version (services/promotion.py) and calibrated for auto-labelling on it,
    and the model to serve on every accepted task; store the artifacts and the model-version record
    (with the decision: promote, reject or hold). The calibration names the judge's artifact: auto
    labels come from the model the calibration's guarantee is about (services/auto_labeling.py)."""
    config = parse_label_config(project.label_config)
    ml = project.settings
    kind = registry.get_kind(ml.get("model") or "")
    if kind is None:
        raise TrainingDataError(f"model {ml.get('model')!r} is not a built-in model")
    try:
        target = kind.target(config, ml.get("target"))
    except ValidationError as exc:
        raise TrainingDataError(f"model {kind.name!r} cannot learn this label config: {exc.message}") from None
    label_changes = project.counters.label_changes  # read before the data: the model covers at least this
    accepted = list(task_db.accepted_tasks(project.project_id))
    # auto labels train only when asked (ml.auto_label.train_on_auto): no self-reinforcement by default
    extra = auto_labeling.training_examples(project.project_id) if auto_label_settings(ml)["train_on_auto"] else []
    # the active version's record, read once: its pool representation and its side of the comparison
    champion = training_db.get_model_version(project.project_id, project.active_version) \
        if project.active_version is not None else None
    pool, representation = pool_features.for_training(project, kind.implementation()(target, seed=version),
                                                      version, champion)
    built = build_version(project, kind, target, accepted, extra, version, pool, champion)
    outcome, decision, validation, held_out = built.outcome, built.decision, built.validation, built.held_out
    calibration, body, compact = built.calibration, built.body, built.compact
    sklearn_version = training.sklearn_version()
    metadata = {"project-id": project.project_id, "model-version": f"v{version}", "sklearn-version": sklearn_version}
    stored = artifacts.put_artifact(artifacts.artifact_key(project.project_id, version), body, metadata)
    served = stored if compact is None else artifacts.put_artifact(
        artifacts.artifact_key(project.project_id, version, "model.npz"), compact, metadata)
    if built.judge_compact is not None and calibration is not None:  # auto labels come from the judge
        judge = artifacts.put_artifact(artifacts.artifact_key(project.project_id, version, "judge.npz"),
                                       built.judge_compact, metadata)
        calibration = {**calibration, "model": {"key": judge.key, "version_id": judge.version_id,
                                                "sha256": judge.sha256}}
    kept = None  # before the record, which names it: judged as a champion once it is active
    if built.validation_predictions is not None:
        kept = validation_predictions.put(project.project_id, version, built.validation_predictions)

    def pointer_to(artifact) -> ModelPointer:
        return ModelPointer(bucket=artifact.bucket, key=artifact.key, version_id=artifact.version_id,
                            sha256=artifact.sha256, sklearn_version=sklearn_version, model_version=f"v{version}")

    item = ModelVersion(project_id=project.project_id, version=version, model_version=f"v{version}",
                        model=kind.name, created_at=dynamo.now(), n_train=outcome.n_train, metrics=outcome.metrics,
                        pointer=pointer_to(served), label_changes=label_changes, train_seq=seq,
                        joblib=None if served is stored else pointer_to(stored),
                        status=decision.status, decision=decision.as_dict(),
                        validation={"held_out": held_out, "n": len(validation),
                                    "share": validation_set.VALIDATION_SHARE,
                                    "served_fit": "all" if outcome.judge is not outcome.model else "training share",
                                    **({"predictions": kept} if kept else {})},
                        calibration=calibration, representation=_representation(representation, outcome))
    training_db.record_model_version(item)
    log.info("project %s: model v%s trained on %s tasks (%s held out): %s; %s", project.project_id, version,
             outcome.n_train, len(validation), outcome.metrics, decision.status)
    return item


def _representation(recorded: dict | None, outcome) -> dict | None:
    """The version's record of its pool representation, with the feature mode its model uses."""
    if recorded is None:
        return None
    return {**recorded, "mode": getattr(outcome.model, "feature_mode", "present")}


@dataclass
class BuiltVersion:
    outcome: training.TrainingOutcome
    fit_on: list
    validation: list
    held_out: bool
    decision: object  # domain/promotion.py Decision
    calibration: dict | None
    body: bytes  # the pickled model (ml/training.serialize; joblib reads it too)
    compact: bytes | None  # the numpy form, None when the kind has none
    validation_predictions: dict | None = None  # promotion.prediction_document: the next judge reads it
    judge_compact: bytes | None = None  # the judge's numpy form when it is not the served model (auto labels)


def build_version(project, kind, target, accepted: list, extra: list, version: int, pool=None,
                  champion=None) -> BuiltVersion:
    """The compute of a training, between reading the accepted tasks and storing: split off the
    validation set, fit (metrics on the validation set), judge against the active version,
    calibrate auto-labelling, serialize (joblib and the numpy form). bench/train.py times this.
    BLAS runs on one thread throughout (ml/training.py one_blas_thread)."""
    with training.one_blas_thread():
        return _build_version(project, kind, target, accepted, extra, version, pool, champion)


def _build_version(project, kind, target, accepted: list, extra: list, version: int, pool,
                   champion) -> BuiltVersion:
    fit_on, validation, held_out = validation_set.split(project.project_id, accepted, lambda t: t.task_id)
    try:
        outcome = training.train_choosing_features(kind, target, [(t.data, t.consensus) for t in fit_on] + extra,
                                                   version, [(t.data, t.consensus) for t in validation], pool)
    except TrainingDataError:
        if not held_out:
            raise
        # what is left after the hold-out cannot train (e.g. one class): train on everything, ungated
        fit_on, validation, held_out = accepted, [], False
        outcome = training.train_choosing_features(kind, target, [(t.data, t.consensus) for t in fit_on] + extra,
                                                   version, None, pool)
    # The evidence comes from the judge, fit without the validation set; the served model is the
    # same learner fit on every label (ml/training.py TrainingOutcome). The validation tasks were
    # encoded and scored once, in training: judging and calibrating reuse it.
    judge = outcome.judge
    decision = promotion.judge(project, judge, validation, held_out, outcome.held_out, champion)
    calibration = auto_labeling.calibrate_version(project, judge, validation, held_out, outcome.held_out)
    body = training.serialize(outcome.model)
    compact = numpy_form.export(outcome.model)  # None when the kind has no numpy form: joblib serves
    kept = promotion.prediction_document(judge, validation, outcome.held_out) if held_out else None
    judge_compact = numpy_form.export(judge) if calibration is not None and judge is not outcome.model else None
    return BuiltVersion(outcome=outcome, fit_on=fit_on, validation=validation, held_out=held_out, decision=decision,
                        calibration=calibration, body=body, compact=compact, validation_predictions=kept,
                        judge_compact=judge_compact)


def model_versions(project_id: str) -> tuple[object, list]:
    """(the project, its model-version records newest first)."""
    project = project_db.get_project(project_id)
    return project, training_db.list_model_versions(project_id)
