/* edgehar's sample intake, portable C11: see edgehar_intake.h.
 *
 * Memory ordering (C11 atomics; everything intake shares with inference is atomic, and no
 * fence is needed, so ThreadSanitizer checks all of it):
 * - intake marks a window publication by making `published` odd, stores the end and the
 *   segment (release), then makes `published` even (release); inference loads `published`
 *   (acquire), the end and segment (acquire) and `published` again: unchanged and even,
 *   the pair is one window's (a value from a later publication would carry its odd mark);
 * - intake stores `samples` = n (release) before it writes sample n's ring row (release
 *   stores), so inference, having copied the rows (acquire loads), then loads `samples`:
 *   if the copy read a row being overwritten, it sees the overwriting sample counted, and
 *   the copy is refused.
 */
#include "edgehar_intake.h"

#include <stdatomic.h>

#include "edgehar.h"
#include "edgehar_dsp.h"

#define RING EDGEHAR_RING_ROWS

/* A power of two, so that sample counts wrapping at 2^32 still map to the right row; a
 * window stays intact for RING - WINDOW - 1 >= HOP samples after it is complete. */
_Static_assert((RING & (RING - 1)) == 0, "EDGEHAR_RING_ROWS must be a power of two");
_Static_assert(RING > EDGEHAR_WINDOW + EDGEHAR_HOP, "EDGEHAR_RING_ROWS <= WINDOW + HOP");

/* Shared with inference. */
static _Atomic int8_t ring[RING][EDGEHAR_NUM_CHANNELS]; /* sample i in row i % RING */
static _Atomic uint32_t samples;   /* samples in the ring */
static _Atomic uint32_t published; /* 2 * windows complete; odd while one is being published */
static _Atomic uint32_t newest_end;
static _Atomic uint32_t newest_segment;
static _Atomic uint32_t rejected;

/* Intake's own. */
static edgehar_dsp dsp;
static uint32_t segment;      /* gaps pushed or made */
static float last_good[6];    /* the last sample kept, to bridge from */
static bool have_last;        /* false at the start of a segment: nothing to bridge from */
static uint32_t dropped_run;  /* samples dropped since the last one kept */

static uint32_t load(const _Atomic uint32_t *a, memory_order order) {
  return atomic_load_explicit(a, order);
}

void edgehar_intake_reset(void) {
  edgehar_dsp_reset(&dsp);
  segment = 0;
  have_last = false;
  dropped_run = 0;
  atomic_store(&samples, 0);
  atomic_store(&published, 0);
  atomic_store(&newest_end, 0);
  atomic_store(&newest_segment, 0);
  atomic_store(&rejected, 0);
}

static bool within_limits(const float x[6]) {
  for (int i = 0; i < 6; ++i) {
    const float limit = i < 3 ? EDGEHAR_MAX_ACC_G : EDGEHAR_MAX_GYRO_RADS;
    if (!(x[i] >= -limit && x[i] <= limit)) { /* NaN fails both */
      return false;
    }
  }
  return true;
}

static void publish(uint32_t end) {
  const uint32_t p = load(&published, memory_order_relaxed);
  atomic_store_explicit(&published, p + 1, memory_order_relaxed);
  atomic_store_explicit(&newest_end, end, memory_order_release);
  atomic_store_explicit(&newest_segment, segment, memory_order_release);
  atomic_store_explicit(&published, p + 2, memory_order_release);
}

/* One sample into the preprocessing and the ring. */
static void step(const float x[6]) {
  float row[EDGEHAR_NUM_CHANNELS];
  const bool complete = edgehar_dsp_step(&dsp, x, x + 3, row);
  const uint32_t n = load(&samples, memory_order_relaxed);
  for (int c = 0; c < EDGEHAR_NUM_CHANNELS; ++c) { /* a reader that sees this row sees `samples` >= n */
    atomic_store_explicit(&ring[n & (RING - 1)][c], edgehar_quantize(row[c]), memory_order_release);
  }
  atomic_store_explicit(&samples, n + 1, memory_order_release);
  if (complete) {
    publish(n + 1);
  }
}

static void start_segment(void) {
  edgehar_dsp_reset(&dsp);
  ++segment;
  have_last = false;
  dropped_run = 0;
}

void edgehar_push_sample(const float acc_g[3], const float gyro_rads[3]) {
  const float x[6] = {acc_g[0], acc_g[1], acc_g[2], gyro_rads[0], gyro_rads[1], gyro_rads[2]};
  if (!within_limits(x)) {
    atomic_store_explicit(&rejected, load(&rejected, memory_order_relaxed) + 1, memory_order_relaxed);
    ++dropped_run;
    return;
  }
  if (have_last && dropped_run > EDGEHAR_MAX_BRIDGED) {
    start_segment();
  }
  if (have_last) {
    for (uint32_t k = 1; k <= dropped_run; ++k) { /* the stream's resampler: linear in between */
      const double w = (double)k / (double)(dropped_run + 1);
      float bridged[6];
      for (int i = 0; i < 6; ++i) {
        bridged[i] = (float)(last_good[i] + w * ((double)x[i] - last_good[i]));
      }
      step(bridged);
    }
  }
  dropped_run = 0;
  step(x);
  for (int i = 0; i < 6; ++i) {
    last_good[i] = x[i];
  }
  have_last = true;
}

void edgehar_push_gap(void) {
  start_segment();
}

bool edgehar_intake_newest(edgehar_window *window) {
  const uint32_t p = load(&published, memory_order_acquire);
  if (p == 0 || (p & 1) != 0) {
    return false;
  }
  window->end = load(&newest_end, memory_order_acquire);
  window->segment = load(&newest_segment, memory_order_acquire);
  return load(&published, memory_order_relaxed) == p;
}

bool edgehar_intake_copy(const edgehar_window *window, int8_t *input) {
  for (uint32_t t = 0; t < EDGEHAR_WINDOW; ++t) {
    const uint32_t row = (window->end - EDGEHAR_WINDOW + t) & (RING - 1);
    for (int c = 0; c < EDGEHAR_NUM_CHANNELS; ++c) {
      input[t * EDGEHAR_NUM_CHANNELS + c] = atomic_load_explicit(&ring[row][c], memory_order_acquire);
    }
  }
  /* Sample n overwrites the row of sample n - RING, and intake on another core may be
   * writing sample `samples` right now: the window's oldest row, end - WINDOW, is intact
   * while samples - RING < end - WINDOW. */
  return load(&samples, memory_order_relaxed) - window->end < RING - EDGEHAR_WINDOW;
}

edgehar_intake_counts edgehar_intake_get_counts(void) {
  edgehar_intake_counts counts;
  counts.windows = load(&published, memory_order_acquire) / 2;
  counts.samples = load(&samples, memory_order_relaxed);
  counts.rejected = load(&rejected, memory_order_relaxed);
  return counts;
}
