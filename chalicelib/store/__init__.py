"""The only AWS-aware code (besides chalicelib/local, the embedded stack). Reads return plain
frozen records (domain/records.py) for projects, model versions and tokens; tasks and completions
are still returned as PynamoDB items, read by attribute only (nothing outside store/ writes them).

One module per aggregate: `projects`, `tasks` (queues, locks, scores), `completions`,
`task_import` (all-or-nothing imports), `training` (requests, model versions), `tokens`, `ledger`
(counters, idempotency markers), `labelstudio` (links to Label Studio ids); `dynamo` holds what
they share (the one helper for conditional writes); `models` the PynamoDB tables; `records` the
item -> record mapping; `artifacts` the S3 model store; `queue` the SQS queues; `media` image
fetching; `secrets` and `aws` the SSM parameters and boto3 clients.
"""
