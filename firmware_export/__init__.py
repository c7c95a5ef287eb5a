"""Data-only package: the TFLite Micro firmware template that `edgehar export --firmware` fills."""
