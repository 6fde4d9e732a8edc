"""Ray job: a CADA-VAE study (configs/cadavae_study_*.yaml), every point over several seeds, then its table.

    ray job submit --working-dir . -- python jobs/cadavae_study.py configs/cadavae_study_latent.yaml --data DIR
    python jobs/cadavae_study.py configs/cadavae_study_samples.yaml --data DIR --seeds 2 --epochs 30

Flags are those of `zsdist train cadavae` and apply to every point. DIR must be readable from every
node. Outputs go to ZSDIST_HOME (default ~/zsdist-workspace), never into the uploaded working
directory; MLflow goes to MLFLOW_TRACKING_URI. Rerunning resumes.
"""

import argparse
import sys

from zsdist.base.errors import UserInputError
from zsdist.base.workspace import use_job_workspace
from zsdist.config import add_config_flags, flags_to_overrides
from zsdist.methods.cadavae.seeds import CADAVAESeedsConfig
from zsdist.methods.cadavae.study import run_study, study_table


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="cadavae_study", description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("study", help="a study file: base preset, parameter, values")
    add_config_flags(parser, CADAVAESeedsConfig)
    args = parser.parse_args(argv)
    try:
        use_job_workspace()
        study, results = run_study(args.study, flags_to_overrides(args))
    except UserInputError as exc:
        print(f"cadavae_study: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(study_table(study, results))


if __name__ == "__main__":
    main(sys.argv[1:])
