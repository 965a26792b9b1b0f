"""Count the AWS requests the process makes: every botocore client (PynamoDB's models, the jobs
ledger's, the store's transactions, SQS, S3...), through one wrapper of
`botocore.client.BaseClient._make_api_call` installed while anyone listens.

- `count_dynamodb_requests()`: a Counter of DynamoDB operation -> requests inside a block (tests and
  benchmarks show that a code path costs a bounded number of requests);
- `AwsRequests`: the local stack's running tally by (service, operation, table) since it started,
  which `GET /local/aws-requests` answers (chalicelib/local/aws_route.py);
- `atomic_requests()`: each DynamoDB request atomic with respect to the others, as DynamoDB is.
"""
import collections
import contextlib
import threading

_lock = threading.Lock()
_listeners: list = []  # callables (service, operation, params) called before each request
_original = None
_metered = None


def _install() -> None:
    global _original, _metered
    import botocore.client  # boto3 is imported here only: the local stack and tests load this module

    if _original is not None:
        return
    _original = botocore.client.BaseClient._make_api_call

    def metered(client, operation_name, api_params):
        service = client.meta.service_model.service_name
        for listener in list(_listeners):
            listener(service, operation_name, api_params)
        return _original(client, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = _metered = metered


def _uninstall() -> None:
    """Put botocore back when nobody listens (unless another wrapper went on top since: then the
    wrapper stays installed, silent, so the other one's restore stays right)."""
    global _original, _metered
    import botocore.client

    if _original is not None and not _listeners and botocore.client.BaseClient._make_api_call is _metered:
        botocore.client.BaseClient._make_api_call = _original
        _original = _metered = None


@contextlib.contextmanager
def listening(listener):
    """Call `listener(service, operation, params)` before every AWS request inside the block."""
    with _lock:
        _listeners.append(listener)
        _install()
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)
            _uninstall()


def table_of(params: dict) -> str | None:
    """The DynamoDB table a request names (several joined by "+", e.g. a transaction), or None."""
    if "TableName" in params:
        return str(params["TableName"])
    names = set(params.get("RequestItems") or {})
    for item in params.get("TransactItems") or []:
        for action in item.values():
            if isinstance(action, dict) and action.get("TableName"):
                names.add(str(action["TableName"]))
    return "+".join(sorted(names)) or None


class AwsRequests:
    """The running tally of every AWS request since `start()`: (service, operation, table) -> count."""

    def __init__(self) -> None:
        self.counts: collections.Counter = collections.Counter()
        self._guard = threading.Lock()
        self._stack = contextlib.ExitStack()

    def _count(self, service: str, operation: str, params: dict) -> None:
        key = (service, operation, table_of(params) if service == "dynamodb" else None)
        with self._guard:
            self.counts[key] += 1

    def start(self) -> "AwsRequests":
        self._stack.enter_context(listening(self._count))
        return self

    def stop(self) -> None:
        self._stack.close()

    def as_json(self) -> dict:
        with self._guard:
            rows = sorted(self.counts.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))
        return {"requests": [{"service": s, "operation": o, "table": t, "count": n} for (s, o, t), n in rows]}


@contextlib.contextmanager
def atomic_requests():
    """Make each DynamoDB request of the process atomic with respect to the others, as DynamoDB is.

    moto's in-process backend is not thread-safe (a query can iterate an item another thread is
    updating); concurrency tests wrap their threads in this so requests interleave, whole, the way
    they do on DynamoDB, where each single-item operation is atomic.
    """
    import botocore.client

    lock = threading.RLock()
    original = botocore.client.BaseClient._make_api_call

    def atomic(client, operation_name, api_params):
        if client.meta.service_model.service_name != "dynamodb":
            return original(client, operation_name, api_params)
        with lock:
            return original(client, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = atomic
    try:
        yield
    finally:
        botocore.client.BaseClient._make_api_call = original


@contextlib.contextmanager
def count_dynamodb_requests():
    """Yields a Counter of DynamoDB operation name -> requests made by every client inside the block."""
    counts: collections.Counter = collections.Counter()

    def hook(service, operation, params):
        if service == "dynamodb":
            counts[operation] += 1

    with listening(hook):
        yield counts
