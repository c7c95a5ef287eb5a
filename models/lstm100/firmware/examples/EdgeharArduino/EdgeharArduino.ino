/* edgehar on Arduino: classify activities from a 6-axis IMU.
 *
 * As it is, the sketch reads its samples from the serial port, one per line,
 * "ax ay az gx gy gz" (acceleration in g, angular velocity in rad/s, 50 lines a second; a
 * line that is not six numbers, or none for a second, is a gap), and prints each window's
 * label. For a real IMU, rewrite edgehar_read_sample() with its library: wait for the next
 * 50 Hz sample, fill it, return true, or false after a gap. With an IMU FIFO, drain it into
 * edgehar_push_sample() instead (see the package README).
 */
#include <TensorFlowLite.h> /* the board's TFLM library; on ESP32: <TensorFlowLite_ESP32.h> */
#include <edgehar.h>
#include <stdlib.h>

extern "C" bool edgehar_read_sample(float acc_g[3], float gyro_rads[3]) {
  char line[256]; /* six numbers of 17 significant digits (-1.2345678901234567e-05) fit */
  const size_t length = Serial.readBytesUntil('\n', line, sizeof line - 1);
  line[length] = '\0';
  char *next = line;
  for (int i = 0; i < 6; ++i) {
    char *end;
    const float value = strtof(next, &end);
    if (end == next) {
      return false;
    }
    (i < 3 ? acc_g : gyro_rads)[i % 3] = value;
    next = end;
  }
  return true;
}

void setup() {
  Serial.begin(115200);
  if (!edgehar_setup()) {
    for (;;) {
    }
  }
}

void loop() {
  float acc_g[3];
  float gyro_rads[3];
  if (edgehar_read_sample(acc_g, gyro_rads)) {
    edgehar_push_sample(acc_g, gyro_rads);
  } else {
    edgehar_push_gap();
  }
  edgehar_result result;
  if (edgehar_poll(&result)) {
    edgehar_print_result(&result);
  }
}
