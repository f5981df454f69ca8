#!/bin/sh
# Builds incident 4, variant fixed-bridge-nf-off; see ../build.sh.
exec sh "$(dirname "$0")/../build.sh" --variant fixed-bridge-nf-off "$@"
