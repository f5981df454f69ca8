#!/bin/sh
# Builds incident 1 as it was (broken); see ../build.sh.
exec sh "$(dirname "$0")/../build.sh" --variant broken "$@"
