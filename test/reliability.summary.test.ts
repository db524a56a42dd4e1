// Reliability, summary: runs after the other reliability files (the runner sorts files by name and runs them
// one at a time) and prints their counts, collected in a directory keyed by the test runner's pid, as one
// line: "reliability: N kills survived, M bad inputs tried, K resource faults tried, nothing lost". A file
// that failed has already failed the suite; this line only reports what the passing ones tried.
import { rmSync } from "node:fs";
import { it } from "node:test";
import { readAllCounts } from "./reliabilityHelpers.js";

it("reliability summary", (t) => {
  const { files, total, dir } = readAllCounts();
  for (const n of total.notes) t.diagnostic(n);
  const line = `reliability: ${total.kills} kills survived, ${total.inputs} bad inputs tried, ${total.faults} resource faults tried, nothing lost`;
  t.diagnostic(`from ${files.length} reports: ${files.join(", ") || "none (run the whole reliability suite)"}`);
  t.diagnostic(line);
  console.log(`# ${line}`);
  rmSync(dir, { recursive: true, force: true });
});
