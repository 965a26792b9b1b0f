"""Label Studio JSON in and out through the API, in both namings, with predictions, using Label
Studio's own example files (tests/fixtures/labelstudio)."""
import json

from tests.conftest import FIXTURES, load_fixture

EXAMPLES = FIXTURES / "labelstudio"


def test_old_and_new_naming_import_and_export_round_trip(api, pump):
    config = (EXAMPLES / "frontend_examples" / "sentiment_analysis" / "config.xml").read_text()
    project_id = api.post("/api/projects", {"title": "sentiment", "label_config": config}).json["id"]
    old = load_fixture("labelstudio", "frontend_examples_2021_completions", "sentiment_analysis", "completions", "3.json")
    new = load_fixture("labelstudio", "frontend_examples", "sentiment_analysis", "annotations", "0.json")
    predicted = {**new, "predictions": [{"result": new["annotations"][0]["result"], "score": 0.8,
                                         "model_version": "ls-import"}]}
    skipped = {"data": old["data"], "completions": [{"skipped": True, "result": []}]}
    answer = api.post(f"/api/projects/{project_id}/tasks", [old, predicted, skipped])
    assert answer.status_code == 201, answer.json
    pump.drain()

    current = api.get(f"/api/projects/{project_id}/export").json["tasks"]
    legacy = api.get(f"/api/projects/{project_id}/export?naming=completions").json["tasks"]
    assert [len(t["annotations"]) for t in current] == [1, 1, 1]
    assert [len(t["completions"]) for t in legacy] == [1, 1, 1]
    assert all("annotations" not in t for t in legacy)
    assert current[0]["annotations"][0]["result"] == old["completions"][0]["result"]
    assert current[1]["predictions"][0]["model_version"] == "ls-import"
    assert current[1]["predictions"][0]["score"] == 0.8
    assert current[2]["annotations"][0]["was_cancelled"] is True and legacy[2]["completions"][0]["skipped"] is True
    assert current[2]["cancelled_annotations"] == 1

    # both exports import again as they are, and export the same results
    for exported in (current, legacy):
        again = api.post(f"/api/projects/{project_id}/tasks", json.loads(json.dumps(exported)))
        assert again.status_code == 201, again.json
    everything = api.get(f"/api/projects/{project_id}/export").json["tasks"]
    results = [[a["result"] for a in t["annotations"]] for t in everything]
    assert results[3:6] == results[0:3] == results[6:9]
    assert everything[4]["predictions"][0]["model_version"] == "ls-import"
