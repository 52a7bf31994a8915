// Package pyenv decides which Python interpreter runs a python_function
// model's workers, and creates that interpreter's environment the way
// MLflow's --env-manager does.
//
// Prepare is the one entry point. With the "local" manager it picks an
// existing interpreter (an explicit one, the active virtualenv, the python3
// entries on PATH, the system python3) and checks that it imports the
// modules the caller needs. With "virtualenv", "uv" and "conda" it builds an
// isolated environment from the model's python_env.yaml, requirements.txt
// or conda.yaml under CacheDir/envs/<key>, where the key hashes everything
// that determines the environment's content, so an unchanged model reuses
// its environment and a changed one gets a new one.
//
// Environments are built in a directory of their own and published by
// atomically renaming a symlink to it into place once every install step
// has succeeded and a marker file has been written. The real directory never
// moves because virtualenvs and conda prefixes embed their absolute path in
// scripts and binaries; the symlink is what makes publication atomic. An
// exclusive flock(2) per key serialises builders across processes, so two
// servers starting at once build an environment once.
//
// The package reads no environment variables itself: the caller passes a
// Getenv function (the CLI owns the catalogue of variables), and child
// processes get an allow-list of variables read through it.
package pyenv
