"""Model families, training and evaluation (needs the `train` extra: TensorFlow)."""
