"""Ray job: `zsdist eval <method>` on a cluster, for any registered method (zsdist/methods/).

    ray job submit --working-dir . -- python jobs/eval.py gzsnet --run_name gzsnet-paper

Outputs go to ZSDIST_HOME (default ~/zsdist-workspace), never into the uploaded working directory;
MLflow goes to MLFLOW_TRACKING_URI (default: SQLite in the workspace).
"""

import sys

from zsdist.cli import main

if __name__ == "__main__":
    main(["eval", *sys.argv[1:]], as_job=True)
