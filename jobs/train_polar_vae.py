"""Ray job: `zsdist train polar-vae` on a cluster.

    ray job submit --working-dir . -- python jobs/train_polar_vae.py [flags of `zsdist train polar-vae`]

Outputs go to ZSDIST_HOME (default ~/zsdist-workspace), never into the uploaded working directory;
MLflow goes to MLFLOW_TRACKING_URI (default: SQLite in the workspace).
"""

import sys

from zsdist.cli import main

if __name__ == "__main__":
    main(["train", "polar-vae", *sys.argv[1:]], as_job=True)
