"""An annotator token labels as itself (issue 13, item 3): it cannot complete, delete, release or be
served as anyone else, nor meet `overlap` alone; an admin may act for others, and that is recorded."""
from activelabel_client.datasets import choice_completion
from tests.functional.helpers import balanced_rows, import_texts, make_project


def _token(api, name, role, project_id):
    answer = api.post("/api/tokens", {"name": name, "role": role, "projects": [project_id]})
    assert answer.status_code == 201, answer.json
    return {"Authorization": f"Token {answer.json['token']}", "Content-Type": "application/json"}


def test_an_annotator_token_cannot_act_as_anyone_else(api, pump):
    project_id = make_project(api, min_completions=5, overlap=2)
    ids = import_texts(api, project_id, balanced_rows(6))
    alice, bob = _token(api, "alice", "annotator", project_id), _token(api, "bob", "annotator", project_id)
    base = f"/api/projects/{project_id}"

    as_bob = api.post(f"{base}/tasks/{ids[0]}/completions", choice_completion("ham", "bob"), headers=alice)
    assert as_bob.status_code == 403 and as_bob.json["Field"] == "completed_by", as_bob.json
    own = api.post(f"{base}/tasks/{ids[0]}/completions", {"result": choice_completion("ham", "x")["result"]},
                   headers=alice)
    assert own.status_code == 201 and own.json["completed_by"] == "alice"
    # one person cannot meet overlap alone
    again = api.post(f"{base}/tasks/{ids[0]}/completions", choice_completion("ham", "alice"), headers=alice)
    assert again.status_code == 409 and again.json["Field"] == "completed_by", again.json
    bobs = api.post(f"{base}/tasks/{ids[1]}/completions", choice_completion("spam", "bob"), headers=bob)
    assert bobs.status_code == 201
    refused = api.delete(f"{base}/completions/{bobs.json['id']}", headers=alice)
    assert refused.status_code == 403 and refused.json["Field"] == "completion_id"
    assert len(api.get(f"{base}/tasks/{ids[1]}/completions").json["completions"]) == 1

    # next: ?annotator= may be left out (the token's own name) and may not name anyone else
    for name in ("bob", "invented-1"):
        answer = api.get(f"{base}/next?annotator={name}", headers=alice)
        assert answer.status_code == 403 and answer.json["Field"] == "annotator", answer.json
    served = api.get(f"{base}/next", headers=alice)
    assert served.status_code == 200 and served.json["lock"]["owner"] == "alice"
    bob_task = api.get(f"{base}/next", headers=bob).json
    release = api.delete(f"{base}/tasks/{bob_task['id']}/lock?annotator=bob", headers=alice)
    assert release.status_code == 403 and release.json["Field"] == "annotator"
    # alice holds one task however often she asks
    assert {api.get(f"{base}/next", headers=alice).json["id"] for _ in range(5)} == {served.json["id"]}

    # deleting her own completion lets her label the task again
    assert api.delete(f"{base}/completions/{own.json['id']}", headers=alice).status_code == 200
    redo = api.post(f"{base}/tasks/{ids[0]}/completions", choice_completion("spam", "alice"), headers=alice)
    assert redo.status_code == 201, redo.json


def test_an_admin_may_act_for_an_annotator_and_it_is_recorded(api, pump):
    project_id = make_project(api)
    [task_id] = import_texts(api, project_id, balanced_rows(1))
    admin = _token(api, "lead", "admin", project_id)
    answer = api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions", choice_completion("ham", "carol"),
                      headers=admin)
    assert answer.status_code == 201 and answer.json["completed_by"] == "carol"
    from chalicelib.store import completions as completion_db

    [stored] = completion_db.completions_of_task(project_id, task_id)
    assert (stored.completed_by, stored.recorded_by) == ("carol", "lead")
