"""The completions table's stream: each INSERT / MODIFY / REMOVE re-judges its task
(services/task_state.py), which counts it once and requests a training when due. A record's log
lines carry the correlation id stored on the completion item (the request that wrote it)."""
from chalicelib.events.batch import process_batch
from chalicelib.services import task_state
from chalicelib.telemetry import context, edge


def handle_record(event_name: str, keys: dict) -> None:
    project_id, completion_id = keys["project_id"]["S"], keys["completion_id"]["S"]
    context.annotate(project_id=project_id, task_id=completion_id.split(".", 1)[0])
    task_state.completion_changed(event_name, project_id, completion_id)


def correlation_of(record) -> str | None:
    image = getattr(record, "new_image", None) or getattr(record, "old_image", None) or {}
    return (image.get(edge.MESSAGE_KEY) or {}).get("S")


def handle_stream_batch(event) -> dict:
    """Chalice DynamoDBEvent -> partial batch response (stops at the first failing record)."""
    return process_batch(
        event,
        lambda record: handle_record(record.event_name, record.keys),
        identifier=lambda record: record.sequence_number,
        ordered=True,
        function="on_completion",
        correlation_of=correlation_of,
    )
