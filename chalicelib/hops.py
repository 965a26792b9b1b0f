"""How many activelabel deployments a request has passed through, so no chain of custom backends
can loop (a project whose custom backend is activelabel's own /ls/, or A -> B -> A).

Every request activelabel sends carries `X-Activelabel-Hops: <incoming + 1>`; the edge notes the
count of each request it handles (`receive`), and a request that arrived with MAX_HOPS or more is
never forwarded (`outgoing` raises 508). A chain is therefore at most MAX_HOPS calls long, even
through a proxy that keeps the header. Saving a backend whose /health says it is activelabel is
refused before any of this (labelstudio/client.py).
"""
import contextvars

from chalicelib.errors import ActivelabelError

HEADER = "X-Activelabel-Hops"
MAX_HOPS = 2
_incoming: contextvars.ContextVar[int] = contextvars.ContextVar("activelabel_incoming_hops", default=0)


class LoopDetectedError(ActivelabelError):
    """This request came through too many activelabel hops to be forwarded again."""

    status = 508
    code = "LoopDetectedError"


def receive(headers) -> None:
    """Note the hop count of the request being handled (called once per request, at the edge)."""
    headers = headers or {}
    raw = headers.get(HEADER.lower()) or headers.get(HEADER) or "0"
    try:
        count = max(0, int(str(raw).strip()))
    except ValueError:
        count = MAX_HOPS  # a mangled count is treated as a long chain: never forwarded
    _incoming.set(count)


def outgoing(url: str) -> str:
    """The header value for a request to `url`; LoopDetectedError when this one may not forward."""
    count = _incoming.get()
    if count >= MAX_HOPS:
        raise LoopDetectedError(f"not forwarding to {url[:200]}: this request already passed {count} activelabel "
                                "hops (a custom backend chain that leads back to activelabel?)", "ml.custom_backend.url")
    return str(count + 1)
