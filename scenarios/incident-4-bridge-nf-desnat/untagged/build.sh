#!/bin/sh
# Builds incident 4, variant untagged; see ../build.sh.
exec sh "$(dirname "$0")/../build.sh" --variant untagged "$@"
