"""GET /next: locks, overlap, low agreement first, 204, and a bounded number of DynamoDB requests."""
import os
import threading
import time

from activelabel_client.datasets import choice_completion
from chalicelib.local.metering import atomic_requests, count_dynamodb_requests
from tests.functional.helpers import balanced_rows, complete, import_texts, make_project


def next_for(api, project_id, annotator):
    answer = api.get(f"/api/projects/{project_id}/next?annotator={annotator}")
    assert answer.status_code in (200, 204), answer.json
    return answer.json if answer.status_code == 200 else None


def test_next_locks_a_task_for_one_annotator(api, pump):
    project_id = make_project(api, min_completions=5)
    import_texts(api, project_id, balanced_rows(30))
    first = next_for(api, project_id, "alice")
    assert first["data"]["text"] and first["lock"]["owner"] == "alice"
    other = next_for(api, project_id, "bob")
    assert other["id"] != first["id"]
    assert next_for(api, project_id, "alice")["id"] == first["id"]  # her own lock is served again
    complete(api, project_id, first["id"], "ham", annotator="alice")
    pump.drain()
    served = {next_for(api, project_id, "alice")["id"] for _ in range(3)}
    assert first["id"] not in served  # never a task she completed


def test_a_released_task_goes_to_the_next_annotator_at_once(api, pump):
    project_id = make_project(api, min_completions=5)
    import_texts(api, project_id, balanced_rows(30))
    task = next_for(api, project_id, "alice")
    lock = f"/api/projects/{project_id}/tasks/{task['id']}/lock"
    refused = api.delete(f"{lock}?annotator=bob")
    assert refused.status_code == 409 and refused.json["Field"] == "annotator"
    assert api.get(f"/api/projects/{project_id}/tasks/{task['id']}").status_code == 200
    assert next_for(api, project_id, "bob")["id"] != task["id"]  # still alice's
    assert api.delete(f"{lock}?annotator=alice").json == {"id": task["id"], "released": True}
    assert api.delete(f"{lock}?annotator=alice").json == {"id": task["id"], "released": False}  # idempotent
    assert next_for(api, project_id, "carol")["id"] == task["id"]  # first in line again, for anyone


def test_releasing_needs_an_annotator_and_an_existing_task(api):
    project_id = make_project(api)
    ids = import_texts(api, project_id, balanced_rows(2))
    missing = api.delete(f"/api/projects/{project_id}/tasks/{ids[0]}/lock")
    assert missing.status_code == 400 and missing.json["Field"] == "annotator"
    unknown = api.delete(f"/api/projects/{project_id}/tasks/999/lock?annotator=a")
    assert unknown.status_code == 404 and unknown.json["Field"] == "task_id"
    assert api.delete(f"/api/projects/{project_id}/tasks/x/lock?annotator=a").json["Field"] == "task_id"
    assert api.delete("/api/projects/999/tasks/1/lock?annotator=a").status_code == 404


def test_missing_annotator_is_a_400_naming_the_field(api):
    project_id = make_project(api)
    answer = api.get(f"/api/projects/{project_id}/next")
    assert answer.status_code == 400 and answer.json["Field"] == "annotator"
    assert api.get("/api/projects/999/next?annotator=a").status_code == 404


def test_204_when_nothing_is_left(api, pump):
    project_id = make_project(api, min_completions=5)
    ids = import_texts(api, project_id, balanced_rows(3))
    for _ in ids:
        task = next_for(api, project_id, "alice")
        complete(api, project_id, task["id"], "ham", annotator="alice")
    pump.drain()
    assert api.get(f"/api/projects/{project_id}/next?annotator=alice").status_code == 204
    # bob has not done them, but with overlap 1 they are finished
    assert api.get(f"/api/projects/{project_id}/next?annotator=bob").status_code == 204


def test_overlap_serves_a_started_task_to_a_second_annotator_first(api, pump):
    project_id = make_project(api, min_completions=5, overlap=2)
    import_texts(api, project_id, balanced_rows(20))
    task = next_for(api, project_id, "alice")
    complete(api, project_id, task["id"], "spam", annotator="alice")
    pump.drain()
    assert next_for(api, project_id, "bob")["id"] == task["id"]
    assert next_for(api, project_id, "alice")["id"] != task["id"]
    complete(api, project_id, task["id"], "spam", annotator="bob")
    pump.drain()
    assert api.get(f"/api/projects/{project_id}/tasks/{task['id']}").json["is_labeled"]
    assert next_for(api, project_id, "carol")["id"] != task["id"]  # accepted: done


