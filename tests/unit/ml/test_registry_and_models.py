"""Registry target choice, text input shaping, and loading artifacts written before the shared model base."""
import pickle

import pytest

from activelabel_client.datasets import SMS_LABEL_CONFIG, sms_split
from chalicelib.errors import ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.ml.registry import get_kind

CONFIG = parse_label_config(
    '<View><Image name="img" value="$img"/><Text name="text" value="$text"/>'
    '<Choices name="photo" toName="img"><Choice value="cat"/><Choice value="dog"/></Choices>'
    '<Choices name="topic" toName="text"><Choice value="a"/><Choice value="b"/></Choices>'
    '<RectangleLabels name="box" toName="img"><Label value="cat"/></RectangleLabels></View>')


def test_target_errors_say_why():
    text = get_kind("text_classifier")
    assert text.target(CONFIG).control.name == "topic"
    with pytest.raises(ValidationError, match=r"labels \['Image'\]; 'text_classifier' reads") as wrong_object:
        text.target(CONFIG, "photo")
    assert wrong_object.value.field == "ml.target"
    with pytest.raises(ValidationError, match=r"<RectangleLabels>; 'text_classifier' learns \['Choices'\]"):
        text.target(CONFIG, "box")
    with pytest.raises(ValidationError, match="no control 'nope'"):
        text.target(CONFIG, "nope")
    assert get_kind("image_classifier").target(CONFIG).control.name == "photo"


def test_hypertext_and_paragraphs_feed_the_text_classifier():
    from chalicelib.ml.text_input import text_of

    config = parse_label_config(
        '<View><HyperText name="page" value="$html"/><Paragraphs name="chat" value="$dialog"/>'
        '<Choices name="a" toName="page"><Choice value="x"/></Choices></View>')
    page, chat = config.objects
    assert text_of({"html": "<p>Win&nbsp;<b>cash</b></p>"}, page) == "Win cash"
    assert text_of({"dialog": [{"author": "A", "text": "hi"}, {"author": "B", "text": "yo"}]}, chat) == "A: hi\nB: yo"


def test_an_artifact_from_before_the_model_base_still_predicts():
    kind = get_kind("text_classifier")
    model = kind.implementation()(kind.target(parse_label_config(SMS_LABEL_CONFIG)))
    pool, test = sms_split(80, 5, seed=2)
    model.fit([r["text"] for r in pool], [r["label"] for r in pool])
    old_state = dict(model.__dict__)
    old_state["pipeline"] = old_state.pop("estimator")
    del old_state["problem"]
    old = type(model).__new__(type(model))
    old.__dict__.update(old_state)
    revived = pickle.loads(pickle.dumps(old))
    predictions = revived.predictions([{"text": r["text"]} for r in test], "v1")
    assert [p["result"][0]["value"] for p in predictions] == \
        [p["result"][0]["value"] for p in model.predictions([{"text": r["text"]} for r in test], "v1")]
