/* edgehar streaming preprocessing, portable C11: see edgehar_dsp.h. */
#include "edgehar_dsp.h"

#include <math.h>
#include <string.h>

/* No fused multiply-add, so the filters round exactly as edgehar's Python does, also where
 * the build cannot pass -ffp-contract=off (Arduino). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* One sample through a cascade of biquads, as scipy.signal.sosfilt computes it. */
static double sos_step(const double sos[][6], double state[][2], int sections, double x) {
  for (int s = 0; s < sections; ++s) {
    const double y = sos[s][0] * x + state[s][0];
    state[s][0] = sos[s][1] * x - sos[s][4] * y + state[s][1];
    state[s][1] = sos[s][2] * x - sos[s][5] * y;
    x = y;
  }
  return x;
}

/* Steady state for a constant input x: sosfilt_zi * x. */
static void sos_start(const double zi[][2], double state[][2], int sections, double x) {
  for (int s = 0; s < sections; ++s) {
    state[s][0] = zi[s][0] * x;
    state[s][1] = zi[s][1] * x;
  }
}

#if EDGEHAR_MEDIAN_LENGTH > 1
/* The median of x and the EDGEHAR_MEDIAN_LENGTH - 1 samples before it (history, oldest
 * first), which then takes x; as numpy.median over the same samples (it picks one of them). */
static double median_step(double history[EDGEHAR_MEDIAN_LENGTH - 1], double x) {
  double sorted[EDGEHAR_MEDIAN_LENGTH];
  for (int i = 0; i < EDGEHAR_MEDIAN_LENGTH - 1; ++i) {
    sorted[i] = history[i];
  }
  sorted[EDGEHAR_MEDIAN_LENGTH - 1] = x;
  for (int i = 0; i < EDGEHAR_MEDIAN_LENGTH - 2; ++i) {
    history[i] = history[i + 1];
  }
  history[EDGEHAR_MEDIAN_LENGTH - 2] = x;
  for (int i = 1; i < EDGEHAR_MEDIAN_LENGTH; ++i) { /* insertion sort: a handful of values */
    const double v = sorted[i];
    int j = i - 1;
    for (; j >= 0 && sorted[j] > v; --j) {
      sorted[j + 1] = sorted[j];
    }
    sorted[j + 1] = v;
  }
  return sorted[EDGEHAR_MEDIAN_LENGTH / 2];
}
#endif

void edgehar_dsp_reset(edgehar_dsp *dsp) {
  memset(dsp, 0, sizeof *dsp);
  dsp->due = EDGEHAR_WINDOW;
}

bool edgehar_dsp_step(edgehar_dsp *dsp, const float acc_g[3], const float gyro_rads[3],
                      float out[EDGEHAR_NUM_CHANNELS]) {
  double raw[6];
  for (int i = 0; i < 3; ++i) {
    raw[i] = acc_g[i];
    raw[3 + i] = gyro_rads[i];
  }
#if EDGEHAR_MEDIAN_LENGTH > 1
  for (int i = 0; i < 6; ++i) {
    if (!dsp->started) {
      for (int k = 0; k < EDGEHAR_MEDIAN_LENGTH - 1; ++k) {
        dsp->median_history[i][k] = raw[i];
      }
    }
    raw[i] = median_step(dsp->median_history[i], raw[i]);
  }
#endif
#if EDGEHAR_NOISE_SECTIONS > 0
  for (int i = 0; i < 6; ++i) {
    if (!dsp->started) {
      sos_start(edgehar_noise_zi, dsp->noise_state[i], EDGEHAR_NOISE_SECTIONS, raw[i]);
    }
    raw[i] = sos_step(edgehar_noise_sos, dsp->noise_state[i], EDGEHAR_NOISE_SECTIONS, raw[i]);
  }
#endif
  double nine[9]; /* body_acc xyz, gyro xyz, acc xyz: the UCI channel order */
  for (int i = 0; i < 3; ++i) {
    if (!dsp->started) {
      sos_start(edgehar_gravity_zi, dsp->gravity_state[i], EDGEHAR_GRAVITY_SECTIONS, raw[i]);
    }
    const double gravity =
        sos_step(edgehar_gravity_sos, dsp->gravity_state[i], EDGEHAR_GRAVITY_SECTIONS, raw[i]);
    nine[i] = raw[i] - gravity;
    nine[3 + i] = raw[3 + i];
    nine[6 + i] = raw[i];
  }
  dsp->started = true;

  for (int c = 0; c < EDGEHAR_NUM_CHANNELS; ++c) {
    const float x = (float)nine[edgehar_channel_index[c]];
    out[c] = (x - edgehar_mean[c]) / edgehar_std[c];
  }
  if (--dsp->due > 0) {
    return false;
  }
  dsp->due = EDGEHAR_HOP;
  return true;
}

int8_t edgehar_quantize(float x) {
  /* rintf rounds half to even under the default rounding mode, like numpy.rint; clipping
   * in float before converting keeps out-of-range values defined. */
  float q = rintf(x / EDGEHAR_INPUT_SCALE) + EDGEHAR_INPUT_ZERO_POINT;
  if (!(q >= -128.0f)) { /* NaN too (the intake's sample limits keep it out): defined */
    q = -128.0f;
  }
  if (q > 127.0f) {
    q = 127.0f;
  }
  return (int8_t)q;
}
