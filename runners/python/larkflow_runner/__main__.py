"""``python3 -m larkflow_runner``: runs one attempt of a remote task (see the package's docstring)."""

import os
import sys
import threading

from larkflow_runner import main

# Once the result is written, a thread the task left running (not a daemon) must not keep the job
# alive until its deadline: after this many seconds the process ends anyway, with the runner's status.
EXIT_GRACE_SECONDS = 2.0

if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    timer = threading.Timer(EXIT_GRACE_SECONDS, os._exit, args=(status,))
    timer.daemon = True
    timer.start()
    sys.exit(status)
