"""Command-line and Python client for the activelabel API (never deployed).

`python -m activelabel_client --help`; the demo (`make run`) drives the API through it.
"""
