"""Use cases: one module per flow, called by every edge (HTTP routes in api/, stream and queue
handlers in events/, the Label Studio ML-backend protocol in labelstudio/server.py).

An edge parses its input, calls one function here and shapes the answer; the flow itself (what is
read, decided and written, in which order) lives in exactly one module of this package. See
docs/architecture.md for which module owns which use case.
"""
