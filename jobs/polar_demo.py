"""Ray job: `zsdist demo` on a cluster.

    ray job submit --working-dir . -- python jobs/polar_demo.py [flags of `zsdist demo`]

Outputs go to ZSDIST_HOME (default ~/zsdist-workspace), never into the uploaded working directory;
MLflow goes to MLFLOW_TRACKING_URI (default: SQLite in the workspace).
"""

import sys

from zsdist.cli import main

if __name__ == "__main__":
    main(["demo", *sys.argv[1:]], as_job=True)
