"""Ray job: `zsdist datagen fonts-v2` on a cluster.

    ray job submit --working-dir . -- python jobs/fonts_v2_datagen.py --out s3://BUCKET/fonts-v2 [flags of
        `zsdist datagen fonts-v2`]

--out (required) is where every writer puts its shards: an s3:// or gs:// URI, or a directory every
node mounts; credentials come from the nodes' environment, never a flag. Rerunning resumes (complete
shards are skipped). ZSDIST_HOME (default ~/zsdist-workspace) is kept out of the uploaded working
directory. The KubeRay recipe for the full grid: cluster/kuberay/rayjob-fonts-v2-datagen.yaml.
"""

import sys

from zsdist.cli import main

if __name__ == "__main__":
    main(["datagen", "fonts-v2", *sys.argv[1:]], as_job=True)
