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
        template_projections = {i["IndexName"]: projection(i["Projection"]) for i in table.get("GlobalSecondaryIndexes", [])}
        model_projections = {i["index_name"]: projection(i["projection"]) for i in schema.get("global_secondary_indexes", [])}
        assert template_projections == model_projections, logical_id


def projection(spec):
    """(type, sorted non-key attributes) from a CloudFormation or a PynamoDB projection."""
    return spec["ProjectionType"], sorted(spec.get("NonKeyAttributes", []))


def test_the_queue_indexes_project_what_next_filters_on():
    """GET /next filters the queue indexes on the lock and the annotators; a filter on an attribute
    the index does not project would silently match nothing."""
    from chalicelib.store.models import TaskModel
    from chalicelib.store.tasks import _open_for

    names: dict = {}
    _open_for("alice", 0.0).serialize(names, {})
    assert set(names) == {"lock_owner", "lock_until", "annotators"}
    for index in (TaskModel.pool_index, TaskModel.scored_index, TaskModel.rework_index):
        assert set(names) <= set(index.Meta.projection.non_key_attributes), index.Meta.index_name
