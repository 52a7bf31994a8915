#!/usr/bin/env bash
# Run with bash by convention (-e run.sh); arguments are passed as given.
printf 'arg:%s\n' "$@"
