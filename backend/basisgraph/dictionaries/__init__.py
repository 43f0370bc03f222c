"""Learned dictionaries: sparse autoencoders trained on the planted activations, their metrics and tables."""
