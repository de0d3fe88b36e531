// Sums vitest JSON reports: `node summarize-test-results.mjs NAME=EXIT_CODE=FILE ...`.
// A file (suite) that failed without a failed test in it — it did not load, or a hook threw —
// counts as one failure; so does a run that wrote no report or exited non-zero with nothing
// failed. Prints details to stderr and, as its last stdout line, `N passed, N failed`.
// Exits 1 if anything failed.
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
for (const arg of process.argv.slice(2)) {
  const [name, codeText, ...rest] = arg.split('=');
  const file = rest.join('=');
  const code = Number(codeText);
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    console.error(`${name}: no readable JSON report (${e.message}); the runner exited with ${code}: counted as 1 failure`);
    failed += 1;
    continue;
  }
  let runFailed = report.numFailedTests ?? 0;
  passed += report.numPassedTests ?? 0;
  for (const suite of report.testResults ?? []) {
    const failedTests = (suite.assertionResults ?? []).filter((a) => a.status === 'failed').length;
    if (suite.status === 'failed' && failedTests === 0) {
      console.error(`${name}: ${suite.name} failed outside any test: ${(suite.message ?? '').split('\n')[0]}`);
      runFailed += 1;
    }
  }
  if (code !== 0 && runFailed === 0) {
    console.error(`${name}: the runner exited with ${code} although no test failed (unhandled error?): counted as 1 failure`);
    runFailed = 1;
  }
  console.error(`${name}: ${report.numPassedTests ?? 0} passed, ${runFailed} failed (${(report.testResults ?? []).length} files, exit ${code})`);
  failed += runFailed;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
