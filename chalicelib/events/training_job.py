"""The train queue's handler: each message is a training request (services/training.py) or a pull
of a linked Label Studio project's export (services/labelstudio_sync.py), which requests one, or
the settings of its labeling stream (services/labelstudio_stream.py)."""
from chalicelib.events.batch import process_batch
from chalicelib.services import labelstudio_stream, labelstudio_sync, training
from chalicelib.store.queue import parse_train_message


def handle_message(body: str) -> str:
    kind, project_id, ref = parse_train_message(body)
    if kind == "pull_labelstudio":
        return labelstudio_sync.pull_and_train(project_id, ref)
    if kind == "labelstudio_stream":
        return labelstudio_stream.reconcile(project_id, ref)
    return training.run(project_id, ref)


def handle_train_batch(event) -> dict:
    """Chalice SQSEvent -> partial batch response."""
    return process_batch(
        event,
        lambda record: handle_message(record.body),
        identifier=lambda record: record.to_dict()["messageId"],
        ordered=False,
    )