def test_low_agreement_goes_to_an_extra_annotator_first(api, pump):
    project_id = make_project(api, min_completions=5, overlap=2, agreement_threshold=0.9)
    import_texts(api, project_id, balanced_rows(20))
    agreed = next_for(api, project_id, "alice")
    complete(api, project_id, agreed["id"], "ham", annotator="alice")
    disputed = next_for(api, project_id, "alice")
    complete(api, project_id, disputed["id"], "ham", annotator="alice")
    pump.drain()
    assert next_for(api, project_id, "bob")["id"] in (agreed["id"], disputed["id"])
    api.post(f"/api/projects/{project_id}/tasks/{agreed['id']}/completions", choice_completion("ham", "bob"))
    api.post(f"/api/projects/{project_id}/tasks/{disputed['id']}/completions", choice_completion("spam", "bob"))
    pump.drain()
    state = api.get(f"/api/projects/{project_id}/tasks/{disputed['id']}").json
    assert state["agreement"] < 0.9 and not state["is_labeled"]
    assert next_for(api, project_id, "carol")["id"] == disputed["id"]
    assert next_for(api, project_id, "alice")["id"] not in (agreed["id"], disputed["id"])


def run_concurrently(work, annotators) -> list[Exception]:
    """Run `work(annotator)` in one thread per annotator, each DynamoDB request atomic (moto is not
    thread-safe; DynamoDB's requests are atomic); return what the threads raised."""
    errors = []

    def run(name):
        try:
            work(name)
        except Exception as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in annotators]
    with atomic_requests():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return errors


# calls per annotator, each completing the task it gets (the skip test below makes 1,000 calls)
CONCURRENT_CALLS = int(os.environ.get("ACTIVELABEL_CONCURRENT_NEXT_CALLS", "50"))


def test_two_annotators_never_receive_the_same_task(api, pump):
    """Two annotators call next at once, each completing every task they get: never the same task."""
    from chalicelib.services.next_task import assign
    from chalicelib.domain.settings import DEFAULTS
    from chalicelib.store import completions as completion_db

    project_id = make_project(api, min_completions=5)
    rows = balanced_rows(50)
    for start in range(0, 2 * CONCURRENT_CALLS, 500):
        import_texts(api, project_id, [rows[i % 50] for i in range(start, min(2 * CONCURRENT_CALLS, start + 500))])
    settings = {**DEFAULTS, "min_completions": 5}
    served: dict[str, list[int]] = {"alice": [], "bob": []}

    def work(name):
        for _ in range(CONCURRENT_CALLS):
            task = assign(project_id, name, settings, 0)
            served[name].append(int(task.task_id))
            completion_db.add_completion(project_id, int(task.task_id), choice_completion("ham", name), max_per_task=100)

    errors = run_concurrently(work, served)
    assert not errors, errors[:1]
    assert len(served["alice"]) == len(set(served["alice"])) == CONCURRENT_CALLS
    assert len(served["bob"]) == len(set(served["bob"])) == CONCURRENT_CALLS
    assert not set(served["alice"]) & set(served["bob"])


# calls per annotator: 2 x 500 = the 1,000 concurrent calls (about 50 s on moto, which costs
# ~20 ms a request here); ACTIVELABEL_CONCURRENT_SKIP_CALLS=1000 runs 1,000 each
SKIP_CALLS = int(os.environ.get("ACTIVELABEL_CONCURRENT_SKIP_CALLS", "500"))


