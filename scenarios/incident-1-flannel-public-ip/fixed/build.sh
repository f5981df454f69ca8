#!/bin/sh
# Builds incident 1 after the fix; see ../build.sh.
exec sh "$(dirname "$0")/../build.sh" --variant fixed "$@"
