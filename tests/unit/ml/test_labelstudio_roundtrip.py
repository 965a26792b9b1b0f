"""Label Studio fixtures: their configs list the right models, and every kind's predictions use only
from_name / to_name / labels that exist in the config (checked by the result validator)."""
from pathlib import Path

import pytest

from activelabel_client.datasets import sms_split
from chalicelib.errors import LabelConfigError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labeling.validation import validate_result
from chalicelib.ml import registry, training

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "labelstudio"
CONFIGS = sorted(FIXTURES.rglob("*.xml"))

# What a reader of the Label Studio docs expects, written independently of the registry's declarations.
EXPECTED_KIND = {
    ("Choices", "Text"): "text_classifier", ("Choices", "HyperText"): "text_classifier",
    ("Choices", "Paragraphs"): "text_classifier", ("Taxonomy", "Text"): "taxonomy_classifier",
    ("Labels", "Text"): "ner_tagger", ("Choices", "Image"): "image_classifier", ("Choices", "Table"): "tabular",
    ("Number", "Table"): "tabular", ("Rating", "Table"): "tabular", ("Rating", "Text"): "text_regressor",
    ("Number", "Text"): "text_regressor",
}


def parsed():
    out = []
    for path in CONFIGS:
        try:
            out.append((path, parse_label_config(path.read_text())))
        except LabelConfigError:
            continue  # the rejected ones are covered by tests/unit/labeling
    return out


def test_the_fixture_configs_parse():
    assert len(parsed()) >= 10


@pytest.mark.parametrize("path,config", parsed(), ids=lambda v: str(v.relative_to(FIXTURES)) if isinstance(v, Path) else "")
def test_fixture_configs_list_the_right_models(path, config):
    expected: dict[str, list[str]] = {}
    for control in config.controls:
        for obj in config.objects_of(control):
            kind = EXPECTED_KIND.get((control.type, obj.type))
            if kind:
                expected.setdefault(kind, []).append(control.name)
                break
    listed = {kind.name: [t.control.name for t in kind.targets(config)] for kind in registry.fitting_kinds(config)}
    assert listed == expected
    learned = {name for names in listed.values() for name in names}
    assert {c["control"] for c in registry.unsupported_controls(config)} == {c.name for c in config.controls} - learned


def synthetic_task(config, target, text: str, i: int) -> tuple[dict, dict]:
    """(data, consensus) for one example, with labels taken from the config only."""
    control, obj = target.control, target.obj
    data = {o.value_key: text for o in config.objects if o.type in ("Text", "HyperText")}
    if obj.type == "Table":
        data[obj.value_key] = {"price": float(i % 7), "size": "large" if i % 2 else "small"}
    if control.type == "Choices":
        answer = [control.labels[i % len(control.labels)]]
        if control.choice == "multiple":
            answer = sorted({answer[0], control.labels[(i + 1) % len(control.labels)]})
    elif control.type == "Taxonomy":
        answer = [control.taxonomy[i % len(control.taxonomy)]]
    elif control.type == "Labels":
        first = text.split()[0]
        answer = [{"start": 0, "end": len(first), "text": first, "labels": [control.labels[i % len(control.labels)]]}]
    else:
        answer = 1 + i % 3
    return data, {control.name: answer}


def cases():
    for path, config in parsed():
        for kind in registry.fitting_kinds(config):
            for target in kind.targets(config):
                yield pytest.param(config, kind, target, id=f"{path.parent.name}/{path.name}:{kind.name}:{target.control.name}")


@pytest.mark.parametrize("config,kind,target", list(cases()))
def test_every_kind_predicts_only_what_the_config_allows(config, kind, target):
    pool, unseen = sms_split(16, 6, seed=5)
    accepted = [synthetic_task(config, target, row["text"], i) for i, row in enumerate(pool)]
    outcome = training.train(kind, target, accepted, seed=1)
    samples = [synthetic_task(config, target, row["text"], i)[0] for i, row in enumerate(unseen + pool[:4])]
    predictions = training.deserialize(training.serialize(outcome.model)).predictions(samples, "v7")
    allowed_labels = set(target.control.labels)
    n_items = 0
    for data, prediction in zip(samples, predictions):
        assert prediction["model_version"] == "v7"
        validate_result(config, prediction["result"], data)
        for item in prediction["result"]:
            n_items += 1
            assert item["from_name"] == target.control.name and item["to_name"] in target.control.to_name
            value = item["value"]
            for key in ("choices", "labels"):
                assert set(value.get(key, [])) <= allowed_labels
            for path in value.get("taxonomy", []):
                assert path in target.control.taxonomy
    assert n_items >= len(samples) - 6 if kind.name == "ner_tagger" else n_items == len(samples)
