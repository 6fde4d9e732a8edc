"""Ray job: `zsdist datagen fonts` on a cluster.

    ray job submit --working-dir . -- python jobs/fonts_datagen.py [flags of `zsdist datagen fonts`]

Outputs go to ZSDIST_HOME (default ~/zsdist-workspace), never into the uploaded working directory;
MLflow goes to MLFLOW_TRACKING_URI (default: SQLite in the workspace).
"""

import sys

from zsdist.cli import main

if __name__ == "__main__":
    main(["datagen", "fonts", *sys.argv[1:]], as_job=True)
