/* edgehar firmware main loop: IMU samples -> preprocessing -> TensorFlow Lite Micro -> label.
 *
 * You write one function for your board (see README.md):
 *   bool edgehar_read_sample(float acc_g[3], float gyro_rads[3]);
 * It waits for the next sample at EDGEHAR_SAMPLE_RATE_HZ and returns true, or returns false
 * after a gap in the stream (dropped samples, sensor restart): preprocessing then starts afresh.
 *
 * edgehar_setup() and edgehar_poll() are the two halves of the loop; main() below runs them.
 * Where the framework owns main() (Arduino: setup()/loop()), define EDGEHAR_NO_MAIN and call
 * them yourself.
 */
#include <cstdint>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "edgehar_dsp.h"
#include "edgehar_hmm.h"
#include "edgehar_params.h"
#include "model_data.h"
#include "op_resolver.h"

extern "C" bool edgehar_read_sample(float acc_g[3], float gyro_rads[3]);

namespace {

alignas(16) uint8_t tensor_arena[EDGEHAR_ARENA_SIZE];
EdgeharOpResolver op_resolver;
tflite::MicroInterpreter *interpreter = nullptr;
edgehar_dsp dsp;
edgehar_hmm hmm;

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

/* Load the model and check it matches the generated parameters; false (with a message) if not. */
bool edgehar_setup() {
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
    MicroPrintf("edgehar: the model's tensors do not match edgehar_params.h");
    return false;
  }
  edgehar_dsp_reset(&dsp);
  edgehar_hmm_reset(&hmm);
  return true;
}

/* Read one sample; on each complete window classify it and print the model's label, its
 * probability and the decoder's label (edgehar_hmm.h). */
void edgehar_poll() {
  float acc_g[3];
  float gyro_rads[3];
  if (!edgehar_read_sample(acc_g, gyro_rads)) {
    edgehar_dsp_reset(&dsp);
    edgehar_hmm_reset(&hmm);
    return;
  }
  if (!edgehar_dsp_push(&dsp, acc_g, gyro_rads)) {
    return;
  }
  /* Every window starts from the state the model had after AllocateTensors (recurrent
   * layers' variable tensors zeroed), as in edgehar's Python runtime. */
  if (interpreter->Reset() != kTfLiteOk) {
    MicroPrintf("edgehar: Reset failed");
    return;
  }
  edgehar_dsp_quantized_window(&dsp, interpreter->input(0)->data.int8);
  if (interpreter->Invoke() != kTfLiteOk) {
    MicroPrintf("edgehar: Invoke failed");
    return;
  }
  const int8_t *scores = interpreter->output(0)->data.int8;
  const int best = best_class(scores);
  float probs[EDGEHAR_NUM_CLASSES];
  for (int k = 0; k < EDGEHAR_NUM_CLASSES; ++k) {
    probs[k] = (scores[k] - EDGEHAR_OUTPUT_ZERO_POINT) * EDGEHAR_OUTPUT_SCALE;
  }
  const int decoded = edgehar_hmm_update(&hmm, probs);
  MicroPrintf("%s %d%% -> %s", edgehar_class_labels[best], static_cast<int>(probs[best] * 100.0f + 0.5f),
              edgehar_class_labels[decoded]);
}

#ifndef EDGEHAR_NO_MAIN
int main() {
  if (!edgehar_setup()) {
    return 1;
  }
  for (;;) {
    edgehar_poll();
  }
}
#endif
