/* edgehar streaming preprocessing, portable C11.
 *
 * The same maths as edgehar/preprocess/pipeline.py, sample by sample:
 *   optional running median of the last EDGEHAR_MEDIAN_LENGTH samples on all 6 raw columns,
 *   optional noise low-pass (Butterworth SOS) on all 6 raw columns,
 *   gravity = Butterworth low-pass of the acceleration, body_acc = acc - gravity,
 *   the 9 UCI channels [body_acc xyz, gyro xyz, acc xyz], the model's subset of them,
 *   per-channel (x - mean) / std in float, then int8 quantization for the model.
 * Filters run in double, in transposed direct form II exactly like scipy.signal.sosfilt,
 * their state initialised as sosfilt_zi * the first sample; the median's history starts as
 * the first sample repeated.
 * A window is complete after EDGEHAR_WINDOW samples and then every EDGEHAR_HOP samples.
 */
#ifndef EDGEHAR_DSP_H
#define EDGEHAR_DSP_H

#include <stdbool.h>
#include <stdint.h>

#include "edgehar_params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  bool started; /* false until the first sample set the filter states */
#if EDGEHAR_MEDIAN_LENGTH > 1
  double median_history[6][EDGEHAR_MEDIAN_LENGTH - 1]; /* the samples before, oldest first */
#endif
#if EDGEHAR_NOISE_SECTIONS > 0
  double noise_state[6][EDGEHAR_NOISE_SECTIONS][2];
#endif
  double gravity_state[3][EDGEHAR_GRAVITY_SECTIONS][2];
  uint32_t due; /* samples until the next window is complete */
} edgehar_dsp;

/* Start afresh: at power-up and after any gap in the sample stream. */
void edgehar_dsp_reset(edgehar_dsp *dsp);

/* One raw sample (acceleration in g, angular velocity in rad/s) -> the model's normalized
 * channels in `out`. Returns true when this sample completes a window. */
bool edgehar_dsp_step(edgehar_dsp *dsp, const float acc_g[3], const float gyro_rads[3],
                      float out[EDGEHAR_NUM_CHANNELS]);

/* Float -> int8 with the model's input scale and zero point, rounding half to even. */
int8_t edgehar_quantize(float x);

#ifdef __cplusplus
}
#endif

#endif /* EDGEHAR_DSP_H */
