"""Label Studio result items and export JSON."""

import json
import re
from pathlib import Path

import pytest

from chalicelib.labeling import (
    new_region_id,
    normalize_import_task,
    parse_label_config,
    result_item,
    task_to_labelstudio,
    validate_result,
)

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "labelstudio"
SENTIMENT = parse_label_config((FIX / "frontend_examples/sentiment_analysis/config.xml").read_text())


def test_region_ids_look_like_label_studio_ones():
    ids = {new_region_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{10}", i) for i in ids)


def test_a_result_item_is_valid_for_its_config():
    control = SENTIMENT.control("sentiment")
    item = result_item(control, "my_text", {"choices": ["Negative"]}, score=0.25)
    assert {k: v for k, v in item.items() if k != "id"} == {
        "from_name": "sentiment", "to_name": "my_text", "type": "choices",
        "value": {"choices": ["Negative"]}, "score": 0.25,
    }
    validate_result(SENTIMENT, [item], {"reviewText": "meh"})
    assert "score" not in result_item(control, "my_text", {"choices": ["Positive"]})
    with pytest.raises(ValueError):
        result_item(control, "not_an_object", {"choices": ["Positive"]})


TASK = {"id": "t1", "data": {"reviewText": "meh"}, "meta": {"source": "x"}, "created_at": "2026-01-01T00:00:00Z"}
COMPLETIONS = [
    {"id": "c1", "task_id": "t1", "result": [{"id": "r1", "from_name": "sentiment", "to_name": "my_text",
                                              "type": "choices", "value": {"choices": ["Neutral"]}}],
     "completed_by": "ann", "was_cancelled": False, "created_at": "2026-01-02T00:00:00Z",
     "updated_at": "2026-01-02T00:00:01Z", "lead_time": 4.5, "ground_truth": True},
    {"id": "c2", "task_id": "t1", "result": [], "completed_by": "bob", "was_cancelled": True,
     "created_at": "2026-01-03T00:00:00Z", "updated_at": None, "lead_time": None, "ground_truth": False},
]
PREDICTIONS = [{"result": [{"from_name": "sentiment", "to_name": "my_text", "type": "choices",
                            "value": {"choices": ["Positive"]}}], "score": 0.6, "model_version": "v3"}]


def test_task_export_with_annotations():
    out = task_to_labelstudio(TASK, COMPLETIONS, PREDICTIONS)
    assert out["id"] == "t1" and out["data"] == TASK["data"] and out["meta"] == {"source": "x"}
    assert "completions" not in out and len(out["annotations"]) == 2
    first = out["annotations"][0]
    assert first["task"] == "t1" and first["completed_by"] == "ann" and first["ground_truth"] is True
    assert first["lead_time"] == 4.5 and first["result"] == COMPLETIONS[0]["result"]
    assert out["predictions"] == [{"result": PREDICTIONS[0]["result"], "score": 0.6, "model_version": "v3"}]
    assert (out["total_annotations"], out["cancelled_annotations"], out["total_predictions"]) == (1, 1, 1)
    json.dumps(out)  # serialisable as is


def test_task_export_with_old_naming_and_round_trip():
    old = task_to_labelstudio(TASK, COMPLETIONS, PREDICTIONS, naming="completions")
    assert "annotations" not in old and old["completions"][1]["skipped"] is True
    new = task_to_labelstudio(TASK, COMPLETIONS, PREDICTIONS)
    back_old = normalize_import_task(old, "t", config=SENTIMENT)
    back_new = normalize_import_task(new, "t", config=SENTIMENT)
    assert back_old == back_new
    assert [(c["completed_by"], c["was_cancelled"], c["lead_time"], c["ground_truth"]) for c in back_new["completions"]] == [
        ("ann", False, 4.5, True), ("bob", True, None, False)]
    assert back_new["predictions"] == PREDICTIONS and back_new["meta"] == {"source": "x"}
    with pytest.raises(ValueError):
        task_to_labelstudio(TASK, [], [], naming="labels")
