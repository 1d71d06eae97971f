#!/bin/bash
# Run the paper's plan as a Slurm array job: one task per shard, no scheduler beyond Slurm.
#
#   sbatch examples/paper_plan_array_job.sh
#
# Every task expands the same plan into the same ordered list of cells and runs those whose
# index modulo SHARDS equals its task id, so the tasks partition the cells. All tasks write
# into the same STUDY folder on a shared file system. Each task trains its from-scratch cells
# (which are also the pre-trains) first; a fine-tune cell whose pre-train belongs to another
# task waits for that cell's result file (--wait, here up to 24 h). Rerunning the array after
# a failure or a time-out resumes: finished cells are skipped, interrupted ones resume from
# their last epoch.
#
# Without --wait, run two arrays instead, the second dependent on the first:
#   first=$(sbatch --parsable --export=ALL,STAGE=pretrain examples/paper_plan_array_job.sh)
#   sbatch --dependency=afterok:$first --export=ALL,STAGE=finetune examples/paper_plan_array_job.sh
#
#SBATCH --job-name=ecg-tl-paper
#SBATCH --array=0-31
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --gres=gpu:1
#SBATCH --time=48:00:00
#SBATCH --output=logs/%x-%A_%a.out

set -euo pipefail
SHARDS=32                       # = the number of array tasks (--array=0-31)
DATA_ROOT=${DATA_ROOT:-$HOME/ecg/data}    # built datasets: $DATA_ROOT/ptbxl/manifest.json, ...
STUDY=${STUDY:-$HOME/ecg/study}           # shared study folder
STAGE=${STAGE:-all}

ecg-tl-keras study run --plan paper --data-root "$DATA_ROOT" --out "$STUDY" \
    --shard "$SLURM_ARRAY_TASK_ID/$SHARDS" --cells "$STAGE" --wait 86400

# When every task is done (e.g. in a job with --dependency=afterok:<array job id>):
#   ecg-tl-keras study report "$STUDY" --out "$STUDY/report"
