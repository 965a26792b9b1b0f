"""Label Studio both ways: activelabel as a Label Studio ML backend (`server.py`, routes under /ls/),
and any Label Studio ML backend as a project's custom model (`client.py`).

See docs/labelstudio.md and ../shared/reference/labelstudio-protocol.md for the protocol.
"""
