#!/bin/sh
# Builds incident 4, variant broken; see ../build.sh.
exec sh "$(dirname "$0")/../build.sh" --variant broken "$@"
