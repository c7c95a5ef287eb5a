/* edgehar on TensorFlow Lite Micro: raw IMU samples in, activity labels out.
 *
 * Two sides that may run in different contexts:
 *   intake    edgehar_push_sample() / edgehar_push_gap(): from the IMU's data-ready
 *             interrupt, a FIFO drain task (on another core too) or the main loop.
 *             Preprocesses the sample into a ring of int8 model inputs; never blocks,
 *             never calls TFLM (edgehar_intake.c, C11 atomics).
 *   inference edgehar_poll(): from the main loop. Classifies the newest complete window,
 *             if there is one the main loop has not classified yet.
 * Each side must be called from one context only; the two may interrupt each other or run
 * at once on two cores. If inference is slower than a hop, no sample is lost: intake keeps
 * preprocessing, edgehar_poll() takes the newest complete window, and the windows it
 * never reached are counted in edgehar_stats.windows_skipped (and the decoder, which expects
 * one window per hop, sees only the windows classified).
 *
 * C and C++ callers: every function has C linkage.
 */
#ifndef EDGEHAR_H
#define EDGEHAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgehar_params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int label;            /* class index, into edgehar_class_labels */
  const char *name;     /* edgehar_class_labels[label] */
  float confidence;     /* the winning class's dequantized score, 0..1 */
  const int8_t *scores; /* the model's EDGEHAR_NUM_CLASSES int8 outputs (valid until the next poll) */
  uint32_t end;         /* edgehar_stats.samples when the window was complete */
  int decoded;          /* the temporal decoder's class (edgehar_hmm.h), with this window */
  const char *decoded_name;
} edgehar_result;

typedef struct {
  uint32_t samples;         /* samples preprocessed since edgehar_setup(): kept and bridged */
  uint32_t windows;         /* complete windows */
  uint32_t classified;      /* windows edgehar_poll() classified */
  uint32_t windows_skipped; /* complete windows replaced by a newer one before inference took them */
  uint32_t rejected;        /* samples dropped: not finite or beyond the sample limits */
} edgehar_stats;

/* Load the model, allocate its tensors and check them against edgehar_params.h.
 * False, with a message through MicroPrintf, if something does not match. */
bool edgehar_setup(void);

/* Intake: one raw sample, acceleration in g (gravity included) and angular velocity in
 * rad/s, on the model's axes, at EDGEHAR_SAMPLE_RATE_HZ. A sample that is not finite or
 * beyond EDGEHAR_MAX_ACC_G / EDGEHAR_MAX_GYRO_RADS on an axis is dropped, as `edgehar stream`
 * drops it: up to EDGEHAR_MAX_BRIDGED in a row are bridged by linear interpolation from the
 * samples around them, more make a gap. */
void edgehar_push_sample(const float acc_g[3], const float gyro_rads[3]);

/* Intake: the stream had a gap (dropped samples, sensor restart); the next sample starts
 * preprocessing afresh and no window spans the gap. */
void edgehar_push_gap(void);

/* Inference: classify the newest complete window not classified yet. True, with `result`
 * filled, if it did; false if no new window was complete. */
bool edgehar_poll(edgehar_result *result);

/* Counters, for telemetry and to see whether inference keeps up. */
edgehar_stats edgehar_get_stats(void);

/* Bytes of the tensor arena the model uses (after edgehar_setup()); EDGEHAR_ARENA_SIZE is
 * the arena reserved. */
size_t edgehar_arena_used_bytes(void);

/* Print "LABEL NN% -> DECODED" through MicroPrintf. */
void edgehar_print_result(const edgehar_result *result);

/* Yours to write when you use main.cpp's polled loop: wait for the next sample, fill it and
 * return true, or return false after a gap in the stream. */
bool edgehar_read_sample(float acc_g[3], float gyro_rads[3]);

#ifdef __cplusplus
}
#endif

#endif /* EDGEHAR_H */
