import sys

from proxy.checks import limit_blas_threads

limit_blas_threads()

from proxy.cli import main  # noqa: E402  (after the BLAS thread limit, before numpy loads)

sys.exit(main())
