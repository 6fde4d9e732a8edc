"""Ray job: `zsdist eval polar-vae` on a cluster.

    ray job submit --working-dir . -- python jobs/eval_polar_vae.py [flags of `zsdist eval polar-vae`]

Outputs go to ZSDIST_HOME (default ~/zsdist-workspace), never into the uploaded working directory;
MLflow goes to MLFLOW_TRACKING_URI (default: SQLite in the workspace).
"""

import sys

from zsdist.cli import main

if __name__ == "__main__":
    main(["eval", "polar-vae", *sys.argv[1:]], as_job=True)
