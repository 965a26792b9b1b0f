"""Tabular data (`<Table value="$x">`, `data.x` an object of key/values): Choices as classification,
Rating / Number as regression.

Numbers (and numeric strings, booleans) are numeric columns; other strings are one-hot encoded
(DictVectorizer); missing keys are 0. Columns are standardised, then a logistic regression
(Choices) or ridge regression (Rating/Number, clipped to the tag's range) is fit.
"""
from chalicelib.ml.base import ChoicesModel, NumericModel


def row_of(data: dict, obj) -> dict:
    """A task's table as a flat {column: number or string} dict."""
    value = data.get(obj.value_key)
    if isinstance(value, list):  # [{"key": ..., "value": ...}] or a list of values
        value = {
            str(v.get("key", i)) if isinstance(v, dict) else str(i): v.get("value") if isinstance(v, dict) else v
            for i, v in enumerate(value)
        }
    row = {}
    for key, cell in (value or {}).items():
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


class TabularClassifier(ChoicesModel):
    kind = "tabular"

    def raw_input(self, data):
        return row_of(data, self.target.obj)

    def features(self):
        return table_features()

    def classifier(self, binary: bool):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, max_iter=5000, random_state=self.seed)


class TabularRegressor(NumericModel):
    kind = "tabular"

    def raw_input(self, data):
        return row_of(data, self.target.obj)

    def features(self):
        return table_features()


def tabular_model(target, seed: int = 0):
    """The tabular model for a target: a classifier for Choices, a regressor for Rating/Number."""
    if target.control.type == "Choices":
        return TabularClassifier(target, seed=seed)
    return TabularRegressor(target, seed=seed)
