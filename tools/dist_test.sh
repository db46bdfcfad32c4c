#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
# The launch is tools/dist_train.sh's (NNODES, NODE_RANK, MASTER_ADDR, PORT, PYTHON; gloo on
# the CPU), running test.py.
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
SCRIPT=test.py exec "$(dirname "$0")/dist_train.sh" "$CONFIG" "$GPUS" "$CHECKPOINT" "${@:4}"
