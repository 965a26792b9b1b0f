"""Taxonomy on text: every selected path is one class (paths flattened to their leaves).

The consensus' first path is the training label; a prediction is written back as the full path
`{"taxonomy": [[root, ..., leaf]]}`. Same TF-IDF + logistic regression as text classification.
"""
from chalicelib.ml.base import ChoicesModel
from chalicelib.ml.text_classifier import text_features
from chalicelib.ml import pool_representation
from chalicelib.ml.text_input import text_of

PATH_SEPARATOR = "\x1f"  # joins a path into one class name; never inside a config value


class TaxonomyClassifier(ChoicesModel):
    kind = "taxonomy_classifier"
    reads_pool = True

    def __init__(self, target, seed: int = 0):
        super().__init__(target, seed)
        self.problem = "classification"

    def raw_input(self, data):
        return text_of(data, self.target.obj)

    def example(self, data, consensus):
        paths = self.answer(consensus)
        if not isinstance(paths, list) or not paths or not isinstance(paths[0], list) or not paths[0]:
            return None
        return self.raw_input(data), PATH_SEPARATOR.join(self.canonical(str(node)) for node in paths[0])

    def features(self):
        return pool_representation.features(text_features(), self.pool, self.feature_mode)

    def result_items(self, label, score):
        return [self.item({"taxonomy": [label.split(PATH_SEPARATOR)]}, score)]

    def answer_of(self, label) -> list:
        return [str(label).split(PATH_SEPARATOR)]
