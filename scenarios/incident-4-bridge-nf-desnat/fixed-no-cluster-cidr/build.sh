#!/bin/sh
# Builds incident 4, variant fixed-no-cluster-cidr; see ../build.sh.
exec sh "$(dirname "$0")/../build.sh" --variant fixed-no-cluster-cidr "$@"
