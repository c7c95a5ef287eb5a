/* Host check of the portable C parts against edgehar's Python reference.
 *
 *   host_test --params      prints the generated constants
 *   host_test < raw.txt     reads samples "ax ay az gx gy gz" (g, rad/s), one per line, and
 *                           prints for each its model channels, normalized and quantized,
 *                           and the sample count at the end of each complete window:
 *                             F <CHANNELS floats>
 *                             Q <CHANNELS int8 values>
 *                             W <samples so far>      (when this sample completed a window)
 */
#include <stdio.h>
#include <string.h>

#include "edgehar_dsp.h"

static void print_params(void) {
  printf("window %d\nhop %d\nsample_rate_hz %.17g\n", EDGEHAR_WINDOW, EDGEHAR_HOP,
         (double)EDGEHAR_SAMPLE_RATE_HZ);
  printf("arena_size %d\nring_rows %d\n", EDGEHAR_ARENA_SIZE, EDGEHAR_RING_ROWS);
  printf("sample_limits %.9g %.9g %d\n", (double)EDGEHAR_MAX_ACC_G, (double)EDGEHAR_MAX_GYRO_RADS, EDGEHAR_MAX_BRIDGED);
  printf("input_quantization %.9g %d\n", (double)EDGEHAR_INPUT_SCALE, EDGEHAR_INPUT_ZERO_POINT);
  printf("output_quantization %.9g %d\n", (double)EDGEHAR_OUTPUT_SCALE, EDGEHAR_OUTPUT_ZERO_POINT);
  printf("classes");
  for (int k = 0; k < EDGEHAR_NUM_CLASSES; ++k) {
    printf(" %s", edgehar_class_labels[k]);
  }
  printf("\nchannel_index");
  for (int c = 0; c < EDGEHAR_NUM_CHANNELS; ++c) {
    printf(" %d", edgehar_channel_index[c]);
  }
  printf("\nmean");
  for (int c = 0; c < EDGEHAR_NUM_CHANNELS; ++c) {
    printf(" %.9g", (double)edgehar_mean[c]);
  }
  printf("\nstd");
  for (int c = 0; c < EDGEHAR_NUM_CHANNELS; ++c) {
    printf(" %.9g", (double)edgehar_std[c]);
  }
  printf("\ngravity_sos");
  for (int s = 0; s < EDGEHAR_GRAVITY_SECTIONS; ++s) {
    for (int k = 0; k < 6; ++k) {
      printf(" %.17g", edgehar_gravity_sos[s][k]);
    }
  }
  printf("\nmedian_length %d", EDGEHAR_MEDIAN_LENGTH);
  printf("\nnoise_sos");
#if EDGEHAR_NOISE_SECTIONS > 0
  for (int s = 0; s < EDGEHAR_NOISE_SECTIONS; ++s) {
    for (int k = 0; k < 6; ++k) {
      printf(" %.17g", edgehar_noise_sos[s][k]);
    }
  }
#endif
  printf("\n");
}

static int run_stream(void) {
  static edgehar_dsp dsp;
  float acc[3], gyro[3], row[EDGEHAR_NUM_CHANNELS];
  long samples = 0;
  edgehar_dsp_reset(&dsp);
  while (scanf("%f %f %f %f %f %f", &acc[0], &acc[1], &acc[2], &gyro[0], &gyro[1], &gyro[2]) == 6) {
    ++samples;
    const bool complete = edgehar_dsp_step(&dsp, acc, gyro, row);
    printf("F");
    for (int c = 0; c < EDGEHAR_NUM_CHANNELS; ++c) {
      printf(" %.9g", (double)row[c]);
    }
    printf("\nQ");
    for (int c = 0; c < EDGEHAR_NUM_CHANNELS; ++c) {
      printf(" %d", edgehar_quantize(row[c]));
    }
    printf("\n");
    if (complete) {
      printf("W %ld\n", samples);
    }
  }
  if (!feof(stdin)) {
    fprintf(stderr, "host_test: malformed sample after line %ld\n", samples);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--params") == 0) {
    print_params();
    return 0;
  }
  if (argc != 1) {
    fprintf(stderr, "usage: host_test [--params] < samples.txt\n");
    return 2;
  }
  return run_stream();
}
