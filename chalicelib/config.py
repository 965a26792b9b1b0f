"""Runtime settings, all read from environment variables set per stage.

The same names are set by `.chalice/config.json` (deployed stages) and by
`chalicelib.local` (the embedded local stack), so this module is the one place that
knows them. Nothing here imports boto3.
"""
import os

# CloudFormation logical id in infra/resources.yaml -> environment variable that holds
# the physical name (or URL/ARN) handed to the functions.
RESOURCE_ENV = {
    "ProjectsTable": "ACTIVELABEL_PROJECTS_TABLE",
    "TasksTable": "ACTIVELABEL_TASKS_TABLE",
    "CompletionsTable": "ACTIVELABEL_COMPLETIONS_TABLE",
    "ModelVersionsTable": "ACTIVELABEL_MODEL_VERSIONS_TABLE",
    "LedgerTable": "ACTIVELABEL_LEDGER_TABLE",
    "TokensTable": "ACTIVELABEL_TOKENS_TABLE",
    "ModelBucket": "ACTIVELABEL_MODEL_BUCKET",
    "TrainQueue": "ACTIVELABEL_TRAIN_QUEUE_URL",
    "RescoreQueue": "ACTIVELABEL_RESCORE_QUEUE_URL",
    # read only for their depths (GET /api/health/detail)
    "TrainDeadLetterQueue": "ACTIVELABEL_TRAIN_DLQ_URL",
    "RescoreDeadLetterQueue": "ACTIVELABEL_RESCORE_DLQ_URL",
    "CompletionStreamFailureQueue": "ACTIVELABEL_STREAM_FAILURE_QUEUE_URL",
}
TRAIN_QUEUE_NAME_ENV = "ACTIVELABEL_TRAIN_QUEUE_NAME"
RESCORE_QUEUE_NAME_ENV = "ACTIVELABEL_RESCORE_QUEUE_NAME"
COMPLETIONS_STREAM_ENV = "ACTIVELABEL_COMPLETIONS_STREAM_ARN"
ADMIN_TOKEN_ENV = "ACTIVELABEL_ADMIN_TOKEN"


def stage() -> str:
    return os.environ.get("ACTIVELABEL_STAGE", "dev")


def _default_name(suffix: str) -> str:
    return f"activelabel-{stage()}-{suffix}"


def table_name(logical_id: str) -> str:
    suffix = {
        "ProjectsTable": "projects",
        "TasksTable": "tasks",
        "CompletionsTable": "completions",
        "ModelVersionsTable": "model-versions",
        "LedgerTable": "ledger",
        "TokensTable": "tokens",
    }[logical_id]
    return os.environ.get(RESOURCE_ENV[logical_id]) or _default_name(suffix)


def model_bucket() -> str:
    return os.environ.get(RESOURCE_ENV["ModelBucket"]) or _default_name("models")


def train_queue_url() -> str:
    return os.environ.get(RESOURCE_ENV["TrainQueue"], "")


def train_queue_name() -> str:
    """Queue name for `@app.on_sqs_message`, which needs it at import time."""
    return os.environ.get(TRAIN_QUEUE_NAME_ENV) or _default_name("train.fifo")


def rescore_queue_url() -> str:
    return os.environ.get(RESOURCE_ENV["RescoreQueue"], "")


def rescore_queue_name() -> str:
    """Queue name for `@app.on_sqs_message(name="rescore_worker")`, needed at import time."""
    return os.environ.get(RESCORE_QUEUE_NAME_ENV) or _default_name("rescore")


def watched_queue_urls() -> dict[str, str]:
    """The queues whose depths the health view shows: {name: URL} of those configured. Dead-letter
    queues (and the stream's on-failure queue) end in `_dead_letters`."""
    names = {"train": "TrainQueue", "train_dead_letters": "TrainDeadLetterQueue", "rescore": "RescoreQueue",
             "rescore_dead_letters": "RescoreDeadLetterQueue",
             "completion_stream_dead_letters": "CompletionStreamFailureQueue"}
    urls = {name: os.environ.get(RESOURCE_ENV[lid], "") for name, lid in names.items()}
    return {name: url for name, url in urls.items() if url}


def completions_stream_arn() -> str:
    """Stream ARN for `@app.on_dynamodb_record`, needed at import time.

    In CloudFormation the merge template overrides it with `!GetAtt CompletionsTable.StreamArn`;
    the placeholder only has to be a well-formed ARN.
    """
    return os.environ.get(COMPLETIONS_STREAM_ENV) or (
        "arn:aws:dynamodb:us-east-1:000000000000:table/"
        f"{_default_name('completions')}/stream/1970-01-01T00:00:00.000"
    )


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
