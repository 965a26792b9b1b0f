"""The event pump: what Lambda's event source mappings and EventBridge do, in-process.

`chalice local` serves HTTP only and moto never invokes functions without Docker nor fires
schedules, so the local stack polls the moto DynamoDB stream and SQS queues itself, builds
events shaped like the ones Lambda sends, and calls the real Chalice handlers directly
(`app.handler_map[name](event, context)`).

Semantics follow Lambda's where it matters for correctness:

- DynamoDB streams: batches of up to the handler's batch size (100 by default) per shard, in
  order, read from TRIM_HORIZON. A partial batch response (`batchItemFailures` with sequence
  numbers) redelivers from the lowest failed record on the next poll (ReportBatchItemFailures);
  a raising handler gets the whole batch again. After `max_attempts` deliveries the failed
  record (the whole batch when the handler raised) goes to `dead_letters`, like an on-failure
  destination, and the shard moves on: the pump never wedges.
- SQS: messages that succeeded are deleted; failed ones (`batchItemFailures` by messageId, or
  all when the handler raised) become visible again at once, and the queue's RedrivePolicy
  moves them to its DLQ after maxReceiveCount receives. Without a RedrivePolicy the pump drops
  a message into `dead_letters` after `max_attempts` receives.
- Schedules: `fire_schedules()` sends a CloudWatch "Scheduled Event" to every `@app.schedule`
  function; `run_forever(schedule_every=...)` does it periodically.
- Time to live: moto never expires items, so `sweep_ttl()` deletes the items of TTL-enabled
  tables whose TTL attribute is past (conditionally, as DynamoDB's TTL does, within minutes rather
  than DynamoDB's 48 hours); `run_forever` runs it every `ttl_every` seconds.

Each source has its module: pump_streams.py, pump_queues.py, pump_schedule.py (schedules and time
to live); `EventPump` mixes them in.
"""
from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from chalicelib import config
from chalicelib.local.pump_queues import QueueDelivery, _QueueSource
from chalicelib.local.pump_schedule import ScheduleDelivery
from chalicelib.local.pump_streams import StreamDelivery, _StreamSource

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "123456789012"


class LambdaContext:
    """The attributes of Lambda's context object that handlers use."""

    def __init__(self, function_name: str, *, memory_limit_in_mb: int = 1024,
                 timeout_s: float = 900.0, region: str = "us-east-1",
                 account_id: str = DEFAULT_ACCOUNT, clock: Callable[[], float] = time.time):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:{account_id}:function:{function_name}")
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = None
        self._clock = clock
        self._deadline = clock() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


@dataclass
class PumpError:
    """A handler failure the pump absorbed (also logged with its traceback)."""
    function: str
    error: BaseException
    event: dict



