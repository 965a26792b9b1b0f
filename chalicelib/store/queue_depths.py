"""How many messages wait in each queue (SQS's approximate counts; GetQueueAttributes only)."""
from chalicelib.store.aws import client

ATTRIBUTES = {"ApproximateNumberOfMessages": "waiting", "ApproximateNumberOfMessagesNotVisible": "in_flight",
              "ApproximateNumberOfMessagesDelayed": "delayed"}


def depth(queue_url: str) -> dict:
    """{"waiting", "in_flight", "delayed"} of the queue, or {"error": ...} when SQS does not answer."""
    try:
        answer = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(ATTRIBUTES))
    except Exception as exc:  # noqa: BLE001 - the health view reports it instead of failing
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    values = answer.get("Attributes") or {}
    return {name: int(values.get(attribute, 0)) for attribute, name in ATTRIBUTES.items()}
