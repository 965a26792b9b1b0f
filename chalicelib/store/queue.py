"""The train queue (SQS FIFO, one message group per project) and the rescore queue (SQS standard).
Every message also carries the sender's correlation id (`correlation_id`, telemetry/edge.py).

The train queue carries two kinds of message, in order per project: a training request
(`{"project_id", "seq"}`) and a pull of a linked Label Studio project's export before training
(`{"project_id", "pull_labelstudio": <request id>}`, from its START_TRAINING webhook).
"""
import json

from chalicelib import config
from chalicelib.store import training as training_db
from chalicelib.store.aws import client
from chalicelib.telemetry.edge import carried


def send_train_request(project_id: str, seq: int, dedup_suffix: str = "") -> None:
    client("sqs").send_message(
        QueueUrl=config.train_queue_url(),
        MessageBody=json.dumps({"project_id": project_id, "seq": seq, **carried()}),
        MessageGroupId=f"project-{project_id}",
        MessageDeduplicationId=f"{project_id}-{seq}{dedup_suffix}",
    )


def dispatch_train_request(project_id: str, seq: int, dedup_suffix: str = "") -> None:
    """Send request `seq` and record it as sent; a failed send is recorded in /training and raised.

    Re-sending is safe (same deduplication id within SQS's 5 minutes; after that the worker's
    claim skips a request that is done), so whoever finds a request unsent sends it again.
    """
    try:
        send_train_request(project_id, seq, dedup_suffix)
    except Exception as exc:
        training_db.record_training_error(
            project_id, f"could not queue training request {seq}: {type(exc).__name__}: {exc}")
        raise
    training_db.mark_request_sent(project_id, seq)


def send_labelstudio_pull(project_id: str, request_id: str) -> None:
    """Queue the pull of the linked Label Studio project's export (then a training), behind any
    training of the project already queued. `request_id` makes a resent request one message."""
    client("sqs").send_message(
        QueueUrl=config.train_queue_url(),
        MessageBody=json.dumps({"project_id": project_id, "pull_labelstudio": request_id, **carried()}),
        MessageGroupId=f"project-{project_id}",
        MessageDeduplicationId=f"{project_id}-pull-{request_id}",
    )


def send_labelstudio_stream(project_id: str, request_id: str) -> None:
    """Queue the settings of the linked Label Studio project's stream (services/labelstudio_stream.py),
    in order with the project's trainings. `request_id` names the event (a resent one is one message)."""
    client("sqs").send_message(
        QueueUrl=config.train_queue_url(),
        MessageBody=json.dumps({"project_id": project_id, "labelstudio_stream": request_id, **carried()}),
        MessageGroupId=f"project-{project_id}",
        MessageDeduplicationId=f"{project_id}-stream-{request_id}"[:128],
    )


def parse_train_message(body: str) -> tuple[str, str, int | str]:
    """("train", project id, seq), ("pull_labelstudio", project id, request id) or
    ("labelstudio_stream", project id, request id)."""
    message = json.loads(body)
    for kind in ("pull_labelstudio", "labelstudio_stream"):
        if kind in message:
            return kind, str(message["project_id"]), str(message[kind])
    return "train", str(message["project_id"]), int(message["seq"])


# ---------------------------------------------------------------- the rescore queue (SQS standard)

RESCORE_MODES = ("rescore", "preannotate", "rejudge", "backfill", "suspects")  # domain/rescoring_plan.py


def send_rescore_ranges(project_id: str, version: int, ranges: list[tuple[int, int]], chunk_size: int,
                        mode: str = "rescore", job: str | None = None, predict: bool = False) -> None:
    """One message per task-id range (at most 10: one SendMessageBatch). `job` names the job whose
    progress the leaves count (store/jobs.py); `predict`: the leaves also store predictions."""
    if not ranges:
        return
    entries = [
        {"Id": str(i), "MessageBody": json.dumps({
            "project_id": project_id, "version": version, "first": first, "last": last, "chunk": chunk_size,
            "mode": mode, **({"job": job} if job else {}), **({"predict": True} if predict else {}), **carried()})}
        for i, (first, last) in enumerate(ranges)
    ]
    answer = client("sqs").send_message_batch(QueueUrl=config.rescore_queue_url(), Entries=entries)
    if answer.get("Failed"):
        raise RuntimeError(f"rescore queue refused {len(answer['Failed'])} messages: {answer['Failed'][:2]}")


def send_suspects_request(project_id: str, version: int, job: str) -> None:
    """The suspects job of `version` (services/suspects.py): one message on the rescore queue."""
    client("sqs").send_message(QueueUrl=config.rescore_queue_url(), MessageBody=json.dumps({
        "project_id": project_id, "version": version, "first": 0, "last": 0, "chunk": 1, "mode": "suspects",
        "job": job, **carried()}))


def parse_rescore_request(body: str) -> dict:
    message = json.loads(body)
    mode = str(message.get("mode") or "rescore")  # a message without a mode is a rescore
    if mode not in RESCORE_MODES:
        raise ValueError(f"unknown rescore mode {mode!r}")
    return {"project_id": str(message["project_id"]), "version": int(message["version"]),
            "first": int(message["first"]), "last": int(message["last"]), "chunk": int(message["chunk"]),
            "mode": mode, "job": str(message["job"]) if message.get("job") else None,
            "predict": bool(message.get("predict"))}
