"""Champion / challenger, rollback and pin: a version trained after a burst of bad labels, the
validation set it is judged on, and moving the active version by hand."""
import pytest

from chalicelib.domain.validation_set import in_validation
from activelabel_client.datasets import choice_completion
from tests.functional.helpers import balanced_rows, make_project, training

FLIP = {"spam": "ham", "ham": "spam"}


def versions(api, project_id):
    return {v["model_version"]: v for v in api.get(f"/api/projects/{project_id}/model-versions").json["versions"]}


def train_now(api, pump, project_id):
    answer = api.post(f"/api/projects/{project_id}/train")
    assert answer.status_code == 202, answer.json
    pump.drain()


def annotated(rows, flip=False):
    return [{"data": {"text": r["text"]},
             "annotations": [choice_completion(FLIP[r["label"]] if flip else r["label"], "importer")]} for r in rows]


def project_with_clean_v1(api, pump, n_clean=100, **ml):
    """v1 trained on `n_clean` true labels (imported with the tasks), its validation share held out."""
    project_id = make_project(api, min_completions=n_clean, retrain_every=100_000, preannotate=False, **ml)
    answer = api.post(f"/api/projects/{project_id}/tasks", annotated(balanced_rows(n_clean)))
    assert answer.status_code == 201, answer.json
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"
    return project_id, answer.json["task_ids"]


def add_noisy_burst(api, pump, project_id, n, seed=1):
    """A burst of bad labels: `n` new tasks answered the opposite of the truth, on tasks outside the
    validation share (task ids are allocated in sequence, so the test knows them before importing).
    A burst that also reaches the share puts bad labels in the judge too; the gate can only catch it
    while the share's labels are mostly good (see docs/architecture.md)."""
    first = int(api.get(f"/api/projects/{project_id}").json["task_count"]) + 1
    rows = balanced_rows(n, seed=seed)
    tasks = [task if not in_validation(project_id, first + i) else {"data": task["data"]}
             for i, task in enumerate(annotated(rows, flip=True))]
    answer = api.post(f"/api/projects/{project_id}/tasks", tasks)
    assert answer.status_code == 201 and int(answer.json["task_ids"][0]) == first, answer.json
    pump.drain()


@pytest.mark.parametrize("policy", ["if_not_worse", "always"])
def test_a_version_trained_on_a_burst_of_bad_labels(api, pump, policy):
    project_id, ids = project_with_clean_v1(api, pump, promotion=policy)
    v1 = versions(api, project_id)["v1"]
    assert v1["status"] == "promoted" and v1["validation"]["held_out"] is True
    held = [i for i in ids if in_validation(project_id, int(i))]
    assert v1["validation"]["n"] == len(held) >= 10 and v1["n_train"] == 100 - len(held)

    add_noisy_burst(api, pump, project_id, 60)
    train_now(api, pump, project_id)
    v2 = versions(api, project_id)["v2"]
    comparison = v2["decision"]["comparison"]
    print(v2["decision"])
    assert comparison["challenger_quality"] < comparison["champion_quality"]
    if policy == "if_not_worse":
        assert v2["status"] == "rejected" and "worse by more than the tolerance" in v2["decision"]["reason"]
        assert training(api, project_id)["model_version"] == "v1"
        assert versions(api, project_id)["v1"]["active"] is True
    else:
        assert v2["status"] == "promoted" and "always" in v2["decision"]["reason"]
        assert training(api, project_id)["model_version"] == "v2"
