"""PII redaction sidecar proxy.

One BLAS thread per process, set before anything imports numpy: the proxy already runs one worker
per core, and spaCy's matrices are small, so OpenBLAS's own threads only contend with the other
workers (measured: NER 20% slower per text with them). Ops can still override the variables.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
