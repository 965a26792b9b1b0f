"""The event pump's schedules and time to live (mixed into `EventPump`, chalicelib.local.pump).

`fire_schedules()` sends a CloudWatch "Scheduled Event" to every `@app.schedule` function;
`sweep_ttl()` deletes the expired items of TTL-enabled tables, which moto never expires.
"""
from __future__ import annotations

import datetime
import logging
import uuid

from chalicelib import config

log = logging.getLogger("chalicelib.local.pump")  # the pump's one logger


class ScheduleDelivery:
    """Schedules and the time-to-live sweep of `EventPump`."""

    def schedule_functions(self) -> list[str]:
        names = [s.name for s in getattr(self.app, "event_sources", [])
                 if type(s).__name__ == "ScheduledEventConfig"]
        if not names and "retrain_schedule" in getattr(self.app, "handler_map", {}):
            names = ["retrain_schedule"]
        return names

    def fire_schedules(self) -> int:
        """Send a Scheduled Event to every `@app.schedule` function; returns how many ran OK."""
        ok_count = 0
        with self._lock:
            for name in self.schedule_functions():
                now = datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc)
                app_name = getattr(self.app, "app_name", "app")
                event = {
                    "version": "0",
                    "id": str(uuid.uuid4()),
                    "detail-type": "Scheduled Event",
                    "source": "aws.events",
                    "account": self.account_id,
                    "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": self.region,
                    "resources": [f"arn:aws:events:{self.region}:{self.account_id}:rule/"
                                  f"{app_name}-{config.stage()}-{name}-event"],
                    "detail": {},
                }
                ok, _ = self._invoke_absorbing(name, event)
                ok_count += ok
        return ok_count

    def sweep_ttl(self, now: float | None = None) -> int:
        """Delete the expired items of every TTL-enabled table; returns how many went."""
        ddb = self._client("dynamodb")
        if self._ttl_tables is None:
            tables = []
            for page in ddb.get_paginator("list_tables").paginate():
                for name in page["TableNames"]:
                    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
                    if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
                        keys = [k["AttributeName"] for k in
                                ddb.describe_table(TableName=name)["Table"]["KeySchema"]]
                        tables.append((name, ttl["AttributeName"], keys))
            self._ttl_tables = tables
        now_s = {"N": str(int(self.clock() if now is None else now))}
        deleted = 0
        for name, attr, keys in self._ttl_tables:
            names = {"#ttl": attr, **{f"#k{i}": k for i, k in enumerate(keys)}}
            scan = {"TableName": name, "FilterExpression": "#ttl < :now",
                    "ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(keys))),
                    "ExpressionAttributeNames": names, "ExpressionAttributeValues": {":now": now_s}}
            for page in ddb.get_paginator("scan").paginate(**scan):
                for key in page.get("Items", []):
                    try:
                        ddb.delete_item(TableName=name, Key=key,
                                        ConditionExpression="#ttl < :now",
                                        ExpressionAttributeNames={"#ttl": attr},
                                        ExpressionAttributeValues={":now": now_s})
                        deleted += 1
                    except ddb.exceptions.ConditionalCheckFailedException:
                        pass  # refreshed meanwhile
        if deleted:
            log.info("event pump: %d expired items deleted (time to live)", deleted)
        return deleted
