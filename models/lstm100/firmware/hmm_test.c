/* Host check of the decoder (edgehar_hmm.c) against edgehar's Python.
 *
 *   hmm_test < probs.txt    reads one window's EDGEHAR_HMM_CLASSES probabilities per line
 *                           ("-" alone resets the decoder, as after a gap) and prints per window
 *                             H <class index> <class probs> <state probs>
 */
#include <stdio.h>
#include <string.h>

#include "edgehar_hmm.h"

int main(void) {
  static edgehar_hmm hmm;
  float probs[EDGEHAR_HMM_CLASSES];
  char line[4096];
  long lines = 0;
  edgehar_hmm_reset(&hmm);
  while (fgets(line, sizeof line, stdin) != NULL) {
    ++lines;
    if (strcmp(line, "-\n") == 0) {
      edgehar_hmm_reset(&hmm);
      continue;
    }
    const char *at = line;
    for (int k = 0; k < EDGEHAR_HMM_CLASSES; ++k) {
      int used = 0;
      if (sscanf(at, "%f%n", &probs[k], &used) != 1) {
        fprintf(stderr, "hmm_test: line %ld: expected %d probabilities\n", lines, EDGEHAR_HMM_CLASSES);
        return 1;
      }
      at += used;
    }
    printf("H %d", edgehar_hmm_update(&hmm, probs));
    for (int k = 0; k < EDGEHAR_HMM_CLASSES; ++k) {
      printf(" %.9g", (double)hmm.class_probs[k]);
    }
    for (int s = 0; s < EDGEHAR_HMM_STATES; ++s) {
      printf(" %.9g", (double)hmm.state_probs[s]);
    }
    printf("\n");
  }
  return 0;
}
