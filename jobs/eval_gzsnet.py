"""Ray job: `zsdist eval gzsnet` on a cluster.

    ray job submit --working-dir . -- python jobs/eval_gzsnet.py --run_name gzsnet-paper

Reads the run's checkpoints from ZSDIST_HOME (or --storage_path) and logs to its MLflow run.
"""

import sys

from zsdist.cli import main

if __name__ == "__main__":
    main(["eval", "gzsnet", *sys.argv[1:]], as_job=True)
