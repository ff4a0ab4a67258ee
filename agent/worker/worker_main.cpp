// rdiag-worker: one collector job per process (agent/worker/jobs.h), started
// by rdiag-agent, never by people.
#include "agent/worker/jobs.h"

int main() {
  return rdiag::agent::run_worker();
}