def test_two_annotators_calling_next_1000_times_never_hold_the_same_task(api, pump):
    """Two annotators call next 1,000 times at once (500 each) on a small pool, so they fight over the
    same few tasks: after each call they give the task back (skip) or, one call in twenty, complete
    it. While one holds a task the other is never served it: on each task, the spans between
    "served" (taken after the answer) and "given back" (taken before the release is sent) of
    different annotators never overlap; no task is served to someone who completed it."""
    from chalicelib.services.next_task import assign
    from chalicelib.domain.settings import DEFAULTS
    from chalicelib.store import completions as completion_db
    from chalicelib.store import tasks as task_db

    project_id = make_project(api, min_completions=5)
    import_texts(api, project_id, balanced_rows(SKIP_CALLS // 10 + 30))  # one call in twenty completes
    settings = {**DEFAULTS, "min_completions": 5}
    held: dict[str, list[tuple[int, float, float]]] = {"alice": [], "bob": []}
    completed: dict[str, set[int]] = {"alice": set(), "bob": set()}

    def work(name):
        for call in range(SKIP_CALLS):
            task = assign(project_id, name, settings, 0)
            served_at = time.monotonic()
            task_id = int(task.task_id)
            assert task_id not in completed[name]
            assert task.lock_owner == name
            released_at = time.monotonic()
            if call % 20 == 19:
                completed[name].add(task_id)
                completion_db.add_completion(project_id, task_id, choice_completion("ham", name), max_per_task=100)
            else:
                assert task_db.release_lock(project_id, task_id, name)
            held[name].append((task_id, served_at, released_at))

    errors = run_concurrently(work, held)
    assert not errors, errors[:1]
    assert len(held["alice"]) == len(held["bob"]) == SKIP_CALLS
    spans_by_task: dict[int, list[tuple[float, float, str]]] = {}
    for name, spans in held.items():
        for task_id, start, end in spans:
            spans_by_task.setdefault(task_id, []).append((start, end, name))
    contested = 0
    for spans in spans_by_task.values():
        spans.sort()
        contested += len({name for _, _, name in spans}) > 1
        for (_, end, name), (next_start, _, next_name) in zip(spans, spans[1:]):
            assert name == next_name or end <= next_start, "two annotators held one task at once"
    assert contested > 0  # they did fight over the same tasks: the check above was exercised


def _requests_per_next(api, pump, n_tasks):
    project_id = make_project(api, min_completions=5)
    rows = balanced_rows(50)
    for start in range(0, n_tasks, 500):
        import_texts(api, project_id, [rows[i % 50] for i in range(start, min(n_tasks, start + 500))])
    counts = []
    for annotator in ("a1", "a2", "a3", "a4"):
        with count_dynamodb_requests() as calls:
            assert next_for(api, project_id, annotator) is not None
        counts.append(dict(calls))
    return counts


def test_next_costs_the_same_requests_for_small_and_large_pools(api, pump):
    small = _requests_per_next(api, pump, 100)
    large = _requests_per_next(api, pump, 2000)
    assert small == large
    # project + the annotator's held task (one GetItem) + rework + pool queries + one lock + recording it
    assert all(sum(c.values()) <= 6 for c in small)
    assert all("Scan" not in c for c in small)


def test_50_concurrent_callers_on_60_open_tasks_each_get_a_distinct_task(api, pump):
    """A burst: 50 annotators call next at once (requests serialised as DynamoDB serialises each
    one): every caller gets a task, no task goes to two callers, nobody gets 204 early."""
    project_id = make_project(api, min_completions=5)
    import_texts(api, project_id, balanced_rows(60))
    from chalicelib.services.next_task import next_for

    served: dict[str, int | None] = {}

    def work(name):
        task = next_for(project_id, name)
        served[name] = None if task is None else int(task.task_id)

    with atomic_requests():
        threads = [threading.Thread(target=work, args=(f"ann-{i}",)) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert len(served) == 50 and None not in served.values(), served
    assert len(set(served.values())) == 50


def test_one_annotator_calling_next_at_once_holds_one_task(api, pump):
    project_id = make_project(api, min_completions=5)
    import_texts(api, project_id, balanced_rows(30))
    from chalicelib.services.next_task import next_for

    served = []
    with atomic_requests():
        threads = [threading.Thread(target=lambda: served.append(int(next_for(project_id, "alice").task_id)))
                   for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert len(served) == 10 and len(set(served)) == 1, served
    from chalicelib.store import tasks as task_db

    held = [int(t.task_id) for t in task_db.iter_tasks(project_id)
            if t.lock_owner == "alice" and float(t.lock_until) > time.time()]
    assert held == [served[0]]  # the nine losers gave their locks back
