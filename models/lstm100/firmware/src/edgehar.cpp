/* edgehar on TensorFlow Lite Micro: see edgehar.h. */
#include "edgehar.h"

#include "edgehar_tflm.h"  // before TFLM's headers

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "edgehar_hmm.h"
#include "edgehar_intake.h"
#include "model_data.h"
#include "op_resolver.h"

namespace {

alignas(16) uint8_t tensor_arena[EDGEHAR_ARENA_SIZE];
EdgeharOpResolver op_resolver;
tflite::MicroInterpreter *interpreter = nullptr;

/* Inference's state (intake's is in edgehar_intake.c). */
edgehar_hmm hmm;
bool classified_any = false;
uint32_t classified_end = 0;  /* end of the window classified last */
uint32_t decoder_segment = 0; /* segment of the last window the decoder took */
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
    MicroPrintf("edgehar: the model's tensors do not match edgehar_params.h, or your TFLM library "
                "was built without TF_LITE_STATIC_MEMORY (TfLiteTensor's layout depends on it)");
    return false;
  }
#ifndef NDEBUG
  MicroPrintf("edgehar: tensor arena %u of %u bytes used", static_cast<unsigned>(edgehar_arena_used_bytes()),
              static_cast<unsigned>(EDGEHAR_ARENA_SIZE));
#endif
  edgehar_intake_reset();
  edgehar_hmm_reset(&hmm);
  classified_any = false;
  classified = 0;
  decoder_segment = 0;
  return true;
}

extern "C" bool edgehar_poll(edgehar_result *result) {
  edgehar_window window;
  if (!edgehar_intake_newest(&window) || (classified_any && window.end == classified_end)) {
    return false;
  }
  classified_any = true;
  classified_end = window.end;
  if (!edgehar_intake_copy(&window, interpreter->input(0)->data.int8)) {
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
  result->end = window.end;
  /* The decoder restarts with the first window after a gap, as edgehar's Python stream
   * does: a window from before the gap still goes to the decoder it belonged to. */
  if (window.segment != decoder_segment) {
    decoder_segment = window.segment;
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
  edgehar_window newest; /* read first: the counts below include it */
  const bool pending = edgehar_intake_newest(&newest) && (!classified_any || newest.end != classified_end);
  const edgehar_intake_counts counts = edgehar_intake_get_counts();
  edgehar_stats stats;
  stats.samples = counts.samples;
  stats.windows = counts.windows;
  stats.classified = classified;
  stats.windows_skipped = counts.windows - classified - (pending ? 1 : 0);
  stats.rejected = counts.rejected;
  return stats;
}

extern "C" size_t edgehar_arena_used_bytes(void) {
  return interpreter == nullptr ? 0 : interpreter->arena_used_bytes();
}

extern "C" void edgehar_print_result(const edgehar_result *result) {
  MicroPrintf("%s %d%% -> %s", result->name, static_cast<int>(result->confidence * 100.0f + 0.5f),
              result->decoded_name);
}
