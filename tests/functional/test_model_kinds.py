"""Every model kind through the whole path under moto: API -> stream -> queue -> worker -> S3 -> predict.

Small real data per kind; each prediction must validate against the project's label config."""
import pytest

from chalicelib.labeling.config import parse_label_config
from chalicelib.labeling.validation import validate_result
from tests import kind_data
from tests.functional.helpers import training


def create(api, config, **ml):
    answer = api.post("/api/projects", {"title": "kinds", "label_config": config,
                                        "ml": {"min_completions": 20, **ml}})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def label_and_train(api, pump, project_id, datas, results):
    """Import tasks, post one completion per task, let the pump run the loop; returns the task ids."""
    answer = api.post(f"/api/projects/{project_id}/tasks", [{"data": d} for d in datas])
    assert answer.status_code == 201, answer.json
    task_ids = answer.json["task_ids"]
    for task_id, result in zip(task_ids, results):
        posted = api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions",
                          {"result": result, "completed_by": "ann-1"})
        assert posted.status_code == 201, posted.json
    pump.drain()
    state = training(api, project_id)
    assert state["state"] == "idle" and state["model_version"] == "v1", state
    return task_ids


def predict_and_validate(api, project_id, config_xml, datas):
    answer = api.post(f"/api/projects/{project_id}/predict", {"tasks": [{"data": d} for d in datas]})
    assert answer.status_code == 200, answer.json
    config = parse_label_config(config_xml)
    results = answer.json["results"]
    assert len(results) == len(datas)
    for data, prediction in zip(datas, results):
        assert prediction["model_version"] == "v1" and 0 <= prediction["score"] <= 1
        validate_result(config, prediction["result"], data)
    return results


def metrics(api, project_id):
    return api.get(f"/api/projects/{project_id}/model-versions").json["versions"][0]["metrics"]


@pytest.fixture(scope="module")
def wnut_rows():
    return [r for r in kind_data.wnut("train") if r["spans"]][:40]


def test_multilabel_text(api, pump, wnut_rows):
    project_id = create(api, kind_data.TOPICS_CONFIG)
    rows = wnut_rows[:30]
    results = [[{"from_name": "types", "to_name": "text", "type": "choices",
                 "value": {"choices": sorted({s["label"] for s in r["spans"]})}}] for r in rows]
    label_and_train(api, pump, project_id, [{"text": r["text"]} for r in rows], results)
    assert {"micro_f1", "macro_f1", "accuracy"} <= set(metrics(api, project_id))
    predict_and_validate(api, project_id, kind_data.TOPICS_CONFIG, [{"text": r["text"]} for r in wnut_rows[30:]])


def test_taxonomy(api, pump, wnut_rows):
    project_id = create(api, kind_data.TAXONOMY_CONFIG)
    rows = wnut_rows[:22]
    results = [[{"from_name": "kind", "to_name": "text", "type": "taxonomy",
                 "value": {"taxonomy": [list(kind_data.TAXONOMY_OF[r["spans"][0]["label"]])]}}] for r in rows]
    label_and_train(api, pump, project_id, [{"text": r["text"]} for r in rows], results)
    assert api.get(f"/api/projects/{project_id}/ml").json["model"] == "taxonomy_classifier"
    predictions = predict_and_validate(api, project_id, kind_data.TAXONOMY_CONFIG, [{"text": "I met Obama in Paris"}])
    assert len(predictions[0]["result"][0]["value"]["taxonomy"][0]) == 2


def test_named_entities(api, pump, wnut_rows):
    project_id = create(api, kind_data.NER_CONFIG)
    rows = wnut_rows[:30]
    label_and_train(api, pump, project_id, [{"text": r["text"]} for r in rows], [kind_data.span_result(r) for r in rows])
    assert {"precision", "recall", "f1"} <= set(metrics(api, project_id))
    datas = [{"text": r["text"]} for r in rows[:10]]  # seen sentences: the tagger should find spans
    predictions = predict_and_validate(api, project_id, kind_data.NER_CONFIG, datas)
    spans = [item["value"] for p in predictions for item in p["result"]]
    assert spans and all(d["text"][v["start"]:v["end"]] == v["text"] for d, p in zip(datas, predictions)
                         for v in (item["value"] for item in p["result"]))


def test_image_classification_from_s3(api, pump, aws):
    from chalicelib.store.aws import client

    s3 = client("s3")
    s3.create_bucket(Bucket="activelabel-media-kinds")
    rows = kind_data.put_digits(s3, "activelabel-media-kinds", range(60))
    project_id = create(api, kind_data.DIGITS_CONFIG, min_completions=40)
    results = [[{"from_name": "digit", "to_name": "image", "type": "choices", "value": {"choices": [d]}}]
               for _, d in rows[:40]]
    label_and_train(api, pump, project_id, [{"image": url} for url, _ in rows[:40]], results)
    predictions = predict_and_validate(api, project_id, kind_data.DIGITS_CONFIG, [{"image": url} for url, _ in rows[40:]])
    correct = sum(p["result"][0]["value"]["choices"] == [d] for p, (_, d) in zip(predictions, rows[40:]))
    assert correct >= 10  # 20 unseen digits, 10 classes, 40 training images: far above chance (2)

    missing = api.post(f"/api/projects/{project_id}/predict", {"samples": [{"image": "s3://activelabel-media-kinds/nope.png"}]})
    assert missing.status_code == 400 and "no such object" in missing.json["Message"]

    # hostile image URLs are a 400, and the model bucket is never read as media: a model object that
    # exists and one that does not get the same answer (issue 13, items 7 and 10)
    from chalicelib import config

    s3.put_object(Bucket=config.model_bucket(), Key="models/x/v1.joblib", Body=b"not an image")
    answers = {}
    for name, url in (("existing model object", f"s3://{config.model_bucket()}/models/x/v1.joblib"),
                      ("missing model object", f"s3://{config.model_bucket()}/models/x/v9.joblib"),
                      ("missing bucket", "s3://no-such-bucket-activelabel/x.png"),
                      ("70,000-character host", "http://" + "h" * 70_000 + "/x.png"),
                      ("broken IPv6 literal", "http://[::1/x.png")):
        answer = api.post(f"/api/projects/{project_id}/predict", {"samples": [{"image": url}]})
        assert answer.status_code == 400, (name, answer.status_code, answer.body[:300])
        answers[name] = answer.json["Message"].rsplit(": ", 1)[-1]
    assert answers["existing model object"] == answers["missing model object"]


