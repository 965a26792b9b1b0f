"""`make e2e-labelstudio`, part 2: `ml.labelstudio_stream` against a real Label Studio 1.23.2 (issue 24).

1. local stack + Label Studio; a Label Studio project (SMS spam, N_TASKS tasks) connected to `/ls/`,
   the webhook given our Basic credential; a second annotator signs up (Label Studio's own form);
2. switch on (`PUT /ml {"labelstudio_stream": true}`): Label Studio's project shows
   "Uncertainty sampling" and `show_overlap_first`;
3. annotator A labels through Label Studio's own next-task endpoint (`GET /api/projects/{n}/next`,
   then `POST /api/tasks/{id}/annotations`), as its UI does, from the ground truth, with a few
   labels flipped on purpose; v1 trains, its predictions are pushed and Label Studio's
   `model_version` follows; then the task served is the least confident one;
4. later versions calibrate auto-labelling: their auto labels become Label Studio annotations made
   from `activelabel-auto-v<n>` predictions, which are not counted as human completions;
5. the suspects job flags flipped labels: Label Studio serves a flagged task to annotator B first;
   B's corrected label arrives by webhook;
6. switch off: Label Studio's sampling comes back.
"""
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from activelabel_client.datasets import SMS_LABEL_CONFIG, sms_split  # noqa: E402
from e2e_labelstudio.run import (BASIC_PASS, BASIC_USER, LS_TOKEN, LabelStudio, check, free_port, stop_labelstudio,  # noqa: E402
                                 start_labelstudio, wait_for)

N_TASKS, FLIPPED = 300, 6


def result(label: str) -> list:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def sign_up(url: str, email: str, password: str) -> str:
    """A second Label Studio user through its own signup form; returns its API token."""
    s = requests.Session()
    s.get(f"{url}/user/signup/", timeout=30)
    s.post(f"{url}/user/signup/", data={"csrfmiddlewaretoken": s.cookies.get("csrftoken"), "email": email,
                                       "password": password, "how_find_us": "e2e", "allow_newsletters": "false"},
           headers={"Referer": f"{url}/user/signup/"}, allow_redirects=False, timeout=30)
    return s.get(f"{url}/api/current-user/token", timeout=30).json()["token"]


class Annotator:
    """Labels as Label Studio's UI does: the next task of the project's stream, then an annotation."""

    def __init__(self, url: str, token: str, project: int):
        self.ls, self.project = LabelStudio(url), project
        self.ls.s.headers["Authorization"] = f"Token {token}"

    def next(self) -> dict | None:
        r = self.ls.s.get(f"{self.ls.url}/api/projects/{self.project}/next", timeout=120)
        return r.json() if r.status_code == 200 else None

    def annotate(self, task_id: int, label: str) -> None:
        self.ls.call("POST", f"/api/tasks/{task_id}/annotations", json={"result": result(label), "lead_time": 1.0})


def main() -> int:
    os.environ["ACTIVELABEL_LS_BASIC_AUTH"] = f"{BASIC_USER}:{BASIC_PASS}"
    from chalicelib.local.server import start_stack

    data_dir = tempfile.mkdtemp(prefix="activelabel-ls-stream-")
    log_path = Path(data_dir) / "label-studio.log"
    stack = start_stack(port=0, schedule_every=None, record_deliveries=True)
    port = free_port()
    proc = start_labelstudio(port, data_dir, log_path)
    ours = requests.Session()
    ours.headers["Authorization"] = f"Token {stack.admin_token}"
    try:
        run(stack, ours, LabelStudio(f"http://127.0.0.1:{port}"), proc, log_path)
        print("PASS", flush=True)
        return 0
    finally:
        stop_labelstudio(proc, stack, data_dir)


