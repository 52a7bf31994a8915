// Runs one SQL statement (read from stdin) in an in-memory DuckDB and
// prints {"columns": [...], "types": [...], "rows": [{...}, ...]} as JSON
// on stdout. Values are @duckdb/node-api's JSON forms: BIGINT, DECIMAL,
// timestamps and blobs are strings, NaN and infinities are "NaN",
// "Infinity" and "-Infinity", lists and arrays are JSON arrays, NULL is
// null.
//
// MLSHIP_DUCKDB_NODE_MODULES names the node_modules directory holding
// @duckdb/node-api (scripts/provision-duckdb.sh puts it in mlship's
// cache). Used by internal/testenv.DuckDB.
import { createRequire } from "node:module";
import path from "node:path";

const modules = process.env.MLSHIP_DUCKDB_NODE_MODULES;
if (!modules) {
  console.error("MLSHIP_DUCKDB_NODE_MODULES is not set");
  process.exit(2);
}
// createRequire resolves as a module inside node_modules' parent would.
const require = createRequire(path.join(path.dirname(modules), "query.cjs"));
const { DuckDBInstance } = require("@duckdb/node-api");

let sql = "";
for await (const chunk of process.stdin) sql += chunk;

try {
  // No extension is ever fetched: parquet, json and icu are built in.
  const db = await DuckDBInstance.create(":memory:", {
    autoinstall_known_extensions: "false",
    autoload_known_extensions: "false",
  });
  const conn = await db.connect();
  const reader = await conn.runAndReadAll(sql);
  process.stdout.write(
    JSON.stringify({
      columns: reader.columnNames(),
      types: reader.columnTypes().map(String),
      rows: reader.getRowObjectsJson(),
    }),
  );
  conn.closeSync();
  db.closeSync();
} catch (err) {
  console.error(err && err.message ? err.message : String(err));
  process.exit(1);
}
