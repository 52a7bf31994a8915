package sqlstore_test

func crashChild() {}

const crashChildEnv = "MLSHIP_SQLSTORE_CRASH_CHILD"
