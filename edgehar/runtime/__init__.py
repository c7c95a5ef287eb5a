"""The on-device runtime: LiteRT inference, live sources and the streaming loop (no TensorFlow)."""
