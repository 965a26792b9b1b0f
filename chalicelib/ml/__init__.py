"""Model kinds, training, evaluation and serving.

Import rule: only `registry` may be imported at module level by the API; numpy, scipy,
scikit-learn and joblib are imported inside functions on the train and predict paths.
"""
