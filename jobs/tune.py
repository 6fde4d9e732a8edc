"""Ray job: `zsdist tune <model>` on a cluster, a hyperparameter search whose trials spread over its nodes.

    ray job submit --working-dir . -- python jobs/tune.py cadavae --data DIR --space cadavae --epochs 30
    ray job submit --working-dir . -- python jobs/tune.py cadavae --data DIR --space cadavae --epochs 30 --resume

DIR must be readable from every node (shared storage), and so must ZSDIST_HOME (default
~/zsdist-workspace for jobs), where the search's Tune state and every trial's checkpoints live; never
the uploaded working directory. MLflow goes to MLFLOW_TRACKING_URI. Resubmitting with --resume
continues an interrupted search.
"""

import sys

from zsdist.cli import main

if __name__ == "__main__":
    main(["tune", *sys.argv[1:]], as_job=True)
