"""A text project's versions read a representation fitted on its whole pool (labelled tasks and
not), chosen against its present features on the validation set; later trainings reuse it until
the pool has grown by a quarter."""
from activelabel_client.datasets import choice_completion, sms_split

from tests.functional.helpers import import_texts, make_project, training


def _versions(api, project_id):
    return {v["model_version"]: v for v in api.get(f"/api/projects/{project_id}/model-versions").json["versions"]}


def test_versions_read_a_pool_representation_refit_only_when_the_pool_grows(api, pump):
    pool, _ = sms_split(700, 0, seed=4)
    project_id = make_project(api, min_completions=100, sampling="random", promotion="always", preannotate=False,
                              retrain_every=100_000)
    labelled = [{"data": {"text": r["text"]}, "annotations": [choice_completion(r["label"], "ann")]} for r in pool[:100]]
    assert api.post(f"/api/projects/{project_id}/tasks", labelled).status_code == 201
    import_texts(api, project_id, pool[100:400])
    pump.drain()

    v1 = _versions(api, project_id)["v1"]
    representation = v1["pool_representation"]
    assert representation["fitted_on"] == 400 and representation["sample"] == 400 and representation["fitted_by"] == "v1"
    assert representation["mode"] == v1["metrics"]["features"]["chosen"]
    assert set(v1["metrics"]["features"]["validation"]) == {"present", "pool", "both"}
    assert v1["n_train"] == 100 and v1["metrics"]["n_fit_judged"] == 100 - v1["validation"]["n"]
    assert api.post(f"/api/projects/{project_id}/predict", {"tasks": [{"data": {"text": "WIN a prize"}}]}
                    ).status_code == 200

    # the pool grows by less than a quarter: v2 reuses v1's representation
    import_texts(api, project_id, pool[400:450])
    assert api.post(f"/api/projects/{project_id}/train").status_code == 202
    pump.drain()
    assert _versions(api, project_id)["v2"]["pool_representation"]["fitted_by"] == "v1"
    # by a quarter or more: v3 fits its own on the grown pool
    import_texts(api, project_id, pool[450:700])
    assert api.post(f"/api/projects/{project_id}/train").status_code == 202
    pump.drain()
    v3 = _versions(api, project_id)["v3"]["pool_representation"]
    assert v3["fitted_by"] == "v3" and v3["fitted_on"] == 700
    assert training(api, project_id)["model_version"] == "v3"