class EventPump(StreamDelivery, QueueDelivery, ScheduleDelivery):
    """Deliver DynamoDB stream, SQS and schedule events to a Chalice app's handlers.

    `env` is the mapping `create_resources` returned (the process env must hold it too, since
    the handlers read it); the pump finds its sources in `app.event_sources`. Thread-safe: one
    lock serialises deliveries, so `drain()` may be called while `run_forever` runs.
    """

    def __init__(self, app: Any, env: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time, *,
                 session: Any = None, region: str | None = None,
                 max_attempts: int = 3, record_deliveries: bool = False,
                 shard_refresh_s: float = 1.0, timeout_s: float = 900.0,
                 prune_moto_iterators: bool = True, state: Any = None,
                 stream_keep: int = 1000):
        self.app = app
        self.env = dict(env or {})
        self.clock = clock
        self.region = (region or self.env.get("AWS_REGION")
                       or self.env.get("AWS_DEFAULT_REGION") or config.region())
        self.max_attempts = max_attempts
        self.record_deliveries = record_deliveries
        self.shard_refresh_s = shard_refresh_s
        self.timeout_s = timeout_s
        self.prune_moto_iterators = prune_moto_iterators
        # chalicelib.local.state.StateStore: where the pump keeps its stream positions and its
        # schedule, so a restarted stack resumes after the last handled record.
        self.state = state
        self.stream_keep = stream_keep  # handled stream records kept in an in-process moto
        self.account_id = DEFAULT_ACCOUNT
        self._session = session
        self._clients: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._streams: list[_StreamSource] | None = None
        self._queues: list[_QueueSource] | None = None
        # Inspection
        self.dead_letters: list[dict] = []
        self.errors: collections.deque[PumpError] = collections.deque(maxlen=100)
        self.delivered_stream_batches: list[dict] = []  # exact events, when record_deliveries
        self.delivered_sqs_batches: list[dict] = []
        self.delivered: collections.Counter[str] = collections.Counter()  # function -> records
        self.total_delivered = 0
        self.held: set[str] = set()  # functions whose queues are not polled for now (`holding`)
        self._ttl_tables: list[tuple[str, str, list[str]]] | None = None  # name, attr, key names

    # ------------------------------------------------------------------ plumbing

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            if self._session is None:
                import boto3
                self._session = boto3.session.Session()
            self._clients[service] = self._session.client(service, region_name=self.region)
        return self._clients[service]

    def _context(self, function_name: str) -> LambdaContext:
        return LambdaContext(function_name, timeout_s=self.timeout_s, region=self.region,
                             account_id=self.account_id, clock=self.clock)

    def _setup(self) -> None:
        if self._streams is not None:
            return
        streams: list[_StreamSource] = []
        queues: list[_QueueSource] = []
        for source in getattr(self.app, "event_sources", []):
            kind = type(source).__name__
            if kind == "DynamoDBEventConfig":
                streams.append(self._stream_source(source))
            elif kind == "SQSEventConfig":
                queues.append(self._queue_source(source))
            elif kind not in ("ScheduledEventConfig",):
                log.warning("event pump: %s (%s) is not delivered locally", source.name, kind)
        self._streams, self._queues = streams, queues
        log.info("event pump: streams %s, queues %s, schedules %s",
                 [s.function_name for s in streams], [q.function_name for q in queues],
                 self.schedule_functions())

    def _invoke_absorbing(self, function_name: str, event: dict, locked: bool = True) -> tuple[bool, Any]:
        try:
            if not locked:  # a concurrent delivery (pump_queues): as Lambda, side by side
                return True, self.app.handler_map[function_name](event, self._context(function_name))
            return True, self.invoke(function_name, event)
        except Exception as e:  # a handler failure must never stop the pump
            log.exception("event pump: %s raised", function_name)
            self.errors.append(PumpError(function_name, e, event))
            return False, e

    def _count(self, function_name: str, n: int) -> None:
        self.delivered[function_name] += n
        self.total_delivered += n

    @staticmethod
    def _failed_ids(result: Any, ids: list[str]) -> list[str] | None:
        """Identifiers reported failed; None means the whole batch failed (bad response)."""
        if not isinstance(result, dict) or not result.get("batchItemFailures"):
            return []
        failed = []
        for item in result["batchItemFailures"]:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not ident or ident not in ids:
                log.warning("batchItemFailures names %r, not in the batch: whole batch failed",
                            ident)
                return None
            failed.append(ident)
        return failed

    # ------------------------------------------------------------------ public API

    def invoke(self, function_name: str, event: dict) -> Any:
        """Call one handler with `event` as Lambda would (exceptions propagate)."""
        handler = self.app.handler_map[function_name]
        with self._lock:
            return handler(event, self._context(function_name))

    def prepare(self) -> None:
        """Find the app's streams and queues (raises on a wiring error: unknown stream or queue)
        without delivering anything."""
        with self._lock:
            self._setup()

    def poll_once(self, concurrent: bool = False) -> int:
        """One pass over every stream shard and queue; returns records/messages delivered (with
        `concurrent`, queue batches handed to worker threads: pump_queues.py)."""
        with self._lock:
            self._setup()
            n = 0
            for stream in self._streams or []:
                n += self._poll_stream(stream)
            for queue in self._queues or []:
                if queue.function_name not in self.held:
                    n += self._poll_queue(queue, concurrent)
            return n

    @contextlib.contextmanager
    def holding(self, *function_names: str):
        """Leave the queues of `function_names` unpolled inside the block (messages wait, as when
        Lambda is throttled): lets a test make many requests before a worker runs."""
        with self._lock:
            self.held.update(function_names)
        try:
            yield
        finally:
            with self._lock:
                self.held.difference_update(function_names)

    def drain(self, timeout: float = 60.0) -> int:
        """Poll until two passes in a row deliver nothing; returns what was delivered.

        Raises RuntimeError naming the functions that kept receiving events when it does not
        settle within `timeout` seconds (a handler writing to its own streamed table loops in
        AWS too).
        """
        deadline = time.monotonic() + timeout
        start_total = self.total_delivered
        start_counts = collections.Counter(self.delivered)
        quiet = 0
        last_total = self.total_delivered
        while True:
            n = self.poll_once()
            total = self.total_delivered  # counts deliveries by other threads too
            quiet = quiet + 1 if (n == 0 and total == last_total and not self.queues_in_flight()) else 0
            last_total = total
            if quiet >= 2:
                return total - start_total
            if time.monotonic() > deadline:
                moving = collections.Counter(self.delivered)
                moving.subtract(start_counts)
                what = ", ".join(f"{fn} received {c} records" for fn, c in
                                 moving.most_common() if c > 0) or "nothing counted"
                raise RuntimeError(
                    f"event pump did not settle within {timeout:g}s: {what} "
                    "(does a handler write to the table or queue it consumes?)")
            if n == 0:
                time.sleep(0.01)

    def run_forever(self, stop: threading.Event, interval: float = 0.2,
                    schedule_every: float | None = None, ttl_every: float | None = 600.0
                    ) -> None:
        """Poll until `stop` is set; fire schedules every `schedule_every` seconds.

        Polls again at once while events keep coming, else waits `interval`. Exceptions are
        logged and never end the loop.
        """
        next_schedule = self.clock() + schedule_every if schedule_every else None
        if next_schedule is not None and self.state is not None:
            stored = self.state.get("schedule-next")  # when the previous process would fire
            if stored is not None:
                next_schedule = min(float(stored), next_schedule)
            self.state.put("schedule-next", repr(next_schedule))
        next_ttl = self.clock() + ttl_every if ttl_every else None
        while not stop.is_set():
            n = 0
            try:
                n = self.poll_once(concurrent=True)
            except Exception:
                log.exception("event pump: poll failed")
            if next_schedule is not None and self.clock() >= next_schedule:
                next_schedule = self.clock() + schedule_every  # type: ignore[operator]
                if self.state is not None:
                    self.state.put("schedule-next", repr(next_schedule))
                try:
                    self.fire_schedules()
                except Exception:
                    log.exception("event pump: firing schedules failed")
            if next_ttl is not None and self.clock() >= next_ttl:
                next_ttl = self.clock() + ttl_every  # type: ignore[operator]
                try:
                    self.sweep_ttl()
                except Exception:
                    log.exception("event pump: the time-to-live sweep failed")
            if n == 0:
                stop.wait(interval)
        self._stop_queue_workers()

    def _stop_queue_workers(self, wait_s: float = 8.0) -> None:
        """Cancel the queued batches and give the running ones up to `wait_s` to finish (less than
        the stack's 10 s wait for the pump), so a stopping stack does not pull AWS from under them."""
        pools = [queue.pool for queue in self._queues or [] if queue.pool is not None]
        for queue in self._queues or []:
            queue.pool = None
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + wait_s
        for pool in pools:
            for thread in list(getattr(pool, "_threads", ())):
                thread.join(max(0.0, deadline - time.monotonic()))

    def start(self, interval: float = 0.2, schedule_every: float | None = None
              ) -> tuple[threading.Thread, threading.Event]:
        """Run `run_forever` in a daemon thread; set the returned event to stop it."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run_forever, args=(stop, interval, schedule_every),
                                  name="activelabel-event-pump", daemon=True)
        thread.start()
        return thread, stop
