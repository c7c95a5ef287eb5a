/* The default main(): a polled loop for boards without a framework that owns main().
 *
 * It reads each sample with edgehar_read_sample() (yours: see edgehar.h), so inference
 * delays the next read; with an IMU FIFO or a data-ready interrupt, call
 * edgehar_push_sample() from there instead and only edgehar_poll() here (README.md).
 * Frameworks that own main() (Arduino, ESP-IDF, Zephyr, Mbed...) compile the package
 * with EDGEHAR_NO_MAIN defined, or leave this file out.
 */
#include "edgehar.h"

#if !defined(EDGEHAR_NO_MAIN) && !defined(ARDUINO)
int main() {
  if (!edgehar_setup()) {
    return 1;
  }
  for (;;) {
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
}
#endif
