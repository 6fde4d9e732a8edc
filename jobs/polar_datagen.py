"""Ray job: `zsdist datagen polar` on a cluster.

    ray job submit --working-dir . -- python jobs/polar_datagen.py [flags of `zsdist datagen polar`]

Outputs go to ZSDIST_HOME (default ~/zsdist-workspace), never into the uploaded working directory;
MLflow goes to MLFLOW_TRACKING_URI (default: SQLite in the workspace).
"""

import sys

from zsdist.cli import main

if __name__ == "__main__":
    main(["datagen", "polar", *sys.argv[1:]], as_job=True)
