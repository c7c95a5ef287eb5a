/* Host example: the package on a PC, fed recorded samples through its intake path.
 *
 *   edgehar_host [--poll-every N] < samples.txt
 *
 * --poll-every N calls edgehar_poll() only every N input lines, as a main loop whose
 * inference takes N sample periods would: windows it misses are counted as skipped.
 *
 * Input: one sample per line, "ax ay az gx gy gz" (g, rad/s), or the word "gap" where the
 * recording has a gap ("nan", "inf" and huge numbers are samples the intake drops). Output:
 * "arena USED SIZE", then for every classified window "W END LABEL DECODED S0 S1 ..." (END:
 * edgehar_stats.samples when it was complete; LABEL, DECODED: the model's and the decoder's
 * class index; S: the int8 scores), then "stats SAMPLES WINDOWS CLASSIFIED SKIPPED REJECTED".
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "edgehar.h"

int main(int argc, char **argv) {
  long poll_every = 1;
  if (argc == 3 && std::strcmp(argv[1], "--poll-every") == 0) {
    poll_every = std::strtol(argv[2], nullptr, 10);
  }
  if (poll_every < 1 || (argc != 1 && argc != 3)) {
    std::fprintf(stderr, "usage: edgehar_host [--poll-every N] < samples.txt\n");
    return 2;
  }
  if (!edgehar_setup()) {
    return 1;
  }
  std::printf("arena %u %u\n", static_cast<unsigned>(edgehar_arena_used_bytes()),
              static_cast<unsigned>(EDGEHAR_ARENA_SIZE));
  char line[256];
  for (long number = 1; std::fgets(line, sizeof line, stdin) != nullptr; ++number) {
    float acc_g[3];
    float gyro_rads[3];
    if (std::strncmp(line, "gap", 3) == 0) {
      edgehar_push_gap();
    } else if (std::sscanf(line, "%f %f %f %f %f %f", &acc_g[0], &acc_g[1], &acc_g[2], &gyro_rads[0],
                           &gyro_rads[1], &gyro_rads[2]) == 6) {
      edgehar_push_sample(acc_g, gyro_rads);
    } else {
      std::fprintf(stderr, "edgehar_host: line %ld is neither 6 numbers nor 'gap'\n", number);
      return 2;
    }
    edgehar_result result;
    if (number % poll_every == 0 && edgehar_poll(&result)) {
      std::printf("W %u %d %d", static_cast<unsigned>(result.end), result.label, result.decoded);
      for (int k = 0; k < EDGEHAR_NUM_CLASSES; ++k) {
        std::printf(" %d", result.scores[k]);
      }
      std::printf("\n");
    }
  }
  const edgehar_stats stats = edgehar_get_stats();
  std::printf("stats %u %u %u %u %u\n", static_cast<unsigned>(stats.samples), static_cast<unsigned>(stats.windows),
              static_cast<unsigned>(stats.classified), static_cast<unsigned>(stats.windows_skipped),
              static_cast<unsigned>(stats.rejected));
  return 0;
}
