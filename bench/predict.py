"""Benchmark: `POST /predict` over HTTP against the same model called in-process, and against the
label-studio-ml SDK serving that model, all measured in one run.

    .venv/bin/python bench/predict.py                      # starts the local stack in-process
    .venv/bin/python bench/predict.py --url http://127.0.0.1:8000 --token T   # a running `make serve`

Trains a text classifier on ~300 SMS completions through the API (tasks imported with their
annotations; the completions stream accepts them and queues one training), then, for 1 and 100
tasks per request, measures after a warm-up, the sides interleaved round by round:

- ours over HTTP: `POST /api/projects/{id}/predict` on a keep-alive `http.client` connection, the
  body encoded once, the answer decoded (JSON, auth, project lookup, model cache, Label Studio format);
- the SDK peer over HTTP: the same body to `POST /predict` of a label-studio-ml 1.0.9 backend
  (bench/lsml_peer.py, in .venv-lsml/: `make .venv-lsml/.installed`, plus numpy and defusedxml) that
  serves the same model from the same artifact with the same prediction code; skipped without that venv;
- in-process (the limit): `model.predictions(samples, model_version)` on the very model object the
  API serves (`chalicelib.ml.serving.load(prediction.project_pointer(project), prediction.fetch)`).
  With `--url` the server's S3 is out of reach, so the same model kind is refit here on the
  exported accepted tasks with the server's seed (same data, same estimator).

With the in-process stack, the event pump is stopped once the model is trained (`--keep-pump` keeps
it): on AWS the event sources are polled outside the API function, while here its polls would share
the API's process and GIL. Then where our request's time goes: each in-process step of the predict path timed alone (body
parse and checks, project lookup uncached and from the warm cache, label config parse uncached and
cached, data validation, the model cache hit, prediction, response encoding); what is left of the
HTTP median is the transport, the local gateway and the client. And the request layer by layer,
each layer's call interleaved with the others in one run: the model, the use case, the view, the
Lambda handler `app(event, context)` (what runs on Lambda), the local gateway without a socket, then
over HTTP ours with http.client and with a requests.Session (Label Studio's client), Chalice's own
dev server on the same app (the local stack's front before), and a bare http.server answering the
same bytes (the transport and client floor).

Prints the tables with every ratio and writes them to bench/out/predict.json. Loopback only; every
loop is bounded; the peer is stopped by its PID.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests

from activelabel_client.client import ActivelabelClient, version_number
from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion, sms_split

OUT_FILE = ROOT / "bench" / "out" / "predict.json"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
WARMUP = 5
# batch size -> repetitions
REPETITIONS = {1: 300, 100: 40}
LSML_PYTHON = ROOT / ".venv-lsml" / "bin" / "python"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100])."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def time_calls(call: Callable[[], object], repetitions: int, warmup: int = WARMUP) -> list[float]:
    """Wall-clock milliseconds of `repetitions` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    timings = []
    for _ in range(repetitions):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def summary(timings: list[float]) -> dict:
    return {"median": round(statistics.median(timings), 3), "p90": round(percentile(timings, 90), 3),
            "min": round(min(timings), 3), "n": len(timings)}


# ---------------------------------------------------------------- set-up: a trained project

def train_project(api: ActivelabelClient, n_train: int, drain: Callable[[], object] | None,
                  timeout: float) -> tuple[str, dict]:
    """A project whose one model is trained on `n_train` SMS completions; returns (id, /training)."""
    pool, _ = sms_split(n_train, 0, seed=11)
    project = api.create_project("bench: predict latency", SMS_LABEL_CONFIG,
                                 ml={"min_completions": n_train, "retrain_every": 10 * n_train})
    tasks = [{"data": {"text": row["text"]}, "annotations": [choice_completion(row["label"], "bench")]}
             for row in pool]
    api.import_tasks(project["id"], tasks, progress=False)
    print(f"project {project['id']}: imported {n_train} tasks with one completion each; "
          "waiting for the stream to accept them and the model to train ...", flush=True)
    started = time.monotonic()
    if drain is not None:
        drain()  # deliver the stream records and the training request now
    state = api.wait_for_model(project["id"], timeout=timeout, settled=True)
    print(f"model {state['model_version']} trained on {state['accepted_tasks']} accepted tasks "
          f"({time.monotonic() - started:.1f} s)", flush=True)
    return project["id"], state


