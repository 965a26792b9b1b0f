"""Operability: structured JSON logs with a correlation id (logs.py, context.py) and metrics in
CloudWatch's embedded metric format (metrics.py), both plain lines on the function's output.

The correlation id of a completion is minted (or taken from `X-Correlation-Id`) at the HTTP edge,
stored on the completion item (its stream record carries it), and copied into every queue message a
handler sends while it is bound, so the training and the rescoring a completion causes log it too.
docs/operations.md shows the queries that follow it.
"""
