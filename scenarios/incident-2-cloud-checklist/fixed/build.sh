#!/bin/sh
# Builds incident 2 (fixed); see ../build.sh.
exec sh "$(dirname "$0")/../build.sh" --variant fixed "$@"
