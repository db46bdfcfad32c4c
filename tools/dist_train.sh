#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py args]   (SCRIPT=test.py: tools/dist_test.sh)
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. On machines without CUDA the processes
# train on the CPU over gloo (GPUS is then the number of processes).
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}
SCRIPT=${SCRIPT:-train.py}

# segmenter3d is installed (make install): no PYTHONPATH needed
$PYTHON -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/$SCRIPT" \
    $CONFIG \
    --launcher pytorch ${@:3}
