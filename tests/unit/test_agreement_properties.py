"""Property-based checks of agreement and consensus for every control type (hypothesis)."""
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.agreement import answers_by_control, consensus, evaluate_task, task_agreement
from chalicelib.labeling.config import parse_label_config

CONFIG = parse_label_config(
    '<View><Text name="text" value="$text"/>'
    '<Choices name="topic" toName="text" choice="multiple"><Choice value="a"/><Choice value="b"/><Choice value="c"/></Choices>'
    '<Choices name="sentiment" toName="text"><Choice value="pos"/><Choice value="neg"/></Choices>'
    '<Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels>'
    '<Rating name="stars" toName="text" maxRating="5"/><Number name="n" toName="text" min="0" max="100"/>'
    '<Taxonomy name="tax" toName="text"><Choice value="X"><Choice value="x1"/><Choice value="x2"/></Choice>'
    '<Choice value="Y"/></Taxonomy><TextArea name="note" toName="text"/></View>'
)


def item(name, kind, value):
    return {"from_name": name, "to_name": "text", "type": kind, "value": value}


spans = st.lists(
    st.tuples(st.integers(0, 40), st.integers(1, 10), st.sampled_from(["PER", "LOC"])), max_size=4,
).map(lambda xs: [item("ner", "labels", {"start": s, "end": s + w, "labels": [lab]}) for s, w, lab in xs])

result_items = st.tuples(
    st.lists(st.sampled_from("abc"), min_size=1, max_size=3, unique=True).map(
        lambda cs: [item("topic", "choices", {"choices": cs})]),
    st.sampled_from(["pos", "neg"]).map(lambda c: [item("sentiment", "choices", {"choices": [c]})]),
    spans,
    st.integers(1, 5).map(lambda r: [item("stars", "rating", {"rating": r})]),
    st.floats(0, 100, allow_nan=False).map(lambda n: [item("n", "number", {"number": n})]),
    st.sampled_from([[["X", "x1"]], [["X", "x2"]], [["Y"]], [["X", "x1"], ["Y"]]]).map(
        lambda p: [item("tax", "taxonomy", {"taxonomy": p})]),
    st.text(max_size=30).map(lambda t: [item("note", "textarea", {"text": [t]})]),
).map(lambda parts: [i for part in parts for i in part])

completions = st.lists(result_items, min_size=2, max_size=4)


def answers(result):
    return answers_by_control(result)


@settings(max_examples=150, deadline=None)
@given(st.tuples(result_items, result_items))
def test_agreement_is_symmetric_and_in_unit_interval(pair):
    a, b = answers(pair[0]), answers(pair[1])
    forward, backward = task_agreement([a, b], CONFIG), task_agreement([b, a], CONFIG)
    assert abs(forward - backward) < 1e-12
    assert 0.0 <= forward <= 1.0


@settings(max_examples=100, deadline=None)
@given(completions)
def test_task_agreement_is_in_unit_interval_and_order_free(results):
    sets = [answers(r) for r in results]
    value = task_agreement(sets, CONFIG)
    assert 0.0 <= value <= 1.0
    assert abs(value - task_agreement(sets[::-1], CONFIG)) < 1e-9


@settings(max_examples=100, deadline=None)
@given(result_items, st.integers(2, 4))
def test_identical_completions_agree_fully_and_are_their_own_consensus(result, copies):
    sets = [answers(result) for _ in range(copies)]
    assert task_agreement(sets, CONFIG) == 1.0
    agreed = consensus(sets)
    assert agreed == {name: answer.value for name, answer in sets[0].items()}
    state = evaluate_task([{"result": result}] * copies, 1.0, copies, CONFIG)
    assert state.accepted and state.agreement == 1.0 and state.consensus == agreed


def test_per_type_definitions():
    def agree(x, y):
        return task_agreement([answers(x), answers(y)], CONFIG)

    assert agree([item("stars", "rating", {"rating": 1})], [item("stars", "rating", {"rating": 5})]) == 0.0
    assert agree([item("stars", "rating", {"rating": 2})], [item("stars", "rating", {"rating": 3})]) == 0.75
    assert agree([item("n", "number", {"number": 10})], [item("n", "number", {"number": 30})]) == 0.8
    assert agree([item("tax", "taxonomy", {"taxonomy": [["X", "x1"]]})],
                 [item("tax", "taxonomy", {"taxonomy": [["X", "x2"]]})]) == 1 / 3  # {X, X/x1} vs {X, X/x2}
    assert agree([item("note", "textarea", {"text": ["kitten"]})], [item("note", "textarea", {"text": ["sitting"]})]) \
        == 1 - 3 / 7
    one = [item("ner", "labels", {"start": 0, "end": 10, "labels": ["PER"]}),
           item("ner", "labels", {"start": 20, "end": 25, "labels": ["LOC"]})]
    other = [item("ner", "labels", {"start": 1, "end": 10, "labels": ["PER"]})]  # IoU 0.9 with the first
    assert agree(one, other) == 2 * 1 / 3
    # several controls are averaged
    both = agree(one + [item("sentiment", "choices", {"choices": ["pos"]})],
                 other + [item("sentiment", "choices", {"choices": ["neg"]})])
    assert abs(both - (2 / 3 + 0) / 2) < 1e-12


def test_consensus_rules():
    def result(rating, span_end, choices):
        return answers([item("stars", "rating", {"rating": rating}),
                        item("ner", "labels", {"start": 0, "end": span_end, "labels": ["PER"]}),
                        item("topic", "choices", {"choices": choices})])

    agreed = consensus([result(1, 5, ["a", "b"]), result(4, 5, ["b"]), result(5, 7, ["b", "c"])])
    assert agreed["stars"] == 4  # median
    assert agreed["ner"] == [{"start": 0, "end": 5, "labels": ["PER"]}]  # span in 2 of 3 completions
    assert agreed["topic"] == ["b"]  # per-choice majority


def test_hypertext_spans_use_their_offsets_and_xpaths():
    def span(xpath, start, end):
        return [item("ner", "hypertextlabels", {"start": xpath, "end": xpath, "startOffset": start,
                                                 "endOffset": end, "hypertextlabels": ["PER"]})]

    a, b, c = span("/p[1]/text()[1]", 0, 10), span("/p[1]/text()[1]", 0, 9), span("/p[2]/text()[1]", 0, 10)
    assert task_agreement([answers(a), answers(b)]) == 1.0  # IoU 0.9
    assert task_agreement([answers(a), answers(c)]) == 0.0  # another paragraph
    assert consensus([answers(a), answers(a), answers(c)])["ner"][0]["xpath"] == ["/p[1]/text()[1]"] * 2
