"""The local stack: embedded moto on loopback + the Chalice API + the event pump, in one process.

`python -m chalicelib.local serve` runs it in the foreground; tests use `start_stack()`.

Order matters: moto first, then the env (endpoint, fake credentials, resource names), then the
resources, and only then `import app`, because app.py reads the stream ARN and the queue name
at import time.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import secrets
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from chalicelib import config
from chalicelib.local.pump import EventPump
from chalicelib.local.cfn_template import REPO_ROOT
from chalicelib.local.resources import DEFAULT_STACK_NAME, create_resources
from chalicelib.telemetry import logs

log = logging.getLogger(__name__)

LOCAL_REGION = "us-east-1"
# Variables the stack sets; their previous values are restored by LocalStack.stop().
_BASE_ENV_REMOVED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


@dataclass
class LocalStack:
    """A running local stack. `stop()` (or leaving a `with` block) shuts it all down."""

    url: str
    host: str
    port: int
    admin_token: str
    aws_endpoint: str
    env: dict[str, str]
    pump: EventPump
    app: Any
    _moto: Any = field(repr=False, default=None)
    _http: Any = field(repr=False, default=None)
    _http_thread: threading.Thread | None = field(repr=False, default=None)
    _pump_thread: threading.Thread | None = field(repr=False, default=None)
    _pump_stop: threading.Event | None = field(repr=False, default=None)
    _saved_env: dict[str, str | None] | None = field(repr=False, default=None)
    state: Any = None  # chalicelib.local.state.StateStore when the stack keeps its state
    aws_requests: Any = None  # chalicelib.local.metering.AwsRequests: GET /local/aws-requests
    _stopped: bool = field(repr=False, default=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._pump_stop is not None:
            self._pump_stop.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server.server_close()
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=10)
        if self.aws_requests is not None:
            from chalicelib.local import aws_route

            self.aws_requests.stop()
            aws_route.unregister(self.app)
        if self._moto is not None:
            self._moto.stop()
        if self.state is not None:
            self.state.close()
        if self._saved_env is not None:
            _restore_env(self._saved_env)
            rebind_store()

    def __enter__(self) -> "LocalStack":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def rebind_store() -> None:
    """Point the store (PynamoDB tables, boto3 clients, model cache) at the current environment.

    chalicelib.store binds table names when first imported; the stack changes the env after that
    may have happened (e.g. in a test session), so it rebinds on start and on stop.
    """
    from chalicelib.ml import serving
    from chalicelib.store.aws import reset_clients
    from chalicelib.store.models import bind_tables

    bind_tables()
    reset_clients()
    serving.clear_cache()


def _set_env(values: dict[str, str | None], saved: dict[str, str | None]) -> None:
    for key, value in values.items():
        if key not in saved:
            saved[key] = os.environ.get(key)
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _load_app(app: Any, project_dir: Path) -> Any:
    """The Chalice app: given, built by a zero-argument factory, or `app.app` from app.py."""
    from chalice import Chalice

    if app is None:
        if str(project_dir) not in sys.path:
            sys.path.insert(0, str(project_dir))
        module = importlib.import_module("app")
        return module.app
    if isinstance(app, Chalice):
        return app
    if callable(app):
        return app()
    raise TypeError(f"app must be a Chalice app or a factory, not {type(app).__name__}")


def _chalice_config(app: Any, project_dir: Path) -> Any:
    from chalice.config import Config

    disk: dict = {}
    path = project_dir / ".chalice" / "config.json"
    if path.exists():
        try:
            disk = json.loads(path.read_text())
        except ValueError as e:
            log.warning("ignoring %s: %s", path, e)
    return Config(chalice_stage="local", function_name="api_handler",
                  user_provided_params={"chalice_app": app, "project_dir": str(project_dir),
                                        "app_name": getattr(app, "app_name", "activelabel")},
                  config_from_disk=disk)


def _aws_env(endpoint: str) -> dict[str, str | None]:
    """The env that points boto3 at the embedded moto (None: variables to remove)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "ACTIVELABEL_STAGE": "local",
        **{k: None for k in _BASE_ENV_REMOVED},
    }


