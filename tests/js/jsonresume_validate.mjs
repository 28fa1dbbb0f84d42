// Validates JSON Resume documents with the npm `resume-schema` package's own validator
// (z-schema over its schema.json) and prints one JSON line: each file's verdict.
// Usage: node jsonresume_validate.mjs FILE...
import { readFileSync } from "node:fs";
import resumeSchema from "resume-schema";

const verdicts = {};
for (const file of process.argv.slice(2)) {
  const document = JSON.parse(readFileSync(file, "utf8"));
  verdicts[file] = await new Promise((resolve) => {
    resumeSchema.validate(document, (errors, report) =>
      resolve(errors ? { valid: false, paths: errors.map((e) => e.path) } : { valid: report.valid }),
    );
  });
}
console.log(JSON.stringify(verdicts));
