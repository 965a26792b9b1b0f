"""Tabular data (`<Table value="$x">`, `data.x` an object of key/values): Choices as classification,
Rating / Number as regression.

Numbers (and numeric strings, booleans) are numeric columns; other strings are one-hot encoded
(DictVectorizer); missing keys are 0. Columns are standardised, then a logistic regression
(Choices) or ridge regression (Rating/Number, clipped to the tag's range) is fit.
"""
from chalicelib.ml.base import ChoicesModel, NumericModel
from chalicelib.ml.numpy_form import NumpyPipeline
from chalicelib.ml.numpy_form.features import dense_table


def row_of(data: dict, obj) -> dict:
    """A task's table as a flat {column: number or string} dict."""
    value = data.get(obj.value_key)
    if isinstance(value, list):  # [{"key": ..., "value": ...}] or a list of values
        value = {
            str(v.get("key", i)) if isinstance(v, dict) else str(i): v.get("value") if isinstance(v, dict) else v
            for i, v in enumerate(value)
        }
    if not value:
        return {}
    if set(map(type, value.values())) == {float} and set(map(type, value)) == {str}:
        return dict(value)  # the common table: what the loop below gives, without its per-cell checks
    row = {}
    for key, cell in value.items():
        if isinstance(cell, bool):
            row[str(key)] = float(cell)
        elif isinstance(cell, (int, float)):
            row[str(key)] = float(cell)
        elif isinstance(cell, str):
            try:
                row[str(key)] = float(cell)
            except ValueError:
                row[str(key)] = cell
    return row


def table_features():
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("columns", DictVectorizer(sparse=False)), ("scale", StandardScaler())])


def dense_columns(vectorizer, rows: list):
    """`vectorizer.transform(rows)` for a fitted DictVectorizer: numpy_form's `dense_table` when the
    rows have a table's usual shape and the output is dense float64, else DictVectorizer's own."""
    import numpy as np

    if vectorizer.sparse or np.dtype(vectorizer.dtype) != np.float64:
        return vectorizer.transform(rows)
    dense = dense_table(vectorizer.vocabulary_, rows)
    return vectorizer.transform(rows) if dense is None else dense


class TableInputs:
    """Scoring through the fitted scikit-learn pipeline with the DictVectorizer's transform done by
    `dense_columns` (the same array, without DictVectorizer's per-cell Python work when the
    held-out and champion rows are scored). The numpy serving form (numpy_form.NumpyPipeline, no
    scikit-learn import) and pipelines of another shape score through their own steps."""

    def last_step_inputs(self, X):
        """(the pipeline's last step, what it reads for rows X), or None to use the estimator as is."""
        if isinstance(self.estimator, NumpyPipeline):
            return None
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.pipeline import Pipeline

        steps = self.estimator.steps
        if len(steps) != 2 or not isinstance(steps[0][1], Pipeline) \
                or not isinstance(steps[0][1].steps[0][1], DictVectorizer):
            return None
        Z = dense_columns(steps[0][1].steps[0][1], X)
        for _, step in steps[0][1].steps[1:]:
            if step != "passthrough":
                Z = step.transform(Z)
        return steps[1][1], Z


class TabularClassifier(TableInputs, ChoicesModel):
    kind = "tabular"

    def raw_input(self, data):
        return row_of(data, self.target.obj)

    def predict_proba(self, X):
        inputs = self.last_step_inputs(X)
        return self.estimator.predict_proba(X) if inputs is None else inputs[0].predict_proba(inputs[1])

    def features(self):
        return table_features()

    def classifier(self, binary: bool):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, max_iter=5000, random_state=self.seed)


class TabularRegressor(TableInputs, NumericModel):
    kind = "tabular"

    def raw_input(self, data):
        return row_of(data, self.target.obj)

    def regress(self, X):
        inputs = self.last_step_inputs(X)
        return self.estimator.predict(X) if inputs is None else inputs[0].predict(inputs[1])

    def features(self):
        return table_features()


def tabular_model(target, seed: int = 0):
    """The tabular model for a target: a classifier for Choices, a regressor for Rating/Number."""
    if target.control.type == "Choices":
        return TabularClassifier(target, seed=seed)
    return TabularRegressor(target, seed=seed)
