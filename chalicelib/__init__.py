"""activelabel: the machine-learning layer of a data-labeling platform (see README.md)."""
