/* edgehar on TensorFlow Lite Micro: see edgehar.h. */
#include "edgehar.h"

#include <atomic>
#include <cstring>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "edgehar_dsp.h"
#include "edgehar_hmm.h"
#include "model_data.h"
#include "op_resolver.h"

/* TfLiteTensor has another layout without TF_LITE_STATIC_MEMORY, and every TFLM build
 * (its Makefile, create_tflm_tree.py projects, esp-tflite-micro, Zephyr's module) defines
 * it: firmware compiled without it reads the library's tensors at the wrong offsets.
 * Arduino cannot pass flags to a library; there the TFLM port's headers must define it. */
#if !defined(TF_LITE_STATIC_MEMORY) && !defined(ARDUINO)
#error "edgehar: compile with -DTF_LITE_STATIC_MEMORY, as your TensorFlow Lite Micro library is built"
#endif
#ifdef TF_LITE_STATIC_MEMORY
#define EDGEHAR_STATIC_MEMORY_SETTING "with"
#else
#define EDGEHAR_STATIC_MEMORY_SETTING "without"
#endif

namespace {

/* The ring keeps a complete window intact for RING_ROWS - WINDOW >= HOP more samples:
 * long enough for inference to copy it. A power of two, so that sample counts wrapping
 * at 2^32 still map to the right row. */
constexpr uint32_t kRingRows = EDGEHAR_RING_ROWS;
static_assert((kRingRows & (kRingRows - 1)) == 0, "EDGEHAR_RING_ROWS must be a power of two");
static_assert(kRingRows >= EDGEHAR_WINDOW + EDGEHAR_HOP, "EDGEHAR_RING_ROWS < WINDOW + HOP");

alignas(16) uint8_t tensor_arena[EDGEHAR_ARENA_SIZE];
EdgeharOpResolver op_resolver;
tflite::MicroInterpreter *interpreter = nullptr;

/* Intake's state; inference reads `ring` between two loads of `samples`. */
edgehar_dsp dsp;
int8_t ring[kRingRows][EDGEHAR_NUM_CHANNELS];
std::atomic<uint32_t> samples{0};   /* samples pushed; sample i is in ring row i % kRingRows */
std::atomic<uint32_t> ready_end{0}; /* `samples` when the newest complete window was complete */
std::atomic<uint32_t> windows{0};   /* complete windows */
std::atomic<uint32_t> gaps{0};      /* gaps pushed */

/* Inference's state. */
edgehar_hmm hmm;
uint32_t gaps_seen = 0;
bool classified_any = false;
uint32_t classified_end = 0; /* ready_end of the window classified last */
uint32_t classified = 0;

/* Class index of the highest int8 score (the order of scores is that of their real values). */
int best_class(const int8_t *scores) {
  int best = 0;
  for (int k = 1; k < EDGEHAR_NUM_CLASSES; ++k) {
    if (scores[k] > scores[best]) {
      best = k;
    }
  }
  return best;
}

/* Copy the window that was complete at `end` into `input`; false if intake overwrote part
 * of it meanwhile (inference was held up for more than RING_ROWS - WINDOW samples). */
bool copy_window(uint32_t end, int8_t *input) {
  for (uint32_t t = 0; t < EDGEHAR_WINDOW; ++t) {
    const uint32_t row = (end - EDGEHAR_WINDOW + t) & (kRingRows - 1);
    std::memcpy(input + t * EDGEHAR_NUM_CHANNELS, ring[row], EDGEHAR_NUM_CHANNELS);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  return samples.load(std::memory_order_relaxed) - end <= kRingRows - EDGEHAR_WINDOW;
}

}  // namespace

extern "C" bool edgehar_setup(void) {
  tflite::InitializeTarget();
  const tflite::Model *model = tflite::GetModel(g_model_data);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    MicroPrintf("edgehar: model schema %d, this TFLM reads %d", static_cast<int>(model->version()),
                TFLITE_SCHEMA_VERSION);
    return false;
  }
  if (edgehar_register_ops(op_resolver) != kTfLiteOk) {
    MicroPrintf("edgehar: could not register the model's ops");
    return false;
  }
  static tflite::MicroInterpreter static_interpreter(model, op_resolver, tensor_arena, EDGEHAR_ARENA_SIZE);
  interpreter = &static_interpreter;
  if (interpreter->AllocateTensors() != kTfLiteOk) {
    MicroPrintf("edgehar: AllocateTensors failed; raise EDGEHAR_ARENA_SIZE (%d)", EDGEHAR_ARENA_SIZE);
    return false;
  }
  const TfLiteTensor *input = interpreter->input(0);
  const TfLiteTensor *output = interpreter->output(0);
  if (input->type != kTfLiteInt8 || input->bytes != EDGEHAR_WINDOW * EDGEHAR_NUM_CHANNELS ||
      output->type != kTfLiteInt8 || output->bytes != EDGEHAR_NUM_CLASSES) {
    MicroPrintf("edgehar: the model's tensors do not match edgehar_params.h, or this file was "
                "compiled " EDGEHAR_STATIC_MEMORY_SETTING " TF_LITE_STATIC_MEMORY and your TFLM "
                "library the other way (TfLiteTensor's layout depends on it)");
    return false;
  }
#ifndef NDEBUG
  MicroPrintf("edgehar: tensor arena %u of %u bytes used", static_cast<unsigned>(edgehar_arena_used_bytes()),
              static_cast<unsigned>(EDGEHAR_ARENA_SIZE));
#endif
  edgehar_dsp_reset(&dsp);
  edgehar_hmm_reset(&hmm);
  return true;
}

