"""The train queue (SQS FIFO, one message group per project)."""
import json

from chalicelib import config
from chalicelib.store.aws import client


def send_train_request(project_id: str, seq: int, dedup_suffix: str = "") -> None:
    client("sqs").send_message(
        QueueUrl=config.train_queue_url(),
        MessageBody=json.dumps({"project_id": project_id, "seq": seq}),
        MessageGroupId=f"project-{project_id}",
        MessageDeduplicationId=f"{project_id}-{seq}{dedup_suffix}",
    )


def parse_train_request(body: str) -> tuple[str, int]:
    message = json.loads(body)
    return str(message["project_id"]), int(message["seq"])
