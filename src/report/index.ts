export { renderReport, renderMarkdown, readResults } from './render.js';
export { lineChart, scatterChart, barChart, svgToPng, type Series, type Point, type BarSeries, type ScatterGroup } from '../analysis/charts.js';
export { PAPER, type PaperFigure } from './paper.js';
export { renderSecurityReport, renderSecurityMarkdown, readSecurityResults } from './security.js';
export { writeReport, type Figure } from './page.js';
export { BoundLookup, boundBeside, BOUND_NOT_MEASURED_CELL } from './bound.js';
