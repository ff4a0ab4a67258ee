// rdiag-compile: one Vectorscan compile per process, for the collector
// worker (common/redact/hs_child.h); stdin is the request, stdout the answer.
#include "common/redact/hs_child.h"

int main() {
  return rdiag::redact::detail::serve_compile(0, 1);
}
