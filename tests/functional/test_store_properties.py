"""Property tests on the store under moto.

Counters: any sequence of completion inserts, deletes, stream deliveries and redeliveries (in any
order, old batches replayed late) leaves every counter equal to the ground truth.
Model versions: promotions in any order, concurrent or not, only ever move the pointer forward.

The ground truth is computed here from the live completions, independently of the stream handler:
completions = live completions; a task is accepted when it has one or more and the share of
agreeing pairs is at least the threshold.
"""
import copy
from concurrent.futures import ThreadPoolExecutor

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activelabel_client.datasets import choice_completion
from chalicelib.store import dynamo
from chalicelib.store import projects as project_db
from chalicelib.store import training as training_db
from chalicelib.domain.records import ModelPointer, ModelVersion
from tests.functional.helpers import import_texts, make_project, training

N_TASKS = 4
THRESHOLD = 0.6

operations = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, N_TASKS - 1), st.sampled_from(["ham", "spam"])),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("deliver")),
    st.tuples(st.just("replay"), st.integers(0, 50)),
), min_size=1, max_size=14)


def expected_state(live):
    by_task: dict[str, list[str]] = {}
    for task_id, label in live.values():
        by_task.setdefault(task_id, []).append(label)
    accepted = 0
    for labels in by_task.values():
        pairs = [(i, j) for i in range(len(labels)) for j in range(i + 1, len(labels))]
        agreement = 1.0 if not pairs else sum(labels[i] == labels[j] for i, j in pairs) / len(pairs)
        accepted += agreement >= THRESHOLD
    return {"completions": len(live), "accepted_tasks": accepted}


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=operations)
def test_counters_equal_the_ground_truth_after_any_event_sequence(api, pump, ops):
    project_id = make_project(api, min_completions=1000, agreement_threshold=THRESHOLD)
    task_ids = import_texts(api, project_id, [{"text": f"message {i}"} for i in range(N_TASKS)])
    live: dict[str, tuple[str, str]] = {}  # completion id -> (task id, label)
    first_batch = len(pump.delivered_stream_batches)
    for n, op in enumerate(ops):
        if op[0] == "add":
            task_id = task_ids[op[1]]
            answer = api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions",
                              choice_completion(op[2], f"ann-{n}"))  # one completion per annotator and task
            assert answer.status_code == 201
            live[answer.json["id"]] = (task_id, op[2])
        elif op[0] == "delete" and live:
            completion_id = sorted(live)[op[1] % len(live)]
            assert api.delete(f"/api/projects/{project_id}/completions/{completion_id}").status_code == 200
            del live[completion_id]
        elif op[0] == "deliver":
            pump.poll_once()
        elif op[0] == "replay":
            batches = pump.delivered_stream_batches[first_batch:]
            if batches:
                pump.invoke("on_completion", copy.deepcopy(batches[op[1] % len(batches)]))
    pump.drain()
    for batch in pump.delivered_stream_batches[first_batch:]:  # and everything once more, late
        pump.invoke("on_completion", copy.deepcopy(batch))
    state = training(api, project_id)
    assert {k: state[k] for k in ("completions", "accepted_tasks")} == expected_state(live), (ops, state)
    tasks = api.get(f"/api/projects/{project_id}/tasks").json["tasks"]
    assert {str(t["id"]): t["total_annotations"] for t in tasks} == {
        t: sum(1 for task, _ in live.values() if task == t) for t in task_ids}


def version_item(project_id, version):
    pointer = ModelPointer(bucket="b", key=f"k{version}", version_id=f"s{version}", sha256="0" * 64,
                           sklearn_version="x", model_version=f"v{version}")
    return ModelVersion(project_id=project_id, version=version, model_version=f"v{version}", model="text_classifier",
                        created_at=dynamo.now(), n_train=1, metrics={}, pointer=pointer, label_changes=version,
                        train_seq=version)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(order=st.permutations(range(1, 9)), concurrent=st.booleans())
def test_promotions_in_any_order_only_move_forward(api, atomic_requests, order, concurrent):
    # atomic_requests: moto in-process is not atomic per request across threads; DynamoDB is.
    project_id = make_project(api)
    if concurrent:
        with ThreadPoolExecutor(4) as pool:
            won = dict(zip(order, pool.map(lambda v: training_db.promote(project_id, version_item(project_id, v)),
                                           order)))
        assert won[8] is True  # the newest always wins, whenever it arrives
    else:
        best = 0
        for version in order:
            assert training_db.promote(project_id, version_item(project_id, version)) is (version > best)
            best = max(best, version)
    project = project_db.get_project(project_id, consistent=True)
    assert (int(project.active_version), project.model_version, project.model.version_id) == (8, "v8", "s8")
