"""The local runtime, never deployed: embedded moto, the event pump and the dev server.

- `resources.create_resources()` creates infra/resources.yaml's tables, bucket and queues.
- `pump.EventPump` delivers DynamoDB stream, SQS and schedule events to the Chalice handlers.
- `server.start_stack()` / `python -m chalicelib.local serve` run it all on loopback.
"""
