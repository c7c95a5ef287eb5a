/* Host check of the portable C parts against edgehar's Python reference.
 *
 *   host_test --params      prints the generated constants
 *   host_test < raw.txt     reads samples "ax ay az gx gy gz" (g, rad/s), one per line, and
 *                           for each complete window prints the sample count at its end,
 *                           its normalized floats and its int8 input tensor:
 *                             F <end> <WINDOW*CHANNELS floats, row-major>
 *                             Q <end> <WINDOW*CHANNELS int8 values>
 */
#include <stdio.h>
#include <string.h>

#include "edgehar_dsp.h"

static void print_params(void) {
  printf("window %d\nhop %d\nsample_rate_hz %.17g\n", EDGEHAR_WINDOW, EDGEHAR_HOP,
         (double)EDGEHAR_SAMPLE_RATE_HZ);
  printf("arena_size %d\n", EDGEHAR_ARENA_SIZE);
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
  static float window[EDGEHAR_WINDOW][EDGEHAR_NUM_CHANNELS];
  static int8_t tensor[EDGEHAR_WINDOW * EDGEHAR_NUM_CHANNELS];
  float acc[3], gyro[3];
  long samples = 0;
  edgehar_dsp_reset(&dsp);
  while (scanf("%f %f %f %f %f %f", &acc[0], &acc[1], &acc[2], &gyro[0], &gyro[1], &gyro[2]) == 6) {
    ++samples;
    if (!edgehar_dsp_push(&dsp, acc, gyro)) {
      continue;
    }
    edgehar_dsp_window(&dsp, window);
    edgehar_dsp_quantized_window(&dsp, tensor);
    printf("F %ld", samples);
    for (int t = 0; t < EDGEHAR_WINDOW; ++t) {
      for (int c = 0; c < EDGEHAR_NUM_CHANNELS; ++c) {
        printf(" %.9g", (double)window[t][c]);
      }
    }
    printf("\nQ %ld", samples);
    for (int i = 0; i < EDGEHAR_WINDOW * EDGEHAR_NUM_CHANNELS; ++i) {
      printf(" %d", tensor[i]);
    }
    printf("\n");
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
