"""`make serve` keeps its state: `kill -9` mid-training, restart on the same directory, and
everything acknowledged is there. (`fresh=True` is tested in tests/functional/local/
test_local_state.py, the `--fresh` flag below `make serve FRESH=1` in test_local_cli.py.)

The server runs as `python -m chalicelib.local serve` in a child process on 127.0.0.1 (port 0),
stopped by its PID. Small data: 60 tasks, about 20 completions.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from activelabel_client.client import ActivelabelClient
from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion, classes_first, sms_split

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"ready on (http://127\.0\.0\.1:\d+) \(admin token: ([^;]+); state in")


class Served:
    def __init__(self, state_dir: Path, *extra: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ACTIVELABEL_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local", "serve", "--port", "0",
             "--schedule-every", "0", "--state-dir", str(state_dir), *extra],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            match = READY.search(line)
            if match:
                self.url, self.token = match.group(1), match.group(2)
                return
            if not line and self.proc.poll() is not None:
                break
        self.kill()
        raise AssertionError(f"the server did not start: {line!r}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()


def wait_for(predicate, timeout: float = 90.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not reached within {timeout}s")


@pytest.fixture
def sms():
    pool, _ = sms_split(60, 10, seed=5)
    return pool


def test_kill_9_mid_training_then_restart_finds_everything(tmp_path, sms):
    state_dir = tmp_path / "state"
    order = classes_first(sms, per_class=6)
    server = Served(state_dir)
    try:
        with ActivelabelClient(server.url, server.token, timeout=30) as api:
            project = api.create_project("kept", SMS_LABEL_CONFIG,
                                         ml={"min_completions": 10, "retrain_every": 1000})
            pid = project["id"]
            task_ids = api.import_tasks(pid, [{"data": {"text": r["text"]}} for r in sms],
                                        progress=False)
            for i in order[:12]:
                c = choice_completion(sms[i]["label"], "ann-1")
                api.add_completion(pid, task_ids[i], c["result"], c["completed_by"])
            v1 = wait_for(lambda: api.active_model_version(pid))
            reader = api.request("POST", "/api/tokens",
                                 {"name": "r", "role": "reader", "projects": [pid]})
            for i in order[12:18]:
                c = choice_completion(sms[i]["label"], "ann-1")
                api.add_completion(pid, task_ids[i], c["result"], c["completed_by"])
            wait_for(lambda: api.training(pid)["completions"] == 18)
            api.train(pid)
            wait_for(lambda: api.training(pid)["state"] == "training", every=0.01)
            # the pump is busy training: these three wait, unhandled, in the stream
            for i in order[18:21]:
                c = choice_completion(sms[i]["label"], "ann-2")
                api.add_completion(pid, task_ids[i], c["result"], c["completed_by"])
            server.kill()  # kill -9 mid-training

        server = Served(state_dir)
        with ActivelabelClient(server.url, server.token, timeout=30) as api:
            # a model answers at once: v1 (or the retried training's, if it was that quick)
            predicted = api.predict(pid, [{"data": {"text": "WIN a free prize, call now"}}])
            assert [p["id"] for p in api.list_projects()] == [pid]
            assert sorted(str(t["id"]) for t in api.iter_tasks(pid)) == sorted(map(str, task_ids))
            with ActivelabelClient(server.url, reader["token"], timeout=30) as as_reader:
                assert as_reader.get_project(pid)["id"] == pid  # the token survived
            # the unhandled records are counted after the restart, once
            state = wait_for(lambda: (lambda s: s if s["completions"] == 21 else None)(
                api.training(pid)))
            assert state["completions"] == 21
            # the interrupted training is retried and finishes
            done = wait_for(lambda: (lambda s: s if s["state"] == "idle"
                                     and s["trained_seq"] >= s["request_seq"] else None)(
                api.training(pid)), timeout=120, every=0.2)
            assert done["model_version"] != v1["model_version"], done
            names = [v["model_version"] for v in api.model_versions(pid)]
            print("model versions after the restart:", names, "predicted with",
                  predicted[0]["model_version"])
            assert v1["model_version"] in names and done["model_version"] in names
            assert predicted[0]["model_version"] in names
            time.sleep(1.0)
            assert api.training(pid)["completions"] == 21
    finally:
        server.kill()
