"""Property tests (hypothesis): label config parsing and agreement.

(Counters under random insert/delete/redeliver sequences: tests/functional/test_store_properties.py.)
"""
from xml.sax.saxutils import quoteattr

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.agreement import evaluate_task
from chalicelib.errors import LabelConfigError
from chalicelib.labeling.config import parse_label_config

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
label_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20)


@SETTINGS
@given(control=names, obj=names, labels=st.lists(label_text, min_size=1, max_size=12, unique=True),
       choice=st.sampled_from(["single", "multiple", "single-radio"]))
def test_any_well_formed_choices_config_parses_to_its_labels(control, obj, labels, choice):
    if control == obj:
        control += "_c"
    choices = "".join(f"<Choice value={quoteattr(label)}/>" for label in labels)
    xml = (f'<View><Text name="{obj}" value="${obj}"/>'
           f'<Choices name="{control}" toName="{obj}" choice="{choice}">{choices}</Choices></View>')
    config = parse_label_config(xml)
    assert config.variables() == {obj}
    [parsed] = config.controls
    assert parsed.name == control and parsed.to_name == [obj] and parsed.labels == labels


@SETTINGS
@given(st.text(max_size=400) | st.from_regex(r"<View>(<[A-Za-z]+( [a-z]+=\"[^\"<&]*\")*/?>){0,6}</View>",
                                             fullmatch=True))
def test_parsing_any_text_either_succeeds_or_refuses_with_a_label_config_error(xml):
    try:
        parse_label_config(xml)
    except LabelConfigError as exc:
        assert exc.field == "label_config" and exc.message
    # anything else (ParseError, KeyError, RecursionError...) fails the test


# Agreement properties per control type: tests/unit/test_agreement_properties.py


@SETTINGS
@given(labels=st.lists(st.sampled_from(["ham", "spam", "eggs"]), min_size=1, max_size=8),
       threshold=st.floats(0, 1), overlap=st.integers(1, 4))
def test_single_choice_agreement_is_the_share_of_agreeing_pairs(labels, threshold, overlap):
    completions = [{"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                "value": {"choices": [label]}}]} for label in labels]
    state = evaluate_task(completions, threshold, overlap)
    pairs = [(i, j) for i in range(len(labels)) for j in range(i + 1, len(labels))]
    expected = 1.0 if not pairs else sum(labels[i] == labels[j] for i, j in pairs) / len(pairs)
    assert abs(state.agreement - expected) < 1e-6
    assert state.accepted == (len(labels) >= overlap and state.agreement >= threshold)
    if state.accepted:
        top = max(labels.count(label) for label in labels)
        assert labels.count(state.consensus["label"][0]) == top  # a majority answer
