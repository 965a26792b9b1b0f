"""Model kinds, training, evaluation and serving.

Import rule: numpy, scipy, scikit-learn, joblib and Pillow are imported lazily, inside the
functions of the train and predict paths: every Lambda function imports app.py (and through it
registry, serving and sampling), and importing scikit-learn costs seconds of cold start.
"""
