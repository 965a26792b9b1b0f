"""Probe from outside (issue 26): `python -m chalicelib.local serve` (what `make serve` runs) as a
child process on a free loopback port with its own state folder, then:

1. imports killed mid-write: a 2,000-task import (plain, then each task with an annotation) sent
   with an Idempotency-Key, the server killed with SIGKILL while it writes, restarted on the same
   state, the same request sent again with the same key until it lands: every task exactly once,
   with its annotation;
2. 20 rounds of two concurrent partial `PUT /ml` and 20 rounds of a pin racing a `PUT /ml`:
   nothing lost, the pin is the active version;
3. the state folder's and file's modes.

    .venv/bin/python bench/probe_resilience.py [--tasks 2000] [--rounds 20]

Loopback only; every loop is bounded; each server is stopped by its PID. Prints the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion  # noqa: E402

TOKEN = "probe-admin-token"
HEADERS = {"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, state: Path, port: int):
        self.state, self.port, self.proc = state, port, None
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 120) -> None:
        env = {**os.environ, "ACTIVELABEL_ADMIN_TOKEN": TOKEN}
        self.proc = subprocess.Popen([sys.executable, "-m", "chalicelib.local", "serve", "--port", str(self.port),
                                      "--state-dir", str(self.state), "--schedule-every", "0"],
                                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/health", timeout=2).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("the server did not start")

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def api(server, method, path, body=None, headers=None, timeout=120):
    return requests.request(method, f"{server.url}{path}", data=None if body is None else json.dumps(body),
                            headers={**HEADERS, **(headers or {})}, timeout=timeout)


def count_tasks(server, project_id) -> tuple[int, int, int]:
    """(tasks, distinct texts, annotations) from the export."""
    tasks = api(server, "GET", f"/api/projects/{project_id}/export").json()["tasks"]
    return len(tasks), len({t["data"]["text"] for t in tasks}), sum(len(t.get("annotations", [])) for t in tasks)


def killed_import(server, n: int, annotated: bool) -> dict:
    project_id = api(server, "POST", "/api/projects", {"title": "probe", "label_config": SMS_LABEL_CONFIG,
                                                       "ml": {"min_completions": 100_000}}).json()["id"]
    tasks = [{"data": {"text": f"message {i} {uuid.uuid4().hex[:6]}"},
              **({"annotations": [choice_completion("ham" if i % 3 else "spam", "importer")]} if annotated else {})}
             for i in range(n)]
    key = str(uuid.uuid4())
    first = {}

    def send():
        try:
            first["answer"] = api(server, "POST", f"/api/projects/{project_id}/tasks", tasks, {"Idempotency-Key": key})
        except requests.RequestException as exc:
            first["error"] = type(exc).__name__

    thread = threading.Thread(target=send)
    thread.start()
    stored_at_kill = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "answer" not in first:  # kill once some tasks are stored
        try:
            record = api(server, "GET", f"/api/projects/{project_id}/imports/{key}", timeout=5)
            if record.status_code == 200:
                stored_at_kill = len(api(server, "GET", f"/api/projects/{project_id}/tasks?limit=1000",
                                         timeout=10).json()["tasks"])
                if stored_at_kill >= min(200, n // 5):
                    break
        except requests.RequestException:
            pass
        time.sleep(0.05)
    server.kill()
    thread.join(60)
    killed_mid = "answer" not in first
    server.start()
    after_restart = count_tasks(server, project_id)
    record = api(server, "GET", f"/api/projects/{project_id}/imports/{key}").json()
    attempts, started = 0, time.monotonic()
    while True:
        attempts += 1
        answer = api(server, "POST", f"/api/projects/{project_id}/tasks", tasks, {"Idempotency-Key": key})
        if answer.status_code == 201 or attempts >= 30:
            break
        time.sleep(2)
    retry_seconds = time.monotonic() - started
    deadline = time.monotonic() + 900  # the stream counts the annotations (slowly on a loaded machine)
    while annotated and time.monotonic() < deadline:
        if api(server, "GET", f"/api/projects/{project_id}/training").json()["completions"] >= n:
            break
        time.sleep(0.5)
    again = api(server, "POST", f"/api/projects/{project_id}/tasks", tasks, {"Idempotency-Key": key})
    tasks_n, distinct, annotations = count_tasks(server, project_id)
    completions = api(server, "GET", f"/api/projects/{project_id}/training").json()["completions"]
    return {"annotated": annotated, "tasks_sent": n, "killed_mid_import": killed_mid,
            "tasks_listed_before_kill": stored_at_kill, "after_restart": {"tasks": after_restart[0],
                                                                          "annotations": after_restart[2]},
            "record_after_restart": {k: record.get(k) for k in ("state", "writing", "count")},
            "retry": {"status": answer.status_code, "attempts": attempts, "seconds": round(retry_seconds, 1)},
            "replay": {"status": again.status_code, "same_ids": again.json() == answer.json(),
                       "replayed_header": again.headers.get("Idempotent-Replayed")},
            "final": {"tasks": tasks_n, "distinct": distinct, "annotations": annotations,
                      "completions_counted": completions},
            "ok": answer.status_code == 201 and tasks_n == distinct == n and annotations == (n if annotated else 0)
            and (not annotated or completions == n)}


def settings_races(server, rounds: int) -> dict:
    project_id = api(server, "POST", "/api/projects", {"title": "race", "label_config": SMS_LABEL_CONFIG,
                                                       "ml": {"min_completions": 30, "retrain_every": 100_000,
                                                              "preannotate": False}}).json()["id"]
    from tests.functional.helpers import balanced_rows

    rows = balanced_rows(30)
    api(server, "POST", f"/api/projects/{project_id}/tasks",
        [{"data": {"text": r["text"]}, "annotations": [choice_completion(r["label"], "a")]} for r in rows])

    def wait_version(name, timeout=900):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if api(server, "GET", f"/api/projects/{project_id}/training").json().get("model_version") == name:
                return True
            time.sleep(0.5)
        return False

    if not wait_version("v1"):
        return {"ok": False, "error": "v1 was not trained within 15 min"}
    api(server, "POST", f"/api/projects/{project_id}/train")
    if not wait_version("v2"):
        return {"ok": False, "error": "v2 was not trained within 15 min"}
    lost, mismatched = 0, 0
    for n in range(rounds):
        sampling = ["random", "uncertainty"][n % 2]
        calls = [lambda: api(server, "PUT", f"/api/projects/{project_id}/ml", {"sampling": sampling}),
                 lambda: api(server, "PUT", f"/api/projects/{project_id}/ml", {"min_completions": 40 + n})]
        run_together(calls)
        ml = api(server, "GET", f"/api/projects/{project_id}/ml").json()
        lost += (ml["sampling"], ml["min_completions"]) != (sampling, 40 + n)
    for n in range(rounds):
        version = 1 + n % 2
        calls = [lambda: api(server, "PUT", f"/api/projects/{project_id}/model-versions/{version}/active",
                             {"pin": True}),
                 lambda: api(server, "PUT", f"/api/projects/{project_id}/ml", {"min_completions": 100 + n})]
        statuses = run_together(calls)
        ml = api(server, "GET", f"/api/projects/{project_id}/ml").json()
        active = api(server, "GET", f"/api/projects/{project_id}/training").json()["model_version"]
        lost += ml["min_completions"] != 100 + n or any(s != 200 for s in statuses)
        mismatched += f"v{ml['pinned_version']}" != active or ml["pinned_version"] != version
    return {"rounds": rounds, "settings_lost": lost, "pin_not_active": mismatched, "ok": lost == mismatched == 0}


def run_together(calls) -> list[int]:
    barrier, out = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i):
        barrier.wait()
        out[i] = calls[i]().status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="activelabel-probe-") as tmp:
        state = Path(tmp) / "state"
        server = Server(state, free_port())
        server.start()
        results = {}
        try:
            results["races"] = settings_races(server, args.rounds)
            print(json.dumps(results), flush=True)
            results["import_plain"] = killed_import(server, args.tasks, annotated=False)
            print(json.dumps(results), flush=True)
            results["import_annotated"] = killed_import(server, args.tasks, annotated=True)
            files = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in state.iterdir() if p.is_file()}
            results["state_modes"] = {"folder": oct(stat.S_IMODE(state.stat().st_mode)), "files": files}
        finally:
            server.stop()
    print(json.dumps(results, indent=2))
    return 0 if all(r.get("ok", True) for r in results.values() if isinstance(r, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
