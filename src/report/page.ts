/**
 * Writing a report: its figures (each SVG also as PNG), the Markdown, and one self-contained HTML page of the same
 * content, with SVG figures inlined and PNG figures embedded as data URIs, so it opens anywhere without a server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { marked } from 'marked';
import { svgToPng } from '../analysis/charts.js';
import { fail } from '../errors.js';

export interface Figure {
  /** File name under `<out>/figures/`, ending in .svg. */
  file: string;
  alt: string;
  svg: string;
}

const CSS = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}
tr:nth-child(even) td{background:#fafafa}code{background:#f3f3f3;padding:1px 4px;border-radius:3px}blockquote{border-left:4px solid #d55e00;margin:1em 0;padding:0.2em 1em;background:#fff4ec}
.figure{margin:1em 0}svg,img{max-width:100%;height:auto}`;

const escapeAttr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** A Markdown table; `|` inside cells is escaped. */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export async function writeReport(out: string, markdown: string, figures: Figure[], title: string): Promise<{ markdown: string; html: string; figures: string[] }> {
  const figDir = path.join(out, 'figures');
  fs.mkdirSync(figDir, { recursive: true });
  const written: string[] = [];
  for (const f of figures) {
    const svgFile = path.join(figDir, f.file);
    fs.writeFileSync(svgFile, f.svg);
    const pngFile = svgFile.replace(/\.svg$/, '.png');
    fs.writeFileSync(pngFile, await svgToPng(f.svg, { density: 144 }));
    written.push(svgFile, pngFile);
  }
  const mdFile = path.join(out, 'report.md');
  fs.writeFileSync(mdFile, markdown);
  const inline = new Map(figures.map((f) => [`figures/${f.file}`, f.svg.replace(/^<\?xml[^>]*>\s*/, '')]));
  let body = await marked.parse(markdown, { gfm: true });
  body = body.replace(/<img src="([^"]+)" alt="([^"]*)"\s*\/?>/g, (whole, src: string, alt: string) => {
    const svg = inline.get(src) ?? (src.endsWith('.svg') && fs.existsSync(path.join(out, src)) ? fs.readFileSync(path.join(out, src), 'utf8') : undefined);
    if (svg) return `<div class="figure" role="img" aria-label="${alt}">${svg.replace(/^<\?xml[^>]*>\s*/, '')}</div>`;
    const file = path.join(out, src);
    if (src.endsWith('.png') && fs.existsSync(file)) return `<div class="figure"><img alt="${alt}" src="data:image/png;base64,${fs.readFileSync(file).toString('base64')}"></div>`;
    return whole;
  });
  const html = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeAttr(title)}</title><style>${CSS}</style></head><body>\n${body}</body></html>\n`;
  const htmlFile = path.join(out, 'report.html');
  fs.writeFileSync(htmlFile, html);
  return { markdown: mdFile, html: htmlFile, figures: written };
}

/** Every `<out>/results/*.json` of one format, in file-name order; clear errors name the file and what was expected. */
export function readResultFolder<T extends { format: string }>(out: string, format: string, command: string): T[] {
  const dir = path.join(out, 'results');
  if (!fs.existsSync(dir)) return fail('OWSD_ERR_BAD_ARGUMENT', `${dir} does not exist: run ${command} first`);
  const results: T[] = [];
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const file = path.join(dir, f);
    let r: T;
    try {
      r = JSON.parse(fs.readFileSync(file, 'utf8')) as T;
    } catch (e) {
      return fail('OWSD_ERR_BAD_ARGUMENT', `${file}: not valid JSON (${(e as Error).message})`);
    }
    if (r.format !== format) return fail('OWSD_ERR_BAD_ARGUMENT', `${file}: expected format ${format}, got ${String(r.format)}`);
    results.push(r);
  }
  if (results.length === 0) return fail('OWSD_ERR_BAD_ARGUMENT', `${dir} holds no results: run ${command} first`);
  return results;
}
