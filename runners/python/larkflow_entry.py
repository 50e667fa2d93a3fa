"""Entry script of larkflow's Python task runner for launchers that run a file rather than a module
(spark-submit, Livy batches, SparkApplication's mainApplicationFile): ``python3 larkflow_entry.py``
does what ``python3 -m larkflow_runner`` does. It finds the runner package beside itself.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import runpy  # noqa: E402

if __name__ == "__main__":
    runpy.run_module("larkflow_runner", run_name="__main__", alter_sys=True)
