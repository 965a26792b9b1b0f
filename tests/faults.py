"""Fault injection into the AWS calls of the code under test.

`FaultInjector` wraps botocore's `BaseClient._make_api_call`, the one method every client calls for
every operation (boto3's S3 and SQS clients, PynamoDB's DynamoDB connection, the pump's stream
client). Unlike an event hook registered on one client, it reaches clients created later or
cached elsewhere (PynamoDB keeps its own). It sits above botocore's retry layer, so an injected
error is what the application sees once retries are exhausted.

    with FaultInjector() as faults:
        throttle = faults.inject("dynamodb", "TransactWriteItems",
                                 code="ProvisionedThroughputExceededException", times=2)
        ...
        assert throttle.fired == 2

A fault can raise before the call (the write never happens), raise after it (`after=True`: the
write happened but the answer was lost), or run an `action` before the call (a racing writer;
faults are off on that thread while the action runs). `when(params)` narrows it to some calls,
`skip` lets the first matching calls through.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from botocore.client import BaseClient
from botocore.exceptions import ClientError


@dataclass
class Fault:
    service: str
    operation: str
    code: str | None = "InternalError"  # None: no error (only the action runs)
    times: int = 1
    skip: int = 0
    after: bool = False
    when: Callable[[dict], bool] | None = None
    action: Callable[[dict], None] | None = None
    message: str = "injected fault"
    status: int = 400
    cancellation_reasons: list[dict] | None = None
    seen: int = 0  # matching calls
    fired: int = 0  # faults delivered

    def matches(self, service: str, operation: str, params: dict) -> bool:
        return (service == self.service and operation == self.operation
                and (self.when is None or self.when(params)))

    def error(self) -> ClientError:
        response: dict[str, Any] = {
            "Error": {"Code": self.code, "Message": self.message},
            "ResponseMetadata": {"HTTPStatusCode": self.status, "HTTPHeaders": {}},
        }
        if self.cancellation_reasons is not None:
            response["CancellationReasons"] = self.cancellation_reasons
        return ClientError(response, self.operation)


class FaultInjector:
    def __init__(self):
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._original = None

    def inject(self, service: str, operation: str, **options) -> Fault:
        fault = Fault(service, operation, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def _due(self, service: str, operation: str, params: dict) -> Fault | None:
        with self._lock:
            self.calls.append((service, operation))
            for fault in self.faults:
                if fault.fired < fault.times and fault.matches(service, operation, params):
                    fault.seen += 1
                    if fault.seen > fault.skip:
                        fault.fired += 1
                        return fault
        return None

    def __enter__(self) -> FaultInjector:
        original = BaseClient._make_api_call
        injector = self

        def make_api_call(client, operation_name, api_params):
            if getattr(injector._local, "busy", False):
                return original(client, operation_name, api_params)
            service = client.meta.service_model.service_name
            fault = injector._due(service, operation_name, api_params)
            if fault is None:
                return original(client, operation_name, api_params)
            if fault.action is not None:
                injector._local.busy = True
                try:
                    fault.action(api_params)
                finally:
                    injector._local.busy = False
            if fault.code is None:
                return original(client, operation_name, api_params)
            if fault.after:
                original(client, operation_name, api_params)
            raise fault.error()

        self._original = original
        BaseClient._make_api_call = make_api_call
        return self

    def __exit__(self, *exc) -> None:
        BaseClient._make_api_call = self._original


# ---- predicates on request parameters

def transact_touches(table_fragment: str) -> Callable[[dict], bool]:
    """TransactWriteItems that writes to a table whose name contains `table_fragment`."""
    def check(params: dict) -> bool:
        return any(table_fragment in next(iter(item.values()))["TableName"] for item in params["TransactItems"])

    return check


def update_sets(attribute: str) -> Callable[[dict], bool]:
    """UpdateItem whose update expression sets `attribute` (PynamoDB uses #n placeholders)."""
    def check(params: dict) -> bool:
        return attribute in (params.get("ExpressionAttributeNames") or {}).values()

    return check


def batch_writes(table_fragment: str) -> Callable[[dict], bool]:
    def check(params: dict) -> bool:
        return any(table_fragment in name for name in params["RequestItems"])

    return check
