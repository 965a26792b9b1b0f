"""Concurrent settings writes and pointer moves by hand (issue 26, item 2): each is one write
conditioned on the project's revision as read, recomputed on a conflict, so two partial writes
both land and the pin always names the version the pointer serves.

Real threads against moto; `atomic_requests` makes each AWS request atomic as DynamoDB's are (moto
in-process is not), so every interleaving left is one between our requests: the races under test.
"""
import threading

from chalicelib.services import model_versions
from chalicelib.services import projects as project_service
from chalicelib.store import projects as project_db
from tests.functional.helpers import make_project, training
from tests.functional.test_model_registry import annotated, train_now
from tests.functional.helpers import balanced_rows

ROUNDS = 10


def race(*calls):
    """Run `calls` at once on their own threads (started together at a barrier); their errors raised."""
    barrier = threading.Barrier(len(calls))
    errors = []

    def run(call):
        barrier.wait()
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


def test_two_partial_settings_writes_at_once_both_land(api, atomic_requests):
    project_id = make_project(api, min_completions=1000)
    for n in range(ROUNDS):
        sampling = ["uncertainty", "random"][n % 2]
        race(lambda: project_service.put_settings(project_id, {"sampling": sampling}),
             lambda: project_service.put_settings(project_id, {"min_completions": 500 + n}),
             lambda: project_service.patch(project_id, {"title": f"round {n}"}))
        ml = api.get(f"/api/projects/{project_id}/ml").json
        assert (ml["sampling"], ml["min_completions"]) == (sampling, 500 + n), (n, ml)
        assert api.get(f"/api/projects/{project_id}").json["title"] == f"round {n}"
    assert project_db.get_project(project_id, consistent=True).revision == 3 * ROUNDS


def test_a_pin_racing_a_settings_write_keeps_both_and_pin_equals_active(api, pump, atomic_requests):
    project_id = make_project(api, min_completions=30, retrain_every=100_000, preannotate=False)
    assert api.post(f"/api/projects/{project_id}/tasks", annotated(balanced_rows(30))).status_code == 201
    pump.drain()
    train_now(api, pump, project_id)
    assert training(api, project_id)["model_version"] == "v2"
    for n in range(ROUNDS):
        version, other = (1, 2) if n % 2 == 0 else (2, 1)
        race(lambda: model_versions.activate(project_id, str(version), {"pin": True}),
             lambda: project_service.put_settings(project_id, {"min_completions": 100 + n}),
             lambda: project_service.put_settings(project_id, {"pinned_version": other} if n % 3 == 0 else
                                                  {"sampling": "random"}))
        project = project_db.get_project(project_id, consistent=True)
        assert project.ml["min_completions"] == 100 + n, (n, project.ml)
        assert project.ml["pinned_version"] == project.active_version, (n, project.ml, project.active_version)
        answer = api.get(f"/api/projects/{project_id}/training").json
        assert answer["model_version"] == f"v{project.active_version}"