def served_model(project_id: str):
    """The model object the in-process API serves for the project (same cache, same loader)."""
    from chalicelib.ml import serving
    from chalicelib.services import prediction
    from chalicelib.store import projects as project_db

    pointer = prediction.project_pointer(project_db.get_project(project_id, consistent=True))
    return (serving.load(pointer, prediction.fetch), "the API's model object (chalicelib.ml.serving.load)",
            prediction.fetch(pointer))


def refit_model(api: ActivelabelClient, project_id: str, model_version: str):
    """The same model kind refit here on the exported accepted tasks (when the server is remote)."""
    from chalicelib.labeling.config import parse_label_config
    from chalicelib.ml import registry, training

    project = api.get_project(project_id)
    kind = registry.get_kind(project["ml"]["model"])
    target = kind.targets(parse_label_config(project["label_config"]))[0]
    accepted = []
    for task in api.export(project_id)["tasks"]:
        if task.get("is_labeled") and task.get("annotations"):
            choices = task["annotations"][0]["result"][0]["value"]["choices"]
            accepted.append((task["data"], {target.control.name: choices}))
    outcome = training.train(kind, target, accepted, seed=version_number(model_version) or 0)
    from chalicelib.ml import numpy_form

    compact = numpy_form.export(outcome.model)  # what the server serves for a kind that has a numpy form
    model = outcome.model if compact is None else numpy_form.load(compact)
    return model, (f"refit in-process on the {len(accepted)} exported accepted tasks (same kind and seed), "
                   f"{'numpy form' if compact else 'joblib model'}"), compact


# ---------------------------------------------------------------- the SDK peer

def start_peer(artifact: bytes, model_version: str, workdir: Path):
    """(url, process) of the SDK backend serving `artifact`, or (None, None) without .venv-lsml."""
    import socket
    import subprocess

    if not LSML_PYTHON.exists():
        return None, None
    (workdir / "model.npz").write_bytes(artifact)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(workdir / "peer.log", "w")
    proc = subprocess.Popen([str(LSML_PYTHON), str(ROOT / "bench" / "lsml_peer.py"), str(port),
                             str(workdir / "model.npz"), model_version, str(workdir / "models")],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                # as Label Studio does on connecting (the SDK's V2 mode serves nothing before /setup)
                requests.post(url + "/setup", json={"project": "1.1", "schema": SMS_LABEL_CONFIG},
                              timeout=30).raise_for_status()
                return url, proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.terminate()
    proc.wait(timeout=10)
    raise RuntimeError(f"the SDK peer did not start:\n{(workdir / 'peer.log').read_text()[-2000:]}")


# ---------------------------------------------------------------- the measurement

def labels(results: list[dict]) -> list:
    return [r["result"][0]["value"]["choices"] for r in results]


def poster(url: str, path: str, body: bytes, headers: dict) -> Callable[[], list]:
    """A keep-alive http.client connection POSTing `body` (the standard library's client: requests
    adds about 0.7 ms of its own per call here, the same for every side, which would only blur the
    servers' difference); reconnects when the server closes the connection."""
    import http.client

    address = urlparse(url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=120)

    def call():
        conn.request("POST", path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        if answer.will_close:
            conn.close()
        if answer.status != 200:
            raise RuntimeError(f"POST {url}{path}: {answer.status} {data[:500]!r}")
        return json.loads(data)["results"]
    return call


def interleaved(calls: dict[str, Callable[[], object]], repetitions: int) -> dict[str, list[float]]:
    """Milliseconds per call of each side, round-robin (so load on the shared machine hits all sides),
    each round starting one side further on (so no side always follows the same one: a call right
    after an HTTP one can wait for the server thread to let go of the GIL)."""
    for call in calls.values():
        for _ in range(WARMUP):
            call()
    timings: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls.items())
    for round_ in range(repetitions):
        shift = round_ % len(order)
        for name, call in order[shift:] + order[:shift]:
            started = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - started) * 1000)
    return timings


