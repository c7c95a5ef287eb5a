/* The causal temporal decoder: see edgehar_hmm.h. */
#include "edgehar_hmm.h"

#include <math.h>

#define RING (EDGEHAR_HMM_LAG + 1)

static void normalise(float *v, int n) {
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    sum += v[i];
  }
  for (int i = 0; i < n; ++i) {
    v[i] /= sum;
  }
}

void edgehar_hmm_reset(edgehar_hmm *hmm) {
  hmm->newest = RING - 1;
  hmm->kept = 0;
}

int edgehar_hmm_update(edgehar_hmm *hmm, const float probs[EDGEHAR_HMM_CLASSES]) {
  float ratio[EDGEHAR_HMM_CLASSES];
  for (int k = 0; k < EDGEHAR_HMM_CLASSES; ++k) {
    const float p = probs[k] > EDGEHAR_HMM_FLOOR ? probs[k] : EDGEHAR_HMM_FLOOR;
    ratio[k] = powf(p / edgehar_hmm_class_prior[k], EDGEHAR_HMM_EMISSION_WEIGHT);
  }
  /* Predict from the last window (its slot is overwritten next when the lag is 0). */
  float predicted[EDGEHAR_HMM_STATES];
  for (int j = 0; j < EDGEHAR_HMM_STATES; ++j) {
    float sum = 0.0f;
    if (hmm->kept == 0) {
      sum = edgehar_hmm_initial[j];
    } else {
      for (int i = 0; i < EDGEHAR_HMM_STATES; ++i) {
        sum += hmm->filtered[hmm->newest][i] * edgehar_hmm_transition[i][j];
      }
    }
    predicted[j] = sum;
  }
  hmm->newest = (hmm->newest + 1) % RING;
  float *emission = hmm->emission[hmm->newest];
  float *filtered = hmm->filtered[hmm->newest];
  for (int s = 0; s < EDGEHAR_HMM_STATES; ++s) {
    float e = 0.0f;
    for (int k = 0; k < EDGEHAR_HMM_CLASSES; ++k) {
      e += edgehar_hmm_emission[s][k] * ratio[k];
    }
    emission[s] = e;
    filtered[s] = predicted[s] * e;
  }
  normalise(filtered, EDGEHAR_HMM_STATES);
  if (hmm->kept < RING) {
    ++hmm->kept;
  }
  /* Backward pass over the windows after the oldest kept one, newest first. */
  float backward[EDGEHAR_HMM_STATES];
  for (int s = 0; s < EDGEHAR_HMM_STATES; ++s) {
    backward[s] = 1.0f;
  }
  for (int back = 0; back < hmm->kept - 1; ++back) {
    const float *later = hmm->emission[(hmm->newest - back + RING) % RING];
    float next[EDGEHAR_HMM_STATES];
    for (int i = 0; i < EDGEHAR_HMM_STATES; ++i) {
      float sum = 0.0f;
      for (int j = 0; j < EDGEHAR_HMM_STATES; ++j) {
        sum += edgehar_hmm_transition[i][j] * (later[j] * backward[j]);
      }
      next[i] = sum;
    }
    normalise(next, EDGEHAR_HMM_STATES);
    for (int s = 0; s < EDGEHAR_HMM_STATES; ++s) {
      backward[s] = next[s];
    }
  }
  const float *oldest = hmm->filtered[(hmm->newest - (hmm->kept - 1) + RING) % RING];
  for (int s = 0; s < EDGEHAR_HMM_STATES; ++s) {
    hmm->state_probs[s] = oldest[s] * backward[s];
  }
  normalise(hmm->state_probs, EDGEHAR_HMM_STATES);
  int best = 0;
  for (int k = 0; k < EDGEHAR_HMM_CLASSES; ++k) {
    float sum = 0.0f;
    for (int s = 0; s < EDGEHAR_HMM_STATES; ++s) {
      sum += hmm->state_probs[s] * edgehar_hmm_report[s][k];
    }
    hmm->class_probs[k] = sum;
    if (sum > hmm->class_probs[best]) {
      best = k;
    }
  }
  return best;
}
