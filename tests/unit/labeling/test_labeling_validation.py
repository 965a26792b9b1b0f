"""validate_task_data / validate_result / normalize_* on real Label Studio JSON and edge cases."""

import copy
import json
from pathlib import Path

import pytest

from chalicelib.errors import ValidationError
from chalicelib.labeling import (
    MAX_TEXT_CHARS,
    normalize_completion,
    normalize_import_task,
    parse_label_config,
    validate_result,
    validate_task_data,
)

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "labelstudio"


def config(rel: str):
    return parse_label_config((FIX / rel).read_text(encoding="utf-8"))


def load(rel: str):
    return json.loads((FIX / rel).read_text(encoding="utf-8"))


def fails(fn, *args, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        fn(*args, **kwargs)
    return info.value


SPAM = parse_label_config(
    '<View><Text name="t" value="$text"/><Choices name="label" toName="t">'
    '<Choice value="ham"/><Choice value="spam"/></Choices>'
    '<Choices name="tags" toName="t" choice="multiple"><Choice value="x"/><Choice value="y"/></Choices>'
    '<Rating name="stars" toName="t"/><Number name="n" toName="t" min="1" max="10"/>'
    '<TextArea name="note" toName="t"/><DateTime name="when" toName="t"/>'
    '<Labels name="ner" toName="t"><Label value="PER"/></Labels></View>'
)


def item(from_name="label", type_="choices", value=None, to_name="t"):
    return {"id": "r1", "from_name": from_name, "to_name": to_name, "type": type_,
            "value": {"choices": ["ham"]} if value is None else value}


# --------------------------------------------------------------------------- task data


def test_task_data_must_be_an_object_with_every_variable():
    cfg = config("frontend_examples/sentiment_analysis/config.xml")
    err = fails(validate_task_data, cfg, ["text"], "tasks[3].data")
    assert err.field == "tasks[3].data" and "array" in err.message
    err = fails(validate_task_data, cfg, {"text": "hi"}, "tasks[3].data")
    assert err.field == "tasks[3].data.reviewText" and "'reviewText'" in err.message
    validate_task_data(cfg, {"reviewText": "fine", "extra": [1, 2]})  # extra keys allowed


def test_text_must_be_a_string_within_the_length_limit():
    err = fails(validate_task_data, SPAM, {"text": 42})
    assert err.field == "data.text" and "string" in err.message and "42" in err.message
    validate_task_data(SPAM, {"text": "x" * MAX_TEXT_CHARS})
    err = fails(validate_task_data, SPAM, {"text": "x" * (MAX_TEXT_CHARS + 1)})
    assert err.field == "data.text" and str(MAX_TEXT_CHARS) in err.message


def test_table_values_and_url_typed_tables():
    table = config("frontend_examples/table/config.xml")
    for task in load("frontend_examples/table/tasks.json"):
        validate_task_data(table, task["data"])
    validate_task_data(table, {"menu": [{"a": 1}]})
    assert fails(validate_task_data, table, {"menu": "Tuna"}).field == "data.menu"
    csv = config("frontend_examples/table_csv/config.xml")  # valuetype="csv|url|..." -> a URL string
    for task in load("frontend_examples/table_csv/tasks.json"):
        validate_task_data(csv, task["data"])
    assert "not a URL" in fails(validate_task_data, csv, {"text": "Tuna, 12"}).message
    assert fails(validate_task_data, csv, {"text": {"a": 1}}).field == "data.text"


def test_image_values():
    cfg = config("frontend_examples/image_bbox/config.xml")
    validate_task_data(cfg, {"image": "/data/upload/1/a.jpg"})
    assert fails(validate_task_data, cfg, {"image": ["a.jpg"]}).field == "data.image"
    multi = parse_label_config('<View><Image name="i" valueList="$pages"/><Choices name="c" toName="i"><Choice value="a"/></Choices></View>')
    validate_task_data(multi, {"pages": ["a.jpg", "b.jpg"]})
    assert fails(validate_task_data, multi, {"pages": "a.jpg"}).field == "data.pages"


# --------------------------------------------------------------------------- real annotations


@pytest.mark.parametrize("example, annotation", [
    ("sentiment_analysis", "annotations/0.json"),
    ("sentiment_analysis", "annotations/2.json"),
    ("sentiment_analysis", "annotations/3.json"),
    ("named_entity", "annotations/1.json"),
    ("taxonomy", "annotations/0.json"),
    ("image_bbox", "annotations/1.json"),
    ("pairwise", "annotations/1.json"),
])
def test_real_annotations_validate_against_their_configs(example, annotation):
    cfg = config(f"frontend_examples/{example}/config.xml")
    task = load(f"frontend_examples/{example}/{annotation}")
    validate_task_data(cfg, task["data"])
    for ann in task["annotations"]:
        validate_result(cfg, ann["result"], task["data"])
    for pred in task.get("predictions", []):
        validate_result(cfg, pred["result"], task["data"])


def test_table_annotation_validates_without_data():
    cfg = config("frontend_examples/table/config.xml")
    validate_result(cfg, load("frontend_examples/table/annotations/0.json")["annotations"][0]["result"])


def test_old_ner_completion_with_38_spans_matches_its_text():
    cfg = config("converter/completions_2020/config.xml")
    task = load("converter/completions_2020/348.json")
    result = task["completions"][0]["result"]
    assert len(result) == 38
    validate_result(cfg, result, task["data"])
    shifted = copy.deepcopy(result)
    shifted[5]["value"]["start"] += 1
    err = fails(validate_result, cfg, shifted, task["data"])
    assert err.field == "result[5].value.text" and "does not match data.text" in err.message


def test_rich_text_plain_quirk_is_rejected_without_crashing():
    cfg = config("frontend_examples/rich_text_plain/config.xml")
    task = load("frontend_examples/rich_text_plain/annotations/1.json")
    result = task["annotations"][0]["result"]
    err = fails(validate_result, cfg, result, task["data"])
    assert err.field == "result[0].value.labels" and "unknown label 'Date'" in err.message
    # with a config that knows the label, the copied offsets are caught against the text
    with_date = parse_label_config('<View><Labels name="label" toName="text"><Label value="Date"/></Labels><Text name="text" value="$ner"/></View>')
    validate_result(with_date, result)  # no data: only the shape is checked
    err = fails(validate_result, with_date, result, task["data"])
    assert err.field == "result[0].value.text" and "'February 22'" in err.message


def test_table_csv_annotation_has_a_wrong_to_name():
    cfg = config("frontend_examples/table_csv/config.xml")
    result = load("frontend_examples/table_csv/annotations/0.json")["annotations"][0]["result"]
    err = fails(validate_result, cfg, result)
    assert err.field == "result[0].to_name" and "'menu'" in err.message and "csv-table" in err.message


def test_prediction_using_a_choice_alias_is_accepted():
    cfg = config("frontend_examples/required/config.xml")
    task = load("frontend_examples/required/tasks.json")[0]
    assert task["predictions"][0]["result"][0]["value"]["choices"] == ["valid"]
    validate_result(cfg, task["predictions"][0]["result"], task["data"])


def test_spacy_backend_response_uses_labels_missing_from_its_config():
    request = load("ml_backend_payloads/spacy.predict.request.json")
    response = load("ml_backend_payloads/spacy.predict.response.json")
    cfg = parse_label_config(request["label_config"])
    err = fails(validate_result, cfg, response["results"][0]["result"], request["tasks"][0]["data"], "results[0].result")
    assert err.field == "results[0].result[0].value.labels" and "'PERSON'" in err.message


# --------------------------------------------------------------------------- result rules


def test_unknown_choice_message_names_value_and_options():
    err = fails(validate_result, SPAM, [item(value={"choices": ["Spamm"]})])
    assert err.field == "result[0].value.choices"
    assert err.message == "result[0].value.choices: unknown choice 'Spamm'; expected one of ['ham', 'spam']"


def test_single_and_multiple_choice():
    assert "single choice" in fails(validate_result, SPAM, [item(value={"choices": ["ham", "spam"]})]).message
    assert fails(validate_result, SPAM, [item(value={"choices": []})]).field == "result[0].value.choices"
    assert fails(validate_result, SPAM, [item(value={"choices": "ham"})]).field == "result[0].value.choices"
    validate_result(SPAM, [item("tags", value={"choices": ["x", "y"]})])


def test_result_shape_errors_name_the_field():
    assert fails(validate_result, SPAM, {"choices": []}).field == "result"
    assert fails(validate_result, SPAM, ["x"]).field == "result[0]"
    err = fails(validate_result, SPAM, [item(), item(from_name="lable")])
    assert err.field == "result[1].from_name" and "'lable'" in err.message
    err = fails(validate_result, SPAM, [item(to_name="text")])
    assert err.field == "result[0].to_name" and "['t']" in err.message
    err = fails(validate_result, SPAM, [item(type_="Choices")])
    assert err.field == "result[0].type" and "'choices'" in err.message
    assert fails(validate_result, SPAM, [item(value=["ham"])]).field == "result[0].value"
    validate_result(SPAM, [])


def test_labels_offsets():
    data = {"text": "Ann met Bob"}
    ok = item("ner", "labels", {"start": 0, "end": 3, "text": "Ann", "labels": ["PER"]})
    validate_result(SPAM, [ok], data)
    for value, field in [
        ({"start": 3, "end": 3, "labels": ["PER"]}, "result[0].value.end"),
        ({"start": -1, "end": 3, "labels": ["PER"]}, "result[0].value.start"),
        ({"start": 0, "end": 99, "labels": ["PER"]}, "result[0].value.end"),
        ({"start": 0.0, "end": 3, "labels": ["PER"]}, "result[0].value.start"),
        ({"start": 0, "end": 3, "labels": ["ORG"]}, "result[0].value.labels"),
        ({"start": 0, "end": 3, "text": "Bob", "labels": ["PER"]}, "result[0].value.text"),
    ]:
        assert fails(validate_result, SPAM, [item("ner", "labels", value)], data).field == field, value
    assert "length 11" in fails(validate_result, SPAM, [item("ner", "labels", {"start": 0, "end": 99, "labels": ["PER"]})], data).message


def test_span_offsets_in_utf16_units_and_code_points_both_accepted():
    text = "I \U0001F600 NYC"  # the emoji is 1 code point, 2 UTF-16 units
    data = {"text": text}
    py = item("ner", "labels", {"start": 4, "end": 7, "text": "NYC", "labels": ["PER"]})
    js = item("ner", "labels", {"start": 5, "end": 8, "text": "NYC", "labels": ["PER"]})
    validate_result(SPAM, [py], data)
    validate_result(SPAM, [js], data)  # end 8 > len(text) == 7, valid in UTF-16 units
    bad = item("ner", "labels", {"start": 5, "end": 8, "text": "NY", "labels": ["PER"]})
    assert fails(validate_result, SPAM, [bad], data).field == "result[0].value.text"


def test_rating_number_textarea_and_other_types():
    validate_result(SPAM, [item("stars", "rating", {"rating": 5}), item("n", "number", {"number": 2.5}),
                           item("note", "textarea", {"text": ["a", "b"]}), item("when", "datetime", {"datetime": "x"})])
    for it, field in [
        (item("stars", "rating", {"rating": 6}), "result[0].value.rating"),
        (item("stars", "rating", {"rating": True}), "result[0].value.rating"),
        (item("n", "number", {"number": 0}), "result[0].value.number"),
        (item("n", "number", {"number": "3"}), "result[0].value.number"),
        (item("note", "textarea", {"text": "5/5"}), "result[0].value.text"),
        (item("when", "datetime", "2021"), "result[0].value"),
    ]:
        assert fails(validate_result, SPAM, [it]).field == field, it
    assert "below the minimum 1" in fails(validate_result, SPAM, [item("n", "number", {"number": 0})]).message


def test_taxonomy_paths_must_be_prefixes_of_known_paths():
    cfg = config("frontend_examples/taxonomy/config.xml")
    validate_result(cfg, [item("tax", "taxonomy", {"taxonomy": [["Three"], ["Three", "Tuna"]]}, "text")])
    err = fails(validate_result, cfg, [item("tax", "taxonomy", {"taxonomy": [["One"], ["Three", "Cod"]]}, "text")])
    assert err.field == "result[0].value.taxonomy[1]" and "'Three / Cod'" in err.message
    assert fails(validate_result, cfg, [item("tax", "taxonomy", {"taxonomy": ["One"]}, "text")]).field == "result[0].value.taxonomy[0]"


def test_region_labels_are_checked_and_relations_need_ids():
    cfg = config("frontend_examples/image_bbox/config.xml")
    box = {"x": 1, "y": 2, "width": 3, "height": 4, "rectanglelabels": ["Car"]}
    err = fails(validate_result, cfg, [item("tag", "rectanglelabels", box, "img")])
    assert err.field == "result[0].value.rectanglelabels" and "'Car'" in err.message
    relation = {"type": "relation", "from_id": "a", "to_id": "b", "direction": "right"}
    validate_result(cfg, [relation])
    assert fails(validate_result, cfg, [{"type": "relation", "from_id": "a"}]).field == "result[0].to_id"


# --------------------------------------------------------------------------- normalisation


def test_normalize_completion_completed_by_forms():
    def by(value):
        obj = {"result": []} if value is ... else {"result": [], "completed_by": value}
        return normalize_completion(obj, "c")["completed_by"]

    assert by(...) == "unknown"
    assert by(None) == "unknown"
    assert by(10) == "10"
    assert by("ann") == "ann"
    assert by({"id": 42, "email": "a@b.c"}) == "a@b.c"
    assert by({"id": 42}) == "42"
    assert fails(normalize_completion, {"result": [], "completed_by": True}, "tasks[0].annotations[1]").field == "tasks[0].annotations[1].completed_by"
    assert fails(normalize_completion, {"result": [], "completed_by": {"name": "x"}}, "c").field == "c.completed_by"


def test_normalize_completion_flags_and_types():
    out = normalize_completion({"result": [], "skipped": True, "lead_time": 3}, "c")
    assert out == {"result": [], "completed_by": "unknown", "was_cancelled": True, "lead_time": 3.0, "ground_truth": False}
    assert normalize_completion({"was_cancelled": True}, "c")["result"] == []  # a skip needs no result
    assert fails(normalize_completion, {"lead_time": 1}, "c").field == "c.result"
    assert fails(normalize_completion, {"result": {}}, "c").field == "c.result"
    assert fails(normalize_completion, {"result": [], "lead_time": "3s"}, "c").field == "c.lead_time"
    assert fails(normalize_completion, {"result": [], "ground_truth": "yes"}, "c").field == "c.ground_truth"
    assert fails(normalize_completion, {"result": [], "was_cancelled": 1}, "c").field == "c.was_cancelled"
    assert fails(normalize_completion, [], "c").field == "c"


def test_annotations_and_completions_namings_normalise_the_same():
    new = normalize_import_task(load("frontend_examples/sentiment_analysis/annotations/3.json"), "tasks[0]")
    old = normalize_import_task(load("frontend_examples_2021_completions/sentiment_analysis/completions/3.json"), "tasks[0]")
    assert new == old
    assert new["completions"][0]["result"][0]["value"]["choices"] == ["Neutral"]
    tax_new = normalize_import_task(load("frontend_examples/taxonomy/annotations/0.json"), "t")
    tax_old = normalize_import_task(load("frontend_examples_2021_completions/taxonomy/completions/0.json"), "t")
    assert tax_new == tax_old and len(tax_new["completions"][0]["result"]) == 2


def test_label_studio_import_sample_with_bare_tasks():
    tasks = load("label_studio_tests/tasks_annotations_predictions.json")
    out = [normalize_import_task(t, f"tasks[{i}]") for i, t in enumerate(tasks)]
    assert out[3] == {"data": {"text": "zzz"}, "completions": [], "predictions": [], "meta": {}}
    assert [len(t["completions"]) for t in out] == [1, 2, 1, 0, 0, 0]
    assert out[1]["completions"][1]["lead_time"] == 5.0
    assert out[0]["predictions"] == [{"result": tasks[0]["predictions"][0]["result"], "score": None, "model_version": "model_version_A"}]
    assert out[5]["predictions"][0]["model_version"] is None
    assert out[2]["data"]["int_field"] == "99"


def test_import_validates_against_config_with_full_paths():
    cfg = parse_label_config('<View><Text name="text" value="$text"/><Choices name="text_class" toName="text">'
                             '<Choice value="class_A"/><Choice value="class_B"/></Choices></View>')
    tasks = load("label_studio_tests/tasks_annotations_predictions.json")
    normalize_import_task(tasks[1], "tasks[1]", config=cfg)
    normalize_import_task(tasks[4], "tasks[4]", config=cfg)  # bare data
    err = fails(normalize_import_task, tasks[2], "tasks[2]", config=cfg)
    assert err.field == "tasks[2].annotations[0].result[0].value.choices" and "'class_TESTING'" in err.message
    err = fails(normalize_import_task, tasks[5], "tasks[5]", config=cfg)
    assert err.field == "tasks[5].predictions[0].result[0].value.choices"
    assert fails(normalize_import_task, {"txt": "a"}, "tasks[7]", config=cfg).field == "tasks[7].text"
    assert fails(normalize_import_task, {"data": {"txt": "a"}}, "tasks[7]", config=cfg).field == "tasks[7].data.text"


def test_single_task_export_with_user_object():
    out = normalize_import_task(load("label_studio_tests/previous_export.json"), "tasks[0]")
    (c,) = out["completions"]
    assert c["completed_by"] == "annotator_from_past@project.com"
    assert c["lead_time"] == 346193.271 and c["was_cancelled"] is False
    assert out["data"] == {"image": "https://pytest.labelstud.io/mypets.jpg"} and out["meta"] == {}


def test_import_task_shape_errors():
    assert fails(normalize_import_task, [], "tasks[0]").field == "tasks[0]"
    assert fails(normalize_import_task, {"annotations": []}, "tasks[0]").field == "tasks[0].data"
    assert fails(normalize_import_task, {"data": "x"}, "tasks[0]").field == "tasks[0].data"
    err = fails(normalize_import_task, {"data": {}, "annotations": [], "completions": []}, "tasks[0]")
    assert "both 'annotations' and 'completions'" in err.message
    assert fails(normalize_import_task, {"data": {}, "completions": [{"result": 1}]}, "tasks[0]").field == "tasks[0].completions[0].result"
    assert fails(normalize_import_task, {"data": {}, "predictions": [{"result": [], "score": "hi"}]}, "tasks[0]").field == "tasks[0].predictions[0].score"
    assert fails(normalize_import_task, {"data": {}, "meta": []}, "tasks[0]").field == "tasks[0].meta"
    assert normalize_import_task({"data": {"a": 1}, "meta": {"src": "x"}}, "t")["meta"] == {"src": "x"}
