"""Documents kept beside a model version are read by the S3 VersionId and sha256 its record names
(issue 26, item 7): rewriting `validation-predictions.json` in the bucket changes nothing."""
import json
from dataclasses import replace

from chalicelib import config
from chalicelib.store import validation_predictions
from chalicelib.store.aws import client
from tests.functional.test_store_properties import version_item


def test_validation_predictions_are_read_by_version_id_and_digest(aws):
    honest = {"format": 1, "predictions": {"1": ["d", ["ham"]]}}
    where = validation_predictions.put("7", 1, honest)
    record = replace(version_item("7", 1), validation={"held_out": True, "predictions": where})
    assert validation_predictions.get(record) == honest
    flipped = {"format": 1, "predictions": {"1": ["d", ["spam"]]}}
    client("s3").put_object(Bucket=config.model_bucket(), Key=validation_predictions.key("7", 1),
                            Body=json.dumps(flipped).encode())  # rewritten in the bucket
    assert validation_predictions.get(record) == honest
    wrong = replace(record, validation={"held_out": True, "predictions": {**where, "sha256": "0" * 64}})
    assert validation_predictions.get(wrong) is None  # the champion predicts instead
    assert validation_predictions.get(replace(record, validation={"held_out": True})) is None
