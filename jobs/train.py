"""Ray job: `zsdist train <method>` on a cluster, for any registered method (zsdist/methods/).

    ray job submit --working-dir . -- python jobs/train.py gzsnet --config configs/gzsnet_paper.yaml --data DIR
    ray job submit --working-dir . -- python jobs/train.py polar-vae --data DIR --epochs 5

DIR must be readable from every node (shared storage). Outputs go to ZSDIST_HOME (default
~/zsdist-workspace), never into the uploaded working directory; MLflow goes to MLFLOW_TRACKING_URI.
Resubmitting the same command resumes the run from its last checkpoint.
"""

import sys

from zsdist.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]], as_job=True)
