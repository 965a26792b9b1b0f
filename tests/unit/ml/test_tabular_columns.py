"""Tabular scoring, in training (dense_columns) and in the numpy serving form (DictColumns), builds
the DictVectorizer's array at once when rows share their keys and hold numbers: the same array as
DictVectorizer.transform, so the same probabilities."""
import numpy as np

from chalicelib.labeling.config import parse_label_config
from chalicelib.ml import numpy_form, training
from chalicelib.ml.registry import get_kind
from chalicelib.ml.numpy_form.features import DictColumns
from chalicelib.ml.tabular import dense_columns, row_of
from tests.kind_data import breast_cancer_rows, tabular_config


def fitted(control: str, rows: list):
    kind = get_kind("tabular")
    target = kind.target(parse_label_config(tabular_config(control)))
    name = target.control.name
    pairs = [({"x": x}, {name: [y] if control == "Choices" else 1 + i % 5}) for i, (x, y) in enumerate(rows)]
    return training.train(kind, target, pairs, seed=0).model


def test_scores_equal_the_scikit_learn_pipeline_and_the_numpy_form():
    rows = breast_cancer_rows()
    classifier, regressor = fitted("Choices", rows[:300]), fitted("Number", rows[:300])
    X = classifier.inputs([{"x": x} for x, _ in rows[300:]])
    proba = classifier.predict_proba(X)
    assert np.array_equal(proba, classifier.estimator.predict_proba(X))
    assert np.array_equal(regressor.regress(X), regressor.estimator.predict(X))
    served = numpy_form.load(numpy_form.export(classifier))
    assert np.allclose(served.predict_proba(X), proba, rtol=0, atol=1e-12)
    assert [label for label, _ in served.scored(X)] == [label for label, _ in classifier.scored(X)]


def test_rows_of_other_shapes_give_what_dict_vectorizer_gives():
    rows = breast_cancer_rows()
    vectorizer = fitted("Choices", rows[:100]).estimator.steps[0][1].steps[0][1]
    table = [row_of({"x": x}, type("Obj", (), {"value_key": "x"})) for x, _ in rows[100:110]]
    first = table[0]
    shapes = [
        table,
        [dict(reversed(list(first.items()))), first],  # keys in another order
        [{**first, "not a column": 3.0}, first],  # unknown key: dropped
        [{k: v for k, v in first.items() if k != "mean radius"}] * 2,  # missing key: 0
        [{**first, "mean radius": "large"}, first],  # a string: one-hot (unknown here)
        [{}, {}],
    ]
    served = DictColumns({"separator": vectorizer.separator, "sparse": False}, vectorizer.feature_names_)
    for shape in shapes:
        expected = vectorizer.transform(shape)
        assert np.array_equal(dense_columns(vectorizer, shape), expected)
        assert np.array_equal(served.transform(shape), expected)
    assert dense_columns(vectorizer, shapes[3])[0, vectorizer.vocabulary_["mean radius"]] == 0.0
