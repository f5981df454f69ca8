#!/bin/sh
# Builds incident 3 (broken); see ../build.sh.
exec sh "$(dirname "$0")/../build.sh" --variant broken "$@"