def measure(url: str, token: str, peer_url: str | None, project_id: str, model, model_version: str) -> list[dict]:
    _, test = sms_split(0, 200, seed=11)  # never imported: the seeded split's test side
    rows = []
    for batch, repetitions in REPETITIONS.items():
        samples = [{"text": row["text"]} for row in test[:batch]]
        body = json.dumps({"tasks": [{"data": sample} for sample in samples]}).encode()
        calls = {
            "in_process": lambda samples=samples: model.predictions(samples, model_version),
            "ours_http": poster(url, f"/api/projects/{project_id}/predict", body,
                                {"Authorization": f"Token {token}", "Content-Type": "application/json"}),
        }
        if peer_url:
            peer_body = json.dumps({"tasks": [{"id": i + 1, "data": s} for i, s in enumerate(samples)],
                                    "project": "1.1", "label_config": SMS_LABEL_CONFIG}).encode()
            calls["sdk_http"] = poster(peer_url, "/predict", peer_body, {"Content-Type": "application/json"})
        expected = labels(calls["in_process"]())
        same = {name: labels(call()) == expected for name, call in calls.items() if name != "in_process"}
        timings = interleaved(calls, repetitions)
        row = {"batch": batch, "repetitions": repetitions, "warmup": WARMUP, "same_labels": same,
               **{f"{name}_ms": summary(values) for name, values in timings.items()}}
        limit = row["in_process_ms"]["median"]
        row["ours_ratio"] = round(row["ours_http_ms"]["median"] / limit, 2)
        if peer_url:
            row["sdk_ratio"] = round(row["sdk_http_ms"]["median"] / limit, 2)
            row["ours_over_sdk"] = round(row["ours_http_ms"]["median"] / row["sdk_http_ms"]["median"], 2)
        rows.append(row)
    return rows


def breakdown(project_id: str, model, model_version: str, rows: list[dict]) -> list[dict]:
    """Each in-process step of our predict path, median ms, per batch size; the rest of the HTTP median."""
    from types import SimpleNamespace

    from chalicelib.api.http import json_object
    from chalicelib.api.predict import samples_from_body
    from chalicelib.labeling.config import parse_label_config
    from chalicelib.labeling.validation import validate_task_data
    from chalicelib.ml import serving
    from chalicelib.services import prediction
    from chalicelib.store import projects as repository

    _, test = sms_split(0, 200, seed=11)
    project = repository.get_project(project_id)
    config = parse_label_config(project.label_config)
    pointer = prediction.project_pointer(project)
    out = []
    for row in rows:
        batch = row["batch"]
        samples = [{"text": r["text"]} for r in test[:batch]]
        raw = json.dumps({"tasks": [{"data": s} for s in samples]}).encode()
        results = model.predictions(samples, model_version)
        steps = {
            "body: parse + checks": lambda: samples_from_body(json_object(SimpleNamespace(raw_body=raw))),
            "project lookup (GetItem, uncached)": lambda: repository.get_project(project_id),
            "project lookup (warm cache)": lambda: repository.get_project_warm(project_id),
            "label config parse (uncached)": lambda: parse_label_config(project.label_config),
            "label config parse (cached)": lambda: prediction.parsed_config(project.label_config),
            "task data validation": lambda: [validate_task_data(config, s, "tasks[0].data") for s in samples],
            "model cache hit": lambda: serving.load(pointer, prediction.fetch),
            "predictions (model)": lambda: model.predictions(samples, model_version),
            "response JSON encoding": lambda: json.dumps({"results": results, "model_version": model_version},
                                                          separators=(",", ":")),
        }
        medians = {name: statistics.median(time_calls(step, 30)) for name, step in steps.items()}
        on_path = sum(v for k, v in medians.items() if "uncached" not in k)
        medians["rest: transport, local gateway, client"] = row["ours_http_ms"]["median"] - on_path
        out.append({"batch": batch, "steps_ms": {k: round(v, 3) for k, v in medians.items()},
                    "http_median_ms": row["ours_http_ms"]["median"]})
    return out


