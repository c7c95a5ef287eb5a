/* The causal temporal decoder of edgehar (`--smooth hmm[:LAG]`) in portable C11, float32.
 *
 * A hidden Markov model over the model's window posteriors: forward filtering, or fixed-lag
 * smoothing EDGEHAR_HMM_LAG windows behind, normalised every window. It computes what
 * edgehar/runtime/hmm.py computes (in float64 there; the tests hold them to 1e-5).
 *
 *   edgehar_hmm hmm;
 *   edgehar_hmm_reset(&hmm);                         at start, and after a gap in the stream
 *   int k = edgehar_hmm_update(&hmm, probs);         per window: the model's probabilities in,
 *                                                    the decoded class index out
 */
#ifndef EDGEHAR_HMM_H
#define EDGEHAR_HMM_H

#include "edgehar_hmm_params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  float filtered[EDGEHAR_HMM_LAG + 1][EDGEHAR_HMM_STATES]; /* P(state | windows so far), a ring */
  float emission[EDGEHAR_HMM_LAG + 1][EDGEHAR_HMM_STATES]; /* each kept window's likelihoods */
  int newest;                                              /* ring slot of the last window */
  int kept;                                                /* windows in the ring (<= LAG + 1) */
  float state_probs[EDGEHAR_HMM_STATES];   /* after an update: of the window LAG behind */
  float class_probs[EDGEHAR_HMM_CLASSES];  /* the same, summed per reported class */
} edgehar_hmm;

void edgehar_hmm_reset(edgehar_hmm *hmm);

/* One window's class probabilities in (the model's order); the most probable class out
 * (an added transition state counts for its destination posture). */
int edgehar_hmm_update(edgehar_hmm *hmm, const float probs[EDGEHAR_HMM_CLASSES]);

#ifdef __cplusplus
}
#endif

#endif /* EDGEHAR_HMM_H */
