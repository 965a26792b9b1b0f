"""Fetch task media (images) by URL, bounded: `s3://bucket/key` through S3 GetObject, or http(s).

Limits (environment, read per call):
- ACTIVELABEL_MEDIA_MAX_BYTES (default 10 MB): larger objects are refused before they are read
  (S3: ContentLength; HTTP: Content-Length, and the body is never read past the limit);
- ACTIVELABEL_MEDIA_BUCKETS: comma-separated buckets `s3://` URLs may name; unset = any bucket the
  function's IAM role can read (the role is the boundary in AWS);
- ACTIVELABEL_MEDIA_ALLOW_PRIVATE=1 lets http(s) URLs reach loopback/private addresses (local stack
  and tests only). Otherwise a host resolving to a loopback, private, link-local (cloud metadata
  169.254.169.254), multicast, reserved or unspecified address is refused, and the connection goes
  to the address that was checked (no second DNS lookup to rebind). Redirects are not followed;
  the response must be 200 with an `image/*` Content-Type; connect/read timeout 5 s.
"""
import http.client
import ipaddress
import os
import re
import socket
import ssl
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from chalicelib import config
from chalicelib.errors import ValidationError
from chalicelib.store.aws import client

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
TIMEOUT_SECONDS = 5.0
MAX_HOST_CHARS = 253  # the longest DNS name
UNREADABLE = "no such object, or not readable by this deployment"  # one answer: missing, forbidden, refused


class MediaError(ValidationError):
    """A media URL that cannot or must not be fetched."""

    def __init__(self, url: str, message: str):
        super().__init__("data", f"{url[:200]}: {message}")


BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def max_bytes() -> int:
    return int(os.environ.get("ACTIVELABEL_MEDIA_MAX_BYTES", DEFAULT_MAX_BYTES))


def fetch(url: str) -> bytes:
    """The bytes at `url` (s3:// or http(s)://), within the limits above."""
    if not isinstance(url, str):
        raise MediaError(repr(url), "expected a URL string")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port or IPv6 literal
    except ValueError as exc:
        raise MediaError(url, f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme == "s3":
        return _fetch_s3(url)
    if scheme in ("http", "https"):
        return _fetch_http(url)
    raise MediaError(url, "only s3:// and http(s):// URLs can be read")


def _fetch_s3(url: str) -> bytes:
    parts = urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    allowed = [b.strip() for b in os.environ.get("ACTIVELABEL_MEDIA_BUCKETS", "").split(",") if b.strip()]
    if not key or not BUCKET.fullmatch(bucket):  # `bucket:443`, `user@bucket`: no S3 bucket name
        raise MediaError(url, "expected s3://bucket/key")
    if allowed and bucket not in allowed:
        raise MediaError(url, f"bucket {bucket!r} is not one of the media buckets {allowed}")
    if bucket == config.model_bucket():
        # model artifacts are never media; refused before any read, with the answer a missing
        # object gets, so the refusal tells nothing about which model objects exist
        raise MediaError(url, UNREADABLE)
    limit = max_bytes()
    try:
        answer = client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500) >= 500:
            raise  # S3 itself failed: a retry may succeed, so not the client's error
        raise MediaError(url, UNREADABLE) from None
    if answer["ContentLength"] > limit:
        answer["Body"].close()
        raise MediaError(url, f"object is {answer['ContentLength']} bytes; the limit is {limit}")
    return answer["Body"].read(limit + 1)


def _allowed_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def resolve_public(url: str, host: str, port: int) -> str:
    """An address `host` resolves to, refusing hosts with any non-public address (unless allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise MediaError(url, f"cannot resolve host {host[:100]!r}: {exc}") from None
    addresses = [info[4][0] for info in infos]
    if os.environ.get("ACTIVELABEL_MEDIA_ALLOW_PRIVATE") != "1":
        refused = [a for a in addresses if not _allowed_address(a)]
        if refused:
            raise MediaError(url, f"host {host!r} resolves to a non-public address {refused[0]}; refused")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, address, **kw):
        super().__init__(host, port, **kw)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, address, **kw):
        super().__init__(host, port, context=ssl.create_default_context(), **kw)
        self._address = address

    def connect(self):
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def _fetch_http(url: str) -> bytes:
    parts = urlsplit(url)
    host = parts.hostname
    if not host or len(host) > MAX_HOST_CHARS:
        raise MediaError(url, f"URL must name a host of 1 to {MAX_HOST_CHARS} characters")
    if parts.username or parts.password:
        raise MediaError(url, "credentials in URLs are refused")
    https = parts.scheme.lower() == "https"
    port = parts.port or (443 if https else 80)
    address = resolve_public(url, host, port)
    connection_class = _PinnedHTTPSConnection if https else _PinnedHTTPConnection
    connection = connection_class(host, port, address, timeout=TIMEOUT_SECONDS)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    limit = max_bytes()
    try:
        connection.request("GET", path, headers={"Accept": "image/*", "User-Agent": "activelabel"})
        response = connection.getresponse()
        if response.status != 200:
            raise MediaError(url, f"HTTP {response.status} (redirects are not followed)")
        content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
        if not content_type.startswith("image/"):
            raise MediaError(url, f"Content-Type {content_type or 'missing'!r} is not an image")
        length = response.getheader("Content-Length")
        if length is not None and length.isascii() and length.isdigit() and int(length) > limit:
            raise MediaError(url, f"image is {length} bytes; the limit is {limit}")
        body = response.read(limit + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise MediaError(url, f"fetch failed: {type(exc).__name__}: {exc}") from None
    finally:
        connection.close()
    if len(body) > limit:
        raise MediaError(url, f"image is larger than the limit of {limit} bytes")
    return body
