"""Shipped weights: the small CNN classifiers that give FID features.

`train_classifiers.py` beside them is the script that produced them; each
``<dataset>_cnn.json`` records how.
"""
