"""The PynamoDB models and infra/resources.yaml describe the same tables."""
from chalicelib.local.resources import load_template
from chalicelib.store.models import _LOGICAL_IDS


def key_schema(entries):
    return sorted((e["AttributeName"], e["KeyType"]) for e in entries)


def test_models_match_the_merge_template():
    resources = load_template()["Resources"]
    for model, logical_id in _LOGICAL_IDS.items():
        table = resources[logical_id]["Properties"]
        schema = model._get_schema()
        declared_types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        model_types = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
        assert declared_types == model_types, logical_id
        assert key_schema(table["KeySchema"]) == sorted(
            (k["AttributeName"], k["KeyType"]) for k in schema["key_schema"]), logical_id
        template_indexes = {i["IndexName"]: key_schema(i["KeySchema"]) for i in table.get("GlobalSecondaryIndexes", [])}
        model_indexes = {
            i["index_name"]: sorted((k["AttributeName"], k["KeyType"]) for k in i["key_schema"])
            for i in schema.get("global_secondary_indexes", [])
        }
        assert template_indexes == model_indexes, logical_id


def test_only_the_completions_table_streams():
    resources = load_template()["Resources"]
    streaming = [name for name, r in resources.items()
                 if r.get("Type") == "AWS::DynamoDB::Table" and "StreamSpecification" in r["Properties"]]
    assert streaming == ["CompletionsTable"]
