#!/bin/sh
# Builds incident 5 with the remote endpoint (IPIP); see ../build.sh.
exec sh "$(dirname "$0")/../build.sh" --variant remote "$@"