@pytest.mark.parametrize("control", ["Choices", "Number"])
def test_tabular(api, pump, control):
    rows = (kind_data.breast_cancer_rows() if control == "Choices" else kind_data.diabetes_rows())[:40]
    config = kind_data.tabular_config(control)
    project_id = create(api, config)
    key = "choices" if control == "Choices" else "number"
    results = [[{"from_name": "label", "to_name": "x", "type": key.rstrip("s") + ("s" if key == "choices" else ""),
                 "value": {key: [y] if key == "choices" else y}}] for _, y in rows[:30]]
    label_and_train(api, pump, project_id, [{"x": x} for x, _ in rows[:30]], results)
    assert ("mae" if control == "Number" else "accuracy") in metrics(api, project_id)
    predict_and_validate(api, project_id, config, [{"x": x} for x, _ in rows[30:]])
    assert_both_artifacts_stored(project_id)


def assert_both_artifacts_stored(project_id):
    """The version serves its numpy form (model.npz) and keeps the joblib pickle beside it, each
    stored with the sha256 its record holds."""
    import hashlib

    from chalicelib.store import projects, training
    from chalicelib.store.aws import client

    (item,) = training.list_model_versions(project_id)
    project = projects.get_project(project_id)
    assert item.pointer.key.endswith("/model.npz") and item.joblib.key.endswith("/model.joblib")
    assert (project.model.key, project.model.sha256) == (item.pointer.key, item.pointer.sha256)
    for pointer in (item.pointer, item.joblib):
        body = client("s3").get_object(Bucket=pointer.bucket, Key=pointer.key, VersionId=pointer.version_id)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == pointer.sha256


def test_rating_on_text_is_clipped_to_the_stars(api, pump, wnut_rows):
    config = '<View><Text name="text" value="$text"/><Rating name="stars" toName="text" maxRating="3"/></View>'
    project_id = create(api, config)
    rows = kind_data.wnut("train")[:30]
    results = [[{"from_name": "stars", "to_name": "text", "type": "rating",
                 "value": {"rating": min(3, 1 + len(r["spans"]))}}] for r in rows]
    label_and_train(api, pump, project_id, [{"text": r["text"]} for r in rows], results)
    predictions = predict_and_validate(api, project_id, config, [{"text": r["text"]} for r in wnut_rows])
    assert all(p["result"][0]["value"]["rating"] in (1, 2, 3) for p in predictions)


def test_models_per_control_and_choosing_the_target(api, pump, wnut_rows):
    config = ('<View><Text name="text" value="$text"/>'
              '<Choices name="has_entity" toName="text"><Choice value="yes"/><Choice value="no"/></Choices>'
              + kind_data.NER_CONFIG[len("<View>"):-len("</View>")].replace('<Text name="text" value="$text"/>', "")
              + '<Rating name="quality" toName="text"/><TextArea name="note" toName="text"/></View>')
    project_id = create(api, config)
    listed = api.get(f"/api/projects/{project_id}/models").json
    by_name = {m["name"]: [t["control"] for t in m["targets"]] for m in listed["models"]}
    assert by_name == {"text_classifier": ["has_entity"], "ner_tagger": ["label"], "text_regressor": ["quality"]}
    assert listed["unsupported_controls"] == [{"control": "note", "control_type": "TextArea", "reason": "needs a custom model"}]

    refused = api.put(f"/api/projects/{project_id}/ml", {"model": "ner_tagger", "target": "has_entity"})
    assert refused.status_code == 400 and refused.json["Field"] == "ml.target"
    assert "<Choices>" in refused.json["Message"] and "['label']" in refused.json["Message"]
    assert api.get(f"/api/projects/{project_id}/ml").json["model"] == "text_classifier"  # nothing written
    assert api.put(f"/api/projects/{project_id}/ml", {"model": "ner_tagger", "target": "label"}).status_code == 200

    rows = wnut_rows[:20] + [r for r in kind_data.wnut("train") if not r["spans"]][:10]
    results = [kind_data.span_result(r) + [{"from_name": "has_entity", "to_name": "text", "type": "choices",
                                            "value": {"choices": ["yes" if r["spans"] else "no"]}}] for r in rows]
    label_and_train(api, pump, project_id, [{"text": r["text"]} for r in rows], results)
    versions = api.get(f"/api/projects/{project_id}/model-versions").json["versions"]
    assert versions[0]["model"] == "ner_tagger" and "f1" in versions[0]["metrics"]
    predict_and_validate(api, project_id, config, [{"text": r["text"]} for r in rows[:5]])
