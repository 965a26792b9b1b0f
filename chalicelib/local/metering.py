"""Count the DynamoDB requests the store makes (botocore `before-call` event hooks).

Used by tests and benchmarks to show that a code path costs a bounded number of requests.
"""
import collections
import contextlib


def _store_clients() -> list:
    from chalicelib.store import dynamo, models

    clients = {id(m._get_connection().connection.client): m._get_connection().connection.client
               for m in models._LOGICAL_IDS}
    transactions = dynamo.connection().client
    clients[id(transactions)] = transactions
    return list(clients.values())


@contextlib.contextmanager
def atomic_requests():
    """Make each DynamoDB request of the store atomic with respect to the others, as DynamoDB is.

    moto's in-process backend is not thread-safe (a query can iterate an item another thread is
    updating); concurrency tests wrap their threads in this so requests interleave, whole, the way
    they do on DynamoDB, where each single-item operation is atomic.
    """
    import threading

    lock = threading.Lock()

    def acquire(**kwargs):
        lock.acquire()

    def release(**kwargs):
        lock.release()

    clients = _store_clients()
    for client in clients:
        client.meta.events.register("before-call.dynamodb", acquire, unique_id="activelabel-atomic-in")
        client.meta.events.register("after-call.dynamodb", release, unique_id="activelabel-atomic-out")
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.dynamodb", unique_id="activelabel-atomic-in")
            client.meta.events.unregister("after-call.dynamodb", unique_id="activelabel-atomic-out")


@contextlib.contextmanager
def count_dynamodb_requests():
    """Yields a Counter of operation name -> requests made by every PynamoDB model's client
    (and the store's transaction connection) inside the block."""
    counts: collections.Counter = collections.Counter()

    def hook(**kwargs):
        counts[kwargs["event_name"].rsplit(".", 1)[-1]] += 1

    clients = _store_clients()
    for client in clients:
        client.meta.events.register("before-call.dynamodb", hook, unique_id="activelabel-metering")
    try:
        yield counts
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.dynamodb", unique_id="activelabel-metering")