def connect(stack, ours, ls, proc, log_path, rows) -> tuple[int, str, list]:
    def up():
        if proc.poll() is not None:
            check(False, f"Label Studio exited with {proc.returncode}; see {log_path}")
        try:
            return requests.get(ls.url + "/api/version", timeout=2, headers={"Authorization": f"Token {LS_TOKEN}"}).ok
        except requests.RequestException:
            return False

    t0 = time.monotonic()
    wait_for(up, 400, "Label Studio answers /api/version", every=2)
    print(f"1. Label Studio up after {time.monotonic() - t0:.0f} s", flush=True)
    pid = ls.call("POST", "/api/projects", json={"title": "stream e2e", "label_config": SMS_LABEL_CONFIG})["id"]
    ls.call("POST", f"/api/projects/{pid}/import", json=[{"text": r["text"]} for r in rows])
    tasks = sorted(ls.tasks(pid), key=lambda t: t["id"])
    ls.call("POST", "/api/ml", json={"url": stack.url + "/ls/", "project": pid, "title": "activelabel",
                                     "auth_method": "BASIC_AUTH", "basic_auth_user": BASIC_USER,
                                     "basic_auth_pass": BASIC_PASS})
    hook = [w for w in ls.call("GET", f"/api/webhooks/?project={pid}") if w["url"].rstrip("/").endswith("/ls/webhook")]
    basic = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASS}".encode()).decode()
    ls.call("PATCH", f"/api/webhooks/{hook[0]['id']}/", json={"headers": {"Authorization": basic}})
    our_id = ours.get(stack.url + "/api/projects").json()["projects"][0]["id"]
    check(len(tasks) == N_TASKS, f"   Label Studio project {pid}: {len(tasks)} tasks, connected to activelabel "
                                 f"project {our_id}, webhook with our Basic credential")
    return pid, f"{stack.url}/api/projects/{our_id}", tasks


def run(stack, ours, ls, proc, log_path) -> None:
    rows, _ = sms_split(N_TASKS, 0, seed=24)
    pid, api, tasks = connect(stack, ours, ls, proc, log_path, rows)
    truth = {t["id"]: r["label"] for t, r in zip(tasks, rows)}
    b_token = sign_up(ls.url, "annotator-b@example.com", "annotator-b-pass-1")
    answer = ours.put(f"{api}/ml", json={
        "labelstudio_stream": True, "min_completions": 20, "retrain_every": 20, "promotion": "always",
        "suspects": True, "auto_label": {"enabled": True, "target_accuracy": 0.8, "confidence": 0.8,
                                         "min_validation": 10, "audit_rate": 0.1}})
    check(answer.status_code == 200, f"2. switch on: {answer.status_code}")
    settings = wait_for(lambda: (lambda p: p if p["sampling"] == "Uncertainty sampling" else None)(
        ls.call("GET", f"/api/projects/{pid}")), 60, "Label Studio's sampling follows")
    check(settings["show_overlap_first"], f"   Label Studio project: sampling {settings['sampling']!r}, "
                                          f"show_overlap_first {settings['show_overlap_first']}")
    a = Annotator(ls.url, LS_TOKEN, pid)
    spam = [t for t in sorted(truth) if truth[t] == "spam"]
    flipped = set(spam[:FLIPPED])  # A labels these ham: obvious mistakes for the suspects job
    labelled = {}

    def label_until(n: int) -> None:
        while len(labelled) < n:
            task = a.next()
            if task is None:
                return
            label = "ham" if task["id"] in flipped else truth[task["id"]]
            a.annotate(task["id"], label)
            labelled[task["id"]] = label

    for task_id in sorted(flipped):  # A's flipped labels, made directly on those tasks
        a.annotate(task_id, "ham")
        labelled[task_id] = "ham"
    label_until(40)
    state = wait_for(lambda: (lambda b: b if b["model_version"] and b["state"] == "idle" else None)(
        ours.get(f"{api}/training").json()), 900, "a model trained from Label Studio's annotations")
    print(f"   trained {state['model_version']} ({len(labelled)} labels); jobs: " + "; ".join(
        f"{j['kind']} {j['state']} {j.get('error') or ''}" for j in ours.get(f"{api}/jobs").json()["jobs"][:6]), flush=True)

    def follows():
        version = ours.get(f"{api}/training").json()["model_version"]
        found = ls.call("GET", f"/api/projects/{pid}")
        return found if found.get("model_version") == version else None

    project = wait_for(follows, 900, "Label Studio's model_version follows the active version", every=3)
    version = project["model_version"]
    check(True, f"3. {len(labelled)} labels through Label Studio's stream; {version} trained and pushed; "
                f"Label Studio model_version {project['model_version']!r}")
    check_order(ls, a, pid, labelled, truth)
    label_until(120)
    check_auto(ls, ours, api, pid, truth)
    check_relabel(ls, ours, api, pid, b_token, flipped, truth)
    answer = ours.put(f"{api}/ml", json={"labelstudio_stream": False})
    settings = wait_for(lambda: (lambda p: p if p["sampling"] == "Sequential sampling" else None)(
        ls.call("GET", f"/api/projects/{pid}")), 60, "Label Studio's sampling restored")
    check(not settings["show_overlap_first"], f"6. switch off: sampling {settings['sampling']!r}, "
                                              f"show_overlap_first {settings['show_overlap_first']}")


