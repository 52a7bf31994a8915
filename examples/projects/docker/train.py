"""Runs inside the project's image (docker_env): prints its arguments."""
import sys

print("docker project:", sys.argv[1:], flush=True)
