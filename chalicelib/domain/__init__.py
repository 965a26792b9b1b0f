"""Plain-Python rules of activelabel: settings, agreement and consensus, training thresholds.

Nothing in this package touches AWS or imports numpy/scikit-learn.
"""
