"""Export a trained bundle for devices: TFLite variants, their validation, TFLM, benchmarks.

Modules: ``convert`` (Keras -> .tflite variants), ``report`` (validate them on the test
split), ``tflm`` (run under TensorFlow Lite Micro, measure the arena), ``bench`` (latency
and memory). Nothing is imported here, so the runtime-only benchmark worker stays light.
"""