extern "C" void edgehar_push_sample(const float acc_g[3], const float gyro_rads[3]) {
  float row[EDGEHAR_NUM_CHANNELS];
  const bool complete = edgehar_dsp_step(&dsp, acc_g, gyro_rads, row);
  const uint32_t n = samples.load(std::memory_order_relaxed);
  for (int c = 0; c < EDGEHAR_NUM_CHANNELS; ++c) {
    ring[n & (kRingRows - 1)][c] = edgehar_quantize(row[c]);
  }
  samples.store(n + 1, std::memory_order_release);
  if (complete) {
    ready_end.store(n + 1, std::memory_order_relaxed);
    windows.store(windows.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
}

extern "C" void edgehar_push_gap(void) {
  edgehar_dsp_reset(&dsp);
  gaps.store(gaps.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

extern "C" bool edgehar_poll(edgehar_result *result) {
  if (windows.load(std::memory_order_acquire) == 0) {
    return false;
  }
  const uint32_t end = ready_end.load(std::memory_order_relaxed);
  if (classified_any && end == classified_end) {
    return false;
  }
  classified_any = true;
  classified_end = end;
  if (!copy_window(end, interpreter->input(0)->data.int8)) {
    return false; /* counted as skipped */
  }
  /* Every window starts from the state the model had after AllocateTensors (recurrent
   * layers' variable tensors zeroed), as in edgehar's Python runtime. */
  if (interpreter->Reset() != kTfLiteOk || interpreter->Invoke() != kTfLiteOk) {
    MicroPrintf("edgehar: Invoke failed");
    return false;
  }
  ++classified;
  const int8_t *scores = interpreter->output(0)->data.int8;
  const int best = best_class(scores);
  result->label = best;
  result->name = edgehar_class_labels[best];
  result->confidence = (scores[best] - EDGEHAR_OUTPUT_ZERO_POINT) * EDGEHAR_OUTPUT_SCALE;
  result->scores = scores;
  result->end = end;
  /* The decoder restarts after a gap, as edgehar's Python stream does. */
  const uint32_t gaps_now = gaps.load(std::memory_order_acquire);
  if (gaps_now != gaps_seen) {
    gaps_seen = gaps_now;
    edgehar_hmm_reset(&hmm);
  }
  float probs[EDGEHAR_NUM_CLASSES];
  for (int k = 0; k < EDGEHAR_NUM_CLASSES; ++k) {
    probs[k] = (scores[k] - EDGEHAR_OUTPUT_ZERO_POINT) * EDGEHAR_OUTPUT_SCALE;
  }
  result->decoded = edgehar_hmm_update(&hmm, probs);
  result->decoded_name = edgehar_class_labels[result->decoded];
  return true;
}

extern "C" edgehar_stats edgehar_get_stats(void) {
  edgehar_stats stats;
  stats.windows = windows.load(std::memory_order_acquire);
  stats.samples = samples.load(std::memory_order_relaxed);
  stats.classified = classified;
  const bool pending = stats.windows > 0 && (!classified_any || ready_end.load() != classified_end);
  stats.windows_skipped = stats.windows - classified - (pending ? 1 : 0);
  return stats;
}

extern "C" size_t edgehar_arena_used_bytes(void) {
  return interpreter == nullptr ? 0 : interpreter->arena_used_bytes();
}

extern "C" void edgehar_print_result(const edgehar_result *result) {
  MicroPrintf("%s %d%% -> %s", result->name, static_cast<int>(result->confidence * 100.0f + 0.5f),
              result->decoded_name);
}
