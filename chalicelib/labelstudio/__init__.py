"""Label Studio both ways: activelabel as a Label Studio ML backend (`server.py`, the edge behind
the /ls/ routes; `auth.py` its Basic auth), any Label Studio ML backend as a project's custom model
(`client.py`), and Label Studio's own REST API (`lsapi.py`). `protocol.py` parses the payloads,
`net.py` is the SSRF-guarded HTTP client, `crypto.py` seals stored tokens.

See docs/labelstudio.md for the protocol.
"""
