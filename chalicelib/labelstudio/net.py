"""Outbound HTTP to Label Studio and to custom ML backends: an SSRF guard and a small JSON client.

`check_url` resolves the host and refuses link-local and cloud-metadata addresses always, and
loopback or private addresses unless the deployment allows them in `ACTIVELABEL_OUTBOUND_ALLOW`
(comma list of `loopback`, `private`; the local stack sets `loopback`). The request then connects
to the address that was checked (no second DNS lookup, so no DNS rebinding), sends the original
host name in `Host` and for TLS (SNI and certificate check), and never follows redirects.

Retries follow Label Studio's own client (`HTTPAdapter(max_retries=2)`): connection errors only,
never read timeouts or HTTP errors. Uses urllib3, which botocore already depends on.

Every call is bounded as a whole: `timeout` is (connect, each read, total) seconds; the total
covers the connection attempts, the wait for the answer and the reading of its body, checked
between reads of at most READ_CHUNK bytes (each read also bounded by the read timeout), so an
answer that drips a byte at a time ends at the total. A 2-tuple's total is what its connect
attempts and one read timeout add up to.
"""
import ipaddress
import json
import os
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

from chalicelib import hops
from chalicelib.errors import ActivelabelError, ValidationError

ALLOW_ENV = "ACTIVELABEL_OUTBOUND_ALLOW"
CONNECT_RETRIES = 2
MAX_RESPONSE_BYTES = 50 * 1024 * 1024
READ_CHUNK = 64 * 1024

_METADATA = {
    ipaddress.ip_address("169.254.169.254"),   # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"),     # ECS task metadata
    ipaddress.ip_address("fd00:ec2::254"),     # AWS IMDS over IPv6
    ipaddress.ip_address("100.100.100.200"),   # Alibaba Cloud
}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class UpstreamError(ActivelabelError):
    """The remote service failed: `kind` is "connect", "timeout", "status" or "not_json"."""

    status = 502
    code = "BadGatewayError"

    def __init__(self, message: str, kind: str, http_status: int | None = None, field: str | None = None):
        super().__init__(message, field)
        self.kind = kind
        self.http_status = http_status


def allowed_kinds() -> set[str]:
    return {part.strip() for part in os.environ.get(ALLOW_ENV, "").split(",") if part.strip()}


def address_refusal(ip: ipaddress._BaseAddress, allow: set[str]) -> str | None:
    """Why an address may not be called, or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_loopback:
        return None if "loopback" in allow else "a loopback address"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "not a unicast address"
    if ip.is_private or ip in _CGNAT:
        return None if "private" in allow else "a private address"
    return None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str
    path: str  # path + query, at least "/"


def check_url(url: str, field: str = "url") -> Target:
    """Parse and resolve `url`; raise ValidationError naming `field` when it may not be called."""
    if not isinstance(url, str) or len(url) > 2000:
        raise ValidationError(field, "must be an http(s) URL of at most 2000 characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValidationError(field, f"is not a valid URL ({exc})")
    if parts.scheme not in ("http", "https") or not parts.hostname or len(parts.hostname) > 253:
        raise ValidationError(field, f"must be an http(s) URL with a host of at most 253 characters, got {url[:100]!r}")
    if parts.username or parts.password:
        raise ValidationError(field, "must not carry credentials; use basic_auth_user/basic_auth_pass")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError(field, f"has an invalid port: {url!r}")
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationError(field, f"host {parts.hostname!r} does not resolve ({exc})")
    allow = allowed_kinds()
    addresses = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        refusal = address_refusal(ip, allow)
        if refusal:
            raise ValidationError(field, f"host {parts.hostname!r} resolves to {ip}, {refusal}; refused")
        addresses.append(str(ip))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port, addresses[0], path)


def join(base: str, suffix: str) -> str:
    """Label Studio's rule: `urljoin(url if url.endswith('/') else url + '/', suffix)` for a plain suffix."""
    return (base if base.endswith("/") else base + "/") + suffix.lstrip("/")


@dataclass
class Reply:
    status: int
    body: object  # parsed JSON, or None when the body was not JSON
    text: str


def _total(timeout: tuple) -> float:
    return float(timeout[2]) if len(timeout) > 2 else timeout[0] * (CONNECT_RETRIES + 1) + timeout[1]


def _read_within(response, deadline: float, url: str, total: float, field: str) -> bytes:
    """The body, at most MAX_RESPONSE_BYTES + 1 bytes, unless `deadline` passes first."""
    parts, size = [], 0
    while size <= MAX_RESPONSE_BYTES:
        if time.monotonic() > deadline:
            raise UpstreamError(f"{url}: the answer took longer than {total:g} s in all", "timeout", field=field)
        part = response.read1(READ_CHUNK)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def request(method: str, url: str, *, body=None, headers: dict | None = None, timeout: tuple,
            field: str = "url") -> Reply:
    """One JSON request through the SSRF guard, within `timeout` = (connect, each read, total)
    seconds. Raises UpstreamError on connection errors and timeouts; HTTP errors are returned (the
    caller decides), never retried."""
    total = _total(timeout)
    deadline = time.monotonic() + total
    hop_count = hops.outgoing(url)
    target = check_url(url, field)
    all_headers = {"Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
                   "Accept": "application/json", "User-Agent": "activelabel", hops.HEADER: hop_count}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    all_headers.update(headers or {})
    retries = urllib3.Retry(total=CONNECT_RETRIES, connect=CONNECT_RETRIES, read=0, status=0, other=0,
                            redirect=0, raise_on_redirect=False, raise_on_status=False, allowed_methods=None)
    t = urllib3.Timeout(connect=timeout[0], read=timeout[1], total=total)
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(target.address, target.port, timeout=t, retries=retries,
                                           server_hostname=target.host, assert_hostname=target.host)
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=t, retries=retries)
    try:
        response = pool.urlopen(method, target.path, body=payload, headers=all_headers, redirect=False,
                                preload_content=False)
        raw = _read_within(response, deadline, url, total, field)
        response.release_conn()
    except urllib3.exceptions.MaxRetryError as exc:
        reason = exc.reason
        if isinstance(reason, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.TimeoutError)) and not \
                isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
            raise UpstreamError(f"{url}: no answer within {timeout[1]} s", "timeout", field=field)
        raise UpstreamError(f"{url}: cannot connect ({reason})", "connect", field=field)
    except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.TimeoutError):
        raise UpstreamError(f"{url}: no answer within {timeout[1]} s", "timeout", field=field)
    except urllib3.exceptions.HTTPError as exc:
        raise UpstreamError(f"{url}: {exc}", "connect", field=field)
    finally:
        pool.close()
    if len(raw) > MAX_RESPONSE_BYTES:
        raise UpstreamError(f"{url}: the answer is larger than {MAX_RESPONSE_BYTES} bytes", "status",
                            response.status, field=field)
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    return Reply(response.status, parsed, text)
