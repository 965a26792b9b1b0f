"""The completions table's stream: each INSERT / MODIFY / REMOVE re-judges its task
(services/task_state.py), which counts it once; each project of the batch is read once, and its
training requested when due once the batch's records are applied. A record's log lines carry the
correlation id stored on the completion item (the request that wrote it)."""
import logging

from chalicelib.events.batch import process_batch
from chalicelib.services import task_state
from chalicelib.telemetry import context, edge

log = logging.getLogger("activelabel.events")


def handle_record(event_name: str, keys: dict, batch: task_state.StreamBatch | None = None,
                  image: dict | None = None) -> None:
    project_id, completion_id = keys["project_id"]["S"], keys["completion_id"]["S"]
    context.annotate(project_id=project_id, task_id=completion_id.split(".", 1)[0])
    if batch is None:
        task_state.completion_changed(event_name, project_id, completion_id)
    else:
        batch.completion_changed(event_name, project_id, completion_id, image)


def correlation_of(record) -> str | None:
    image = getattr(record, "new_image", None) or getattr(record, "old_image", None) or {}
    return (image.get(edge.MESSAGE_KEY) or {}).get("S")


def handle_stream_batch(event) -> dict:
    """Chalice DynamoDBEvent -> partial batch response (stops at the first failing record). When the
    trainings due cannot be requested after the records, the last record applied is reported
    failed: the stream retries it (idempotent) and the request with it."""
    batch = task_state.StreamBatch()
    applied = []

    def handle(record):
        handle_record(record.event_name, record.keys, batch, getattr(record, "new_image", None))
        applied.append(record.sequence_number)

    answer = process_batch(event, handle, identifier=lambda record: record.sequence_number, ordered=True,
                           function="on_completion", correlation_of=correlation_of)
    try:
        with edge.invocation(getattr(event, "context", None), "on_completion"):
            batch.finish()
    except Exception:  # noqa: BLE001 - reported to the stream, which retries
        log.exception("requesting the trainings due after the batch failed")
        if applied and not answer["batchItemFailures"]:
            answer["batchItemFailures"].append({"itemIdentifier": applied[-1]})
    return answer