def _reset_moto() -> None:
    """Empty moto's backends, which belong to the process, so that what the stack holds is
    exactly what the state dir holds (in one process, a stack started earlier may have left
    data)."""
    from moto.moto_api._internal.models import moto_api_backend

    from chalicelib.local.motoserver import MOTO_LOCK

    with MOTO_LOCK:
        moto_api_backend.reset()


def _add_secrets(env: dict[str, str], state: Any, admin_token: str | None) -> str:
    """Put the admin token and the Label Studio settings in `env`; returns the admin token.

    Both secrets are kept with the state (when there is one), which holds what they protect.
    """
    from chalicelib.labelstudio import crypto as ls_crypto
    from chalicelib.labelstudio import net as ls_net

    kept = state.get if state is not None else (lambda name: None)
    token = (admin_token or os.environ.get(config.ADMIN_TOKEN_ENV) or kept("admin-token")
             or secrets.token_urlsafe(24))
    env[config.ADMIN_TOKEN_ENV] = token
    # Label Studio connections: a per-run secret unless one is set (kept with the state, which
    # holds what it encrypted); loopback backends allowed
    env[ls_crypto.SECRET_ENV] = (os.environ.get(ls_crypto.SECRET_ENV) or kept("ls-master-key")
                                 or ls_crypto.new_master_key())
    if state is not None:
        state.put("admin-token", token)
        state.put("ls-master-key", env[ls_crypto.SECRET_ENV])
    env[ls_net.ALLOW_ENV] = os.environ.get(ls_net.ALLOW_ENV, "loopback")
    return token


def _open_state(state_dir: str | Path, fresh: bool) -> Any:
    from chalicelib.local.state import StateStore

    return StateStore(state_dir, region=LOCAL_REGION, fresh=fresh)


def _restore_state(state: Any, moto: Any) -> None:
    """Load the state dir into moto, then have moto journal every write to it."""
    counts = state.restore()
    if state.restored:
        log.info("restored from %s: %s", state.directory, counts)
    moto.set_journal(state)  # from here on, every write is stored before it is answered


def _prepared_pump(chalice_app: Any, env: dict[str, str], session: Any,
                   record_deliveries: bool, state: Any) -> EventPump:
    pump = EventPump(chalice_app, env, session=session, region=LOCAL_REGION,
                     record_deliveries=record_deliveries, state=state)
    # Wiring errors (unknown stream or queue) surface before serving; deliveries (maybe a
    # training left over from a previous run) start with the pump's thread, after.
    pump.prepare()
    return pump


def _metered(chalice_app: Any) -> Any:
    """Count every AWS request from now on and answer them at GET /local/aws-requests."""
    from chalicelib.local import aws_route
    from chalicelib.local.metering import AwsRequests

    tally = AwsRequests().start()
    aws_route.register(chalice_app, tally)
    return tally


def _abandon(stack: LocalStack | None, moto: Any, state: Any,
             saved: dict[str, str | None], tally: Any = None) -> None:
    """Undo what a failed `start_stack` had started, and its env changes."""
    if stack is not None:
        stack.stop()
    else:
        if tally is not None:
            tally.stop()
        if moto is not None:
            moto.stop()
        if state is not None:
            state.close()
        _restore_env(saved)


def _start_threads(stack: LocalStack, poll_interval: float,
                   schedule_every: float | None) -> None:
    """Start the pump's thread and the HTTP server's."""
    stack._pump_thread, stack._pump_stop = stack.pump.start(poll_interval, schedule_every)
    # a short poll interval: stop() waits for the loop to notice (0.5 s by default)
    stack._http_thread = threading.Thread(target=stack._http.server.serve_forever,
                                          kwargs={"poll_interval": 0.05},
                                          name="activelabel-http", daemon=True)
    stack._http_thread.start()


