"""Ray job: `zsdist train gzsnet` on a cluster.

    ray job submit --working-dir . -- python jobs/train_gzsnet.py --config configs/gzsnet_paper.yaml --data DIR

DIR must be readable from every node (shared storage). Outputs go to ZSDIST_HOME (default
~/zsdist-workspace), never into the uploaded working directory; MLflow goes to MLFLOW_TRACKING_URI.
"""

import sys

from zsdist.cli import main

if __name__ == "__main__":
    main(["train", "gzsnet", *sys.argv[1:]], as_job=True)
