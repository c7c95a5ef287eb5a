/* The "IMU" of the QEMU image: recorded samples (recording.c, written by
 * tools/cortex_m4_qemu.py), one per call; a row of NaN is a gap between recordings;
 * exit(0) when they run out. */
#include <stdbool.h>
#include <stdlib.h>

#include "edgehar.h"

extern const float edgehar_recording[][6];
extern const unsigned edgehar_recording_len;

bool edgehar_read_sample(float acc_g[3], float gyro_rads[3]) {
  static unsigned next = 0;
  if (next == edgehar_recording_len) {
    exit(0);
  }
  if (edgehar_recording[next][0] != edgehar_recording[next][0]) { /* NaN: a gap */
    ++next;
    return false;
  }
  for (int i = 0; i < 3; ++i) {
    acc_g[i] = edgehar_recording[next][i];
    gyro_rads[i] = edgehar_recording[next][3 + i];
  }
  ++next;
  return true;
}