class _FixedAnswer:
    """A bare http.server handler answering every POST with the same bytes (the transport floor)."""

    @staticmethod
    def server(answer: bytes):
        import socket
        import threading
        from http.server import BaseHTTPRequestHandler

        from chalicelib.local.http_server import Server

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                super().setup()

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer)

        server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def chalice_dev_server(app, config):
    """Chalice's own local dev server (chalice.local's handler, a gateway per connection, the email
    package's header parser, headers and body written apart) on the same app, with TCP_NODELAY as
    ours: the front the local stack had before (its error-body overrides are off this path)."""
    import socket
    import threading

    from chalice.local import ChaliceRequestHandler, LocalDevServer

    from chalicelib.local.http_server import Server

    class Handler(ChaliceRequestHandler):
        def setup(self):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().setup()

        def log_message(self, *args):
            pass

    dev = LocalDevServer(app, config, "127.0.0.1", 0, handler_cls=Handler, server_cls=Server)
    threading.Thread(target=dev.server.serve_forever, daemon=True).start()
    return dev.server


def wsgi_front(gateway):
    """The same Chalice gateway as a WSGI app (for a maintained WSGI server to serve; the comparison
    of issue 26: the present front against waitress, when it is importable)."""
    from http import HTTPStatus
    from urllib.parse import quote

    def app(environ, start_response):
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        path = quote(environ.get("PATH_INFO", "")) + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
        answer = gateway.handle_request(environ["REQUEST_METHOD"], path, headers, body)
        payload = answer["body"] if isinstance(answer["body"], bytes) else (answer["body"] or "").encode()
        code = answer["statusCode"]
        start_response(f"{code} {HTTPStatus(code).phrase}",
                       [*answer["headers"].items(), ("Content-Length", str(len(payload)))])
        return [payload]
    return app


