/* edgehar's sample intake, portable C11 with <stdatomic.h>: edgehar_push_sample() and
 * edgehar_push_gap() (declared in edgehar.h), and what inference reads of it.
 *
 * Intake (one context: an interrupt, a FIFO drain task, possibly on another core) checks
 * each sample against the sample limits, preprocesses it (edgehar_dsp.h) and stores it,
 * int8, in a ring of EDGEHAR_RING_ROWS rows; each complete window is published with its
 * end and its segment (gaps before it). Inference (another context) takes the newest
 * window and copies it out. Neither side ever blocks or waits for the other: a reader
 * that catches intake publishing or overwriting just tries again at its next poll.
 *
 * A sample that is not finite or beyond the limits (EDGEHAR_MAX_ACC_G, EDGEHAR_MAX_GYRO_RADS)
 * is dropped, as `edgehar stream` drops it; up to EDGEHAR_MAX_BRIDGED dropped samples in a
 * row are bridged by linear interpolation once the next good sample arrives (the stream's
 * resampler), more make a gap (the stream splits there).
 */
#ifndef EDGEHAR_INTAKE_H
#define EDGEHAR_INTAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "edgehar_params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t end;     /* samples in the ring (pushed or bridged) when it was complete */
  uint32_t segment; /* gaps before it: windows of one unbroken stretch share it */
} edgehar_window;

typedef struct {
  uint32_t samples;  /* samples in the ring: pushed and kept, plus bridged ones */
  uint32_t windows;  /* complete windows */
  uint32_t rejected; /* samples dropped: not finite or beyond the sample limits */
} edgehar_intake_counts;

/* Start afresh (edgehar_setup()); not while intake may run. */
void edgehar_intake_reset(void);

/* Inference: the newest complete window. False if there is none yet, or intake was
 * publishing one at that moment (ask again at the next poll). */
bool edgehar_intake_newest(edgehar_window *window);

/* Inference: copy `window` (EDGEHAR_WINDOW rows of EDGEHAR_NUM_CHANNELS int8) into `input`.
 * False if intake overwrote part of it meanwhile: a window stays intact for
 * EDGEHAR_RING_ROWS - EDGEHAR_WINDOW - 1 samples after it is complete. */
bool edgehar_intake_copy(const edgehar_window *window, int8_t *input);

edgehar_intake_counts edgehar_intake_get_counts(void);

#ifdef __cplusplus
}
#endif

#endif /* EDGEHAR_INTAKE_H */
