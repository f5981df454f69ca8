#!/bin/sh
# Builds incident 5 with the endpoint on node1 (local); see ../build.sh.
exec sh "$(dirname "$0")/../build.sh" --variant local "$@"
