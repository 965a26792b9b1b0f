"""Command-line and Python client for the activelabel API (never deployed).

- `client.ActivelabelClient`: the API over HTTP (`ApiError` on failures);
- `python -m activelabel_client --help`: the CLI (`cli.py`);
- `python -m activelabel_client demo`: the guided demo (`demo.py`), which `make run` runs;
- `datasets`: the SMS spam demo data and its label config.
"""
from activelabel_client.client import ActivelabelClient, ApiError

__all__ = ["ActivelabelClient", "ApiError"]