def waitress_server(gateway):
    """waitress (pure Python, ZPL) serving `wsgi_front(gateway)` on an ephemeral port, or None when
    waitress is not importable (it is not a dependency: `pip install --target DIR waitress` and
    PYTHONPATH=DIR to compare)."""
    try:
        import waitress
    except ImportError:
        return None
    import threading

    server = waitress.create_server(wsgi_front(gateway), host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    return server


def stages(stack, token: str, project_id: str, model, model_version: str) -> list[dict]:
    """The predict request layer by layer, each layer's call timed round-robin with the others (one
    run, same load): the model (the limit), the use case, the view (+ body parse), the Lambda handler
    `app(event, context)` (+ Chalice's request/response, our route wrapper: auth, access, error
    mapping; JSON encoding), the local gateway without a socket (+ route match, event, context),
    then over HTTP on keep-alive connections: ours with http.client, ours with a requests.Session
    (Label Studio's client), Chalice's own dev server on the same app, and the floor: a bare
    http.server answering the same bytes to the same client."""
    from chalice.app import Request
    from chalice.local import LambdaContext

    from chalicelib.api import predict as predict_view
    from chalicelib.services import prediction

    _, test = sms_split(0, 200, seed=11)
    gateway = stack._http._wrapped_handler.func.gateway
    config = stack._http._wrapped_handler.keywords["config"]
    dev = chalice_dev_server(stack.app, config)
    waitress = waitress_server(gateway)
    floor = None
    path = f"/api/projects/{project_id}/predict"
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    out = []
    try:
        for batch, repetitions in REPETITIONS.items():
            samples = [{"text": row["text"]} for row in test[:batch]]
            body = json.dumps({"tasks": [{"data": s} for s in samples]}).encode()
            wire_headers = {"Host": "127.0.0.1", "Accept-Encoding": "identity", "Content-Length": str(len(body)),
                            **headers}
            event = gateway._generate_lambda_event("POST", path, dict(wire_headers), body)
            answer = stack.app({**event, "requestContext": dict(event["requestContext"])},
                               LambdaContext("api_handler", 1024))["body"].encode()  # what ours sends
            if floor is not None:
                floor.shutdown()
                floor.server_close()
            floor = _FixedAnswer.server(answer)
            session = requests.Session()

            def lambda_call(event=event):
                answer = stack.app({**event, "requestContext": dict(event["requestContext"])},
                                   LambdaContext("api_handler", 1024))
                assert answer["statusCode"] == 200, answer

            def requests_call(body=body):
                answer = session.post(f"{stack.url}{path}", data=body, headers=headers, timeout=120)
                answer.raise_for_status()
                return answer.json()["results"]

            layers = {
                "model.predictions (the limit)": lambda samples=samples: model.predictions(samples, model_version),
                "use case: prediction.predict_samples": lambda samples=samples: prediction.predict_samples(
                    project_id, samples, "tasks"),
                "view: api.predict.predict (+ body parse)": lambda event=event: predict_view.predict(
                    Request(event), project_id),
                "Lambda handler: app(event, context)": lambda_call,
                "local gateway, no socket": lambda body=body, wire_headers=wire_headers: gateway.handle_request(
                    "POST", path, dict(wire_headers), body),
                "HTTP ours, http.client keep-alive": poster(stack.url, path, body, headers),
                "HTTP ours, requests.Session": requests_call,
                "HTTP Chalice's dev server, http.client": poster(f"http://127.0.0.1:{dev.server_address[1]}", path,
                                                                 body, headers),
                **({} if waitress is None else {"HTTP waitress on the same gateway, http.client": poster(
                    f"http://127.0.0.1:{waitress.effective_port}", path, body, headers)}),
                "HTTP floor: bare http.server, same bytes": poster(f"http://127.0.0.1:{floor.server_address[1]}",
                                                                   path, body, headers),
            }
            timings = interleaved(layers, repetitions)
            session.close()
            medians = {name: round(statistics.median(values), 3) for name, values in timings.items()}
            out.append({"batch": batch, "repetitions": repetitions, "layers_ms": medians,
                        "layers_ratio_to_limit": {name: round(m / medians["model.predictions (the limit)"], 2)
                                                  for name, m in medians.items()}})
    finally:
        dev.shutdown()
        dev.server_close()
        if waitress is not None:
            waitress.close()
        if floor is not None:
            floor.shutdown()
            floor.server_close()
    return out


def print_stages(layers: list[dict]) -> None:
    print("\nthe request layer by layer (medians, interleaved in one run; x = / the limit):")
    names = list(layers[0]["layers_ms"])
    print(f"{'layer':<44}" + "".join(f"{'batch ' + str(s['batch']) + ' ms':>16}{'x':>7}" for s in layers))
    for name in names:
        print(f"{name:<44}" + "".join(f"{s['layers_ms'][name]:>16.3f}{s['layers_ratio_to_limit'][name]:>6.2f}x"
                                      for s in layers))


def print_tables(rows: list[dict], steps: list[dict]) -> None:
    print()
    peer = "sdk_http_ms" in rows[0]
    print(f"{'batch':>5}  {'in-process ms':>13}  {'ours HTTP ms':>12}  {'ours/in-proc':>12}"
          + (f"  {'SDK HTTP ms':>11}  {'SDK/in-proc':>11}  {'ours/SDK':>8}" if peer else ""))
    for row in rows:
        line = (f"{row['batch']:>5}  {row['in_process_ms']['median']:>13.2f}  {row['ours_http_ms']['median']:>12.2f}  "
                f"{row['ours_ratio']:>11.2f}x")
        if peer:
            line += (f"  {row['sdk_http_ms']['median']:>11.2f}  {row['sdk_ratio']:>10.2f}x  "
                     f"{row['ours_over_sdk']:>7.2f}x")
        print(line)
    if not steps:
        return
    print("\nwhere our request's time goes (median ms per step, in-process; 'rest' = HTTP median - steps on the path):")
    names = list(steps[0]["steps_ms"])
    print(f"{'step':<40}" + "".join(f"{'batch ' + str(s['batch']):>12}" for s in steps))
    for name in names:
        print(f"{name:<40}" + "".join(f"{s['steps_ms'][name]:>12.3f}" for s in steps))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (e.g. `make serve`) instead of an in-process stack")
    parser.add_argument("--token", default=os.environ.get("ACTIVELABEL_TOKEN") or os.environ.get("ACTIVELABEL_ADMIN_TOKEN"),
                        help="token for --url (env ACTIVELABEL_TOKEN / ACTIVELABEL_ADMIN_TOKEN)")
    parser.add_argument("--n-train", type=int, default=300, help="SMS completions to train on (default 300)")
    parser.add_argument("--train-timeout", type=float, default=600.0, help="seconds to wait for the model")
    parser.add_argument("--no-peer", action="store_true", help="skip the label-studio-ml SDK peer")
    parser.add_argument("--keep-pump", action="store_true",
                        help="keep the local stack's event pump polling while measuring (default: stopped once trained)")
    parser.add_argument("--out", default=str(OUT_FILE), help=f"JSON output (default {OUT_FILE.relative_to(ROOT)})")
    args = parser.parse_args(argv)

    stack = None
    if args.url:
        if urlparse(args.url).hostname not in LOOPBACK_HOSTS:
            parser.error("--url must be a loopback address (this benchmark stays on this machine)")
        if not args.token:
            parser.error("--url needs --token")
        url, token, mode = args.url, args.token, "running server (--url)"
    else:
        from chalicelib.local.server import start_stack

        stack = start_stack(port=0, host="127.0.0.1")
        url, token, mode = stack.url, stack.admin_token, "in-process local stack"
    print(f"activelabel predict benchmark: {mode} at {url}", flush=True)
    peer = None
    steps: list[dict] = []
    layers: list[dict] = []
    try:
        import tempfile

        with ActivelabelClient(url, token, timeout=120) as api, tempfile.TemporaryDirectory() as tmp:
            drain = (lambda: stack.pump.drain(timeout=args.train_timeout)) if stack else None
            project_id, state = train_project(api, args.n_train, drain, args.train_timeout)
            model_version = state["model_version"]
            model, baseline, artifact = served_model(project_id) if stack else refit_model(api, project_id, model_version)
            if stack and not args.keep_pump:
                # On AWS the event sources are polled outside the API function; here the pump's 0.2 s
                # polls would share the API's process (and GIL) with every request measured.
                # Wait for the pump's current delivery (the rescoring that follows a promotion can
                # take seconds here): a handler still running would take the GIL from every request.
                stopping = time.monotonic()
                stack._pump_stop.set()
                stack._pump_thread.join(timeout=args.train_timeout)
                if stack._pump_thread.is_alive():
                    raise RuntimeError("the event pump did not stop")
                print(f"event pump stopped ({time.monotonic() - stopping:.1f} s)", flush=True)
            peer_url = None
            if not args.no_peer:
                peer_url, peer = start_peer(artifact, model_version, Path(tmp))
                print(f"SDK peer: {peer_url or 'skipped (no .venv-lsml: make .venv-lsml/.installed)'}", flush=True)
            rows = measure(url, token, peer_url, project_id, model, model_version)
            if stack:
                steps = breakdown(project_id, model, model_version, rows)
                layers = stages(stack, token, project_id, model, model_version)
    finally:
        if peer is not None:
            peer.terminate()
            peer.wait(timeout=10)
        if stack is not None:
            stack.stop()

    print_tables(rows, steps)
    if layers:
        print_stages(layers)
    print(f"\nbaseline: {baseline}; model served from {type(model.estimator).__module__}")
    report = {
        "benchmark": "POST /predict over HTTP (ours, and the label-studio-ml SDK serving the same model) vs "
                     "in-process model.predictions (predict_proba + Label Studio format), one run",
        "mode": mode + ("" if args.url or args.keep_pump else ", event pump stopped after training"),
        "model_version": model_version,
        "n_train": state["accepted_tasks"],
        "baseline": baseline,
        "results": rows,
        "breakdown": steps,
        "layers": layers,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
