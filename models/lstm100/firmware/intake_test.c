/* Two-thread stress test of the sample intake (edgehar_intake.c): one thread pushes samples
 * and gaps as an IMU drain task on another core would, the other takes windows as
 * edgehar_poll() does. Every window copied must equal, row for row, the one a single-threaded
 * reference computed for that end, with the segment of that end; torn or overwritten copies
 * must be refused, never returned. Build it with -fsanitize=thread (`make intake_test`).
 * First, single-threaded, the overwrite bound: a window is refused as soon as the sample
 * that overwrites its oldest row may be being written (by intake on another core).
 *
 *   ./intake_test [SAMPLES]    prints "windows W taken T refused R busy B"; exit 1 on a mismatch
 */
#define _POSIX_C_SOURCE 200809L /* sched_yield under -std=c11 */

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgehar.h"
#include "edgehar_dsp.h"
#include "edgehar_intake.h"

#define GAP_EVERY 997 /* a gap before every 997th sample */

static long total;
static int8_t (*rows)[EDGEHAR_NUM_CHANNELS]; /* the reference: sample i's int8 row */
static uint32_t *segment_of;                 /* gaps before sample i */
static bool *window_ends;                    /* a window is complete after sample i - 1 */
static atomic_bool writer_done;

static void sample(long i, float acc[3], float gyro[3]) {
  for (int a = 0; a < 3; ++a) {
    acc[a] = (float)(0.8 * sin(0.05 * (double)i + a) + (a == 2 ? 1.0 : 0.0));
    gyro[a] = (float)(1.5 * cos(0.031 * (double)i * (a + 1)));
  }
}

static void push(long i) {
  float acc[3], gyro[3];
  sample(i, acc, gyro);
  edgehar_push_sample(acc, gyro);
}

static void reference(void) {
  edgehar_dsp dsp;
  edgehar_dsp_reset(&dsp);
  uint32_t segment = 0;
  for (long i = 0; i < total; ++i) {
    if (i > 0 && i % GAP_EVERY == 0) {
      edgehar_dsp_reset(&dsp);
      ++segment;
    }
    float acc[3], gyro[3], row[EDGEHAR_NUM_CHANNELS];
    sample(i, acc, gyro);
    window_ends[i + 1] = edgehar_dsp_step(&dsp, acc, gyro, row);
    for (int c = 0; c < EDGEHAR_NUM_CHANNELS; ++c) {
      rows[i][c] = edgehar_quantize(row[c]);
    }
    segment_of[i] = segment;
  }
}

static void *writer(void *unused) {
  (void)unused;
  for (long i = 0; i < total; ++i) {
    if (i > 0 && i % GAP_EVERY == 0) {
      edgehar_push_gap();
    }
    push(i);
    if (i % 50 == 0) {
      sched_yield();
    }
  }
  atomic_store(&writer_done, true);
  return NULL;
}

/* Whether a window is kept while the next sample cannot reach its oldest row, and refused
 * once it can: RING - WINDOW - 1 samples after its end, not RING - WINDOW. */
static bool overwrite_bound_holds(void) {
  static int8_t input[EDGEHAR_WINDOW * EDGEHAR_NUM_CHANNELS];
  edgehar_intake_reset();
  long i = 0;
  while (edgehar_intake_get_counts().windows == 0) {
    push(i++);
  }
  edgehar_window window;
  if (!edgehar_intake_newest(&window)) {
    return false;
  }
  while (edgehar_intake_get_counts().samples - window.end < EDGEHAR_RING_ROWS - EDGEHAR_WINDOW - 1) {
    push(i++);
  }
  const bool kept = edgehar_intake_copy(&window, input);
  push(i++); /* intake now counts the sample whose row is the window's oldest */
  const bool refused = !edgehar_intake_copy(&window, input);
  if (!kept || !refused) {
    fprintf(stderr, "intake_test: a window %s %d samples after its end\n", kept ? "is kept" : "is refused",
            EDGEHAR_RING_ROWS - EDGEHAR_WINDOW - (kept ? 0 : 1));
  }
  return kept && refused;
}

int main(int argc, char **argv) {
  total = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
  rows = calloc((size_t)total, sizeof *rows);
  segment_of = calloc((size_t)total, sizeof *segment_of);
  window_ends = calloc((size_t)total + 1, sizeof *window_ends);
  if (total < EDGEHAR_WINDOW || rows == NULL || segment_of == NULL || window_ends == NULL) {
    fprintf(stderr, "usage: intake_test [SAMPLES >= WINDOW]\n");
    return 2;
  }
  if (!overwrite_bound_holds()) {
    return 1;
  }
  reference();
  edgehar_intake_reset();
  pthread_t thread;
  pthread_create(&thread, NULL, writer, NULL);
  static int8_t input[EDGEHAR_WINDOW * EDGEHAR_NUM_CHANNELS];
  long taken = 0, refused = 0, busy = 0, mismatches = 0;
  uint32_t last_end = 0;
  bool done = false;
  while (!done) {
    done = atomic_load(&writer_done); /* one more round after the writer finished */
    edgehar_window window;
    if (!edgehar_intake_newest(&window)) {
      busy += edgehar_intake_get_counts().windows > 0;
      continue;
    }
    if (window.end == last_end) {
      continue;
    }
    last_end = window.end;
    if (!edgehar_intake_copy(&window, input)) {
      ++refused;
      continue;
    }
    ++taken;
    const long end = (long)window.end;
    bool same = end >= EDGEHAR_WINDOW && end <= total && window_ends[end] &&
                window.segment == segment_of[end - 1] &&
                memcmp(input, rows[end - EDGEHAR_WINDOW], sizeof input) == 0;
    if (!same && mismatches++ < 5) {
      fprintf(stderr, "intake_test: window ending at %ld (segment %u) differs from the reference\n", end,
              (unsigned)window.segment);
    }
  }
  pthread_join(thread, NULL);
  const edgehar_intake_counts counts = edgehar_intake_get_counts();
  printf("windows %u taken %ld refused %ld busy %ld\n", (unsigned)counts.windows, taken, refused, busy);
  return mismatches == 0 && counts.samples == (uint32_t)total ? 0 : 1;
}
