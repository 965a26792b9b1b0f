"""The train queue's handler: each message is a training request (services/training.py) or a pull
of a linked Label Studio project's export (services/labelstudio_sync.py), which requests one, or
the settings of its labeling stream (services/labelstudio_stream.py).
Each training that runs leaves one metric line: started, its outcome and its seconds."""
import logging
import time

from chalicelib.events.batch import process_batch
from chalicelib.services import labelstudio_stream, labelstudio_sync, training
from chalicelib.store.queue import parse_train_message
from chalicelib.telemetry import context, edge, metrics

log = logging.getLogger("activelabel.events.training_job")
# training.run's outcomes -> the metric that counts them ("skipped" ran nothing: no line)
OUTCOME_METRICS = {"promoted": "TrainingsSucceeded", "kept": "TrainingsSucceeded", "held": "TrainingsSucceeded",
                   "forwarded": "TrainingsSucceeded", "rejected": "TrainingsRejected", "failed": "TrainingsFailed"}


def handle_message(body: str) -> str:
    kind, project_id, ref = parse_train_message(body)
    if kind == "pull_labelstudio":
        context.annotate(project_id=project_id, job_id=f"labelstudio_pull-{ref}")
        return labelstudio_sync.pull_and_train(project_id, ref)
    if kind == "labelstudio_stream":
        context.annotate(project_id=project_id, job_id=f"labelstudio_stream-{ref}")
        outcome = labelstudio_stream.reconcile(project_id, ref)
        if outcome == "stream:on" and ref.startswith("switch-"):  # turned on: every task of Label Studio's ours
            outcome += "; " + labelstudio_sync.pull_for_stream(project_id, ref)
        return outcome
    context.annotate(project_id=project_id, job_id=f"training-{ref}")
    return run_training(project_id, ref)


def run_training(project_id: str, seq: int) -> str:
    started = time.monotonic()
    try:
        outcome = training.run(project_id, seq)
    except Exception:
        _training_metrics("error", started)
        raise
    _training_metrics(outcome, started)
    log.info("training request %s of project %s: %s", seq, project_id, outcome, extra={"outcome": outcome})
    return outcome


def _training_metrics(outcome: str, started: float) -> None:
    counted = OUTCOME_METRICS.get(outcome, "TrainingsFailed" if outcome == "error" else None)
    if counted is None:
        return
    metrics.emit({"TrainingsStarted": 1, counted: 1, "TrainingSeconds": time.monotonic() - started},
                 outcome=outcome)


def handle_train_batch(event) -> dict:
    """Chalice SQSEvent -> partial batch response."""
    return process_batch(
        event,
        lambda record: handle_message(record.body),
        identifier=lambda record: record.to_dict()["messageId"],
        ordered=False,
        function="train_worker",
        correlation_of=lambda record: edge.from_message(record.body),
    )