def stream_keys(ls, pid, solved: set) -> dict[int, tuple]:
    """Label Studio's uncertainty-sampling key of each unlabeled task holding a prediction of the
    project's model_version: (how many tasks the annotator solved in its cluster, its score)."""
    version = ls.call("GET", f"/api/projects/{pid}")["model_version"]
    open_tasks = {t["id"] for t in ls.tasks(pid) if not t["is_labeled"]}
    predictions = ls.predictions(pid)
    clusters: dict[int, list] = {}
    for p in predictions:
        clusters.setdefault(p["task"], []).append(p.get("cluster"))
    solved_in = {}
    for task in solved:  # Max('predictions__cluster') of each solved task (None when none has one)
        found = [c for c in clusters.get(task, []) if c is not None]
        key = max(found) if found else None
        solved_in[key] = solved_in.get(key, 0) + 1
    keys = {}
    for p in predictions:
        if p["model_version"] == version and p["task"] in open_tasks:
            key = (solved_in.get(p.get("cluster"), 0), p["score"])
            keys[p["task"]] = min(keys.get(p["task"], key), key)
    return keys


def check_order(ls, a, pid, labelled, truth) -> None:
    keys = stream_keys(ls, pid, set(labelled))
    task = a.next()
    check(task["id"] in keys, f"   Label Studio's next task {task['id']} holds a prediction of the active version")
    ranked = sorted(keys.values())
    rank = sum(k < keys[task["id"]] for k in ranked)
    by_score = sum(k[1] < keys[task["id"]][1] for k in ranked)
    check(rank <= 2, f"   Label Studio's next task {task['id']}: score {keys[task['id']][1]:.3f}, rank {rank} of "
                     f"{len(ranked)} unlabeled tasks in Label Studio's order (least-solved cluster, then lowest "
                     f"score; rank {by_score} by score alone, lowest {min(k[1] for k in ranked):.3f}; with two "
                     f"annotators it picks at random among the first three)")
    a.annotate(task["id"], truth[task["id"]])
    labelled[task["id"]] = truth[task["id"]]


def check_auto(ls, ours, api, pid, truth) -> None:
    def auto_annotations():
        names = {p["id"]: p["model_version"] for p in ls.predictions(pid)}
        found = [(t["id"], an) for t in ls.tasks(pid) for an in t["annotations"]
                 if str(names.get(an.get("parent_prediction"), "")).startswith("activelabel-auto-")]
        return found or None

    state = ours.get(f"{api}/training").json()
    print(f"   auto-labelling: {state.get('auto_label', {}).get('reason')}, calibration "
          f"{(state.get('auto_label') or {}).get('calibration', {}).get('reason')}; last_error {state.get('last_error')}",
          flush=True)
    found = wait_for(auto_annotations, 600, "auto labels written as Label Studio annotations", every=5)
    right = sum(an["result"][0]["value"]["choices"][0] == truth[t] for t, an in found)
    state = ours.get(f"{api}/training").json()
    humans = sum(len([an for an in t["annotations"] if not an.get("parent_prediction")]) for t in ls.tasks(pid))
    check(state["completions"] <= humans, f"4. {len(found)} auto annotations in Label Studio ({right} match the "
                                          f"ground truth); activelabel counts {state['completions']} completions for "
                                          f"{humans} human annotations (the auto ones are not counted)")


def check_relabel(ls, ours, api, pid, b_token, flipped, truth) -> None:
    flagged = wait_for(lambda: ours.get(f"{api}/suspects").json().get("suspects") or None, 300,
                       "the suspects job flags a label", every=5)
    ids = {ours.get(f"{api}/tasks/{s['task_id']}").json()["meta"]["ls_task_id"] for s in flagged}
    served = wait_for(lambda: (lambda t: t if t["overlap"] > 1 else None)(ls.call("GET", f"/api/tasks/{min(ids)}")),
                      120, "a flagged task's overlap raised in Label Studio")
    b = Annotator(ls.url, b_token, pid)
    task = b.next()
    check(task is not None and task["overlap"] > 1,
          f"5. {len(flagged)} flagged ({len(ids & flipped)} of them flipped on purpose); Label Studio serves "
          f"annotator B task {task and task['id']} (overlap {task and task['overlap']}) first")
    b.annotate(task["id"], truth[task["id"]])
    after = ls.call("GET", f"/api/tasks/{task['id']}")
    check(after["is_labeled"], f"   B's label {truth[task['id']]!r} on task {task['id']}: is_labeled again; "
                               f"served overlap task was {served['id']}")


if __name__ == "__main__":
    sys.exit(main())