def head_check(method: str, path: str, headers: Any):
    """What the app would refuse from a request's head alone, before the front answers `100 Continue`:
    a missing or unknown token (/api/), a wrong Label Studio credential (/ls/); (status, code,
    message, field) or None."""
    from chalicelib.api import auth
    from chalicelib.errors import ActivelabelError
    from chalicelib.labelstudio import auth as ls_auth

    route = path.split("?", 1)[0]
    try:
        if route.startswith("/api/"):
            auth.authenticate(headers)
        elif route == "/ls" or route.startswith("/ls/"):
            ls_auth.authenticate(headers)
    except ActivelabelError as exc:
        return exc.status, exc.code, exc.message, exc.field or "Authorization"
    return None


def start_stack(port: int = 0, host: str = "127.0.0.1", *, app: Any = None,
                admin_token: str | None = None, stack_name: str = DEFAULT_STACK_NAME,
                schedule_every: float | None = 300.0, poll_interval: float = 0.2,
                project_dir: str | Path | None = None, access_log: bool = False,
                record_deliveries: bool = False, state_dir: str | Path | None = None,
                fresh: bool = False) -> LocalStack:
    """Start moto, create the resources, import the app, start the pump and the HTTP server.

    `app`: None imports `app.py` from `project_dir` (default: the repository root); a Chalice
    app is used as is; any other callable is called (after the env is set) to build one.
    `port=0` picks a free port. The process env is changed (endpoint, fake credentials,
    resource names, `ACTIVELABEL_STAGE=local`, the admin token) and restored by `stop()`.

    `state_dir`: keep moto's contents and the pump's progress there (chalicelib.local.state) and
    start from what it holds (`fresh=True` empties it first); None keeps everything in memory.
    """
    import boto3

    from chalicelib.local.http_server import make_http_server
    from chalicelib.local.motoserver import AtomicMotoServer

    project = Path(project_dir) if project_dir else REPO_ROOT
    saved: dict[str, str | None] = {}
    moto = None
    stack = None
    state = None
    tally = None
    try:
        if state_dir is not None:
            state = _open_state(state_dir, fresh)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
        moto = AtomicMotoServer("127.0.0.1", 0)
        moto.start()
        endpoint = "http://%s:%d" % moto.get_host_and_port()
        _set_env(_aws_env(endpoint), saved)
        session = boto3.session.Session(region_name=LOCAL_REGION)
        if state is not None:
            _reset_moto()
        env = create_resources(stack_name, session=session, region=LOCAL_REGION)
        if state is not None:
            _restore_state(state, moto)
        token = _add_secrets(env, state, admin_token)
        _set_env(dict(env), saved)
        rebind_store()

        chalice_app = _load_app(app, project)
        tally = _metered(chalice_app)
        pump = _prepared_pump(chalice_app, env, session, record_deliveries, state)
        http = make_http_server(chalice_app, _chalice_config(chalice_app, project),
                                host, port, access_log, head_check)
        real_port = http.server.server_address[1]
        stack = LocalStack(url=f"http://{host}:{real_port}", host=host, port=real_port,
                           admin_token=token, aws_endpoint=endpoint, env=env, pump=pump,
                           app=chalice_app, _moto=moto, _http=http, _saved_env=saved,
                           state=state, aws_requests=tally)
        _start_threads(stack, poll_interval, schedule_every)
        return stack
    except BaseException:
        _abandon(stack, moto, state, saved, tally)
        raise


def serve(port: int = 8000, host: str = "127.0.0.1", schedule_every: float | None = 300.0,
          stop: threading.Event | None = None, print_fn: Callable[[str], None] | None = None,
          state_dir: str | Path | None = None, fresh: bool = False) -> int:
    """Run the local stack in the foreground until SIGINT/SIGTERM (or `stop` is set).

    Its state lives in `state_dir` (chalicelib.local.state.default_state_dir() when None).
    """
    from chalicelib.local.state import default_state_dir
    import signal

    logs.configure(sys.stderr, root=True)  # JSON lines unless stderr is a terminal (chalicelib/telemetry)
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
    stack = start_stack(port=port, host=host, schedule_every=schedule_every, access_log=True,
                        state_dir=state_dir, fresh=fresh)
    try:
        line = (f"activelabel local stack ready on {stack.url} (admin token: "
                f"{stack.admin_token}; state in {state_dir})")
        (print_fn or print)(line)
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        log.info("shutting down the local stack")
        stack.stop()
    return 0
