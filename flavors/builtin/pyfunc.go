package builtin

// The python_function flavor runs models in Python worker processes.
import _ "github.com/mlship/mlship/flavors/pyfunc"
