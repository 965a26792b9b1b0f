"""The completions table's stream: each INSERT / MODIFY / REMOVE re-judges its task
(services/task_state.py), which counts it once and requests a training when due."""
from chalicelib.events.batch import process_batch
from chalicelib.services import task_state


def handle_record(event_name: str, keys: dict) -> None:
    task_state.completion_changed(event_name, keys["project_id"]["S"], keys["completion_id"]["S"])


def handle_stream_batch(event) -> dict:
    """Chalice DynamoDBEvent -> partial batch response (stops at the first failing record)."""
    return process_batch(
        event,
        lambda record: handle_record(record.event_name, record.keys),
        identifier=lambda record: record.sequence_number,
        ordered=True,
    )
