#!/usr/bin/env bash
# Writes to both streams, then exits with the status it is given.
echo "starting, about to fail with status $1"
echo "something went wrong" >&2
exit "$1"
