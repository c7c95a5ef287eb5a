/* edgehar on Arduino: classify activities from a 6-axis IMU.
 *
 * Write edgehar_read_sample() for your IMU (see edgehar.h and the package README): wait for
 * the next 50 Hz sample, fill acceleration in g and angular velocity in rad/s, return true,
 * or false after a gap. With an IMU FIFO, drain it into edgehar_push_sample() instead.
 * The TensorFlow Lite Micro port for your board prints MicroPrintf output to Serial.
 */
#include <edgehar.h>

void setup() {
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
