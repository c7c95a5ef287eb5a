/* Included before any TensorFlow Lite Micro header (edgehar.cpp, op_resolver.h).
 *
 * TfLiteTensor has another layout without TF_LITE_STATIC_MEMORY, and every TFLM build
 * (its Makefile, create_tflm_tree.py projects, esp-tflite-micro, the package's CMake and
 * Zephyr files) defines it: code compiled without it reads the library's tensors at the
 * wrong offsets. Arduino cannot pass flags to a library, so there it is defined here;
 * edgehar_setup() says so if the board's TFLM library was built the other way.
 */
#ifndef EDGEHAR_TFLM_H
#define EDGEHAR_TFLM_H

#if defined(ARDUINO) && !defined(TF_LITE_STATIC_MEMORY)
#define TF_LITE_STATIC_MEMORY
#endif
#ifndef TF_LITE_STATIC_MEMORY
#error "edgehar: compile with -DTF_LITE_STATIC_MEMORY, as your TensorFlow Lite Micro library is built"
#endif

#endif /* EDGEHAR_TFLM_H */
