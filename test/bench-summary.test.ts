/** docs/benchmarks.md is written from the bench records alone (bench/summary.ts), so its figures are the records'. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { readRecords, renderBenchSummary, SUMMARY_PAGE, SUMMARY_RECORDS } from '../bench/summary.js';

test('docs/benchmarks.md is what the committed bench records render to (npm run bench rewrites both)', () => {
  const expected = renderBenchSummary(readRecords());
  assert.equal(fs.readFileSync(SUMMARY_PAGE, 'utf8'), expected, 'docs/benchmarks.md differs from the records: run `node dist/bench/summary.js`');
});

test('the page names every record it is written from with its command, and says which targets were met', () => {
  const records = readRecords();
  const page = renderBenchSummary(records);
  for (const name of SUMMARY_RECORDS) if (records[name]) assert.ok(page.includes(`dist/bench/${name === 'stages' ? 'stages' : name}.js`), name);
  assert.match(page, /MET|MISSED/);
  assert.match(renderBenchSummary({}), /No record: run `node dist\/bench\/he-vs-owsd\.js`/);
});
