"""Rating / Number on text: TF-IDF features and ridge regression, clipped to the tag's range
(Rating 1..maxRating, rounded to whole stars; Number to its min/max when set)."""
from chalicelib.ml.base import NumericModel
from chalicelib.ml.text_classifier import text_features
from chalicelib.ml import pool_representation
from chalicelib.ml.text_input import text_of


class TextRegressor(NumericModel):
    kind = "text_regressor"
    reads_pool = True

    def raw_input(self, data):
        return text_of(data, self.target.obj)

    def features(self):
        return pool_representation.features(text_features(), self.pool, self.feature_mode)
