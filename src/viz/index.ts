/** Position-embedding visualisation: similarity math, colour maps, PNG heat maps, HTML reports. */
export {
  cosineSimilarityMatrix,
  tokenMap,
  dropPrefixTokens,
  layerSimilarities,
  patchIndex,
  patchCell,
  COSINE_EPS,
} from './similarity.js';
export { rpeRelativeIndex, splitRpeTable, rpeBiasMatrix } from './rpe.js';
export {
  viridis,
  diverging,
  colormapLut,
  colorOf,
  lutIndex,
  defaultRange,
  resolveRange,
  finiteRange,
  LUT_SIZE,
  INVALID_RGB,
  type RGB,
  type ColormapKind,
  type ColormapSpec,
} from './colormap.js';
export {
  renderHeatmap,
  renderGrid,
  layoutHeatmap,
  layoutGrid,
  type HeatmapSpec,
  type HeatmapLayout,
  type GridLayout,
  type GridOptions,
} from './heatmap.js';
export {
  lineChartSvg,
  logChartsSvg,
  groupLogKeys,
  niceTicks,
  type ChartSeries,
  type NamedLog,
} from './chart.js';
export {
  validateReportData,
  resolveRpeBias,
  parseLog,
  float32ToBase64,
  base64ToFloat32,
  type ReportData,
  type LayerSimilarity,
  type RpeHead,
  type RpeLayer,
  type LogEntry,
} from './data.js';
export {
  buildReport,
  buildComparisonReport,
  defaultRunLabels,
  readReportPayload,
  type ReportPayload,
  type ComparisonOptions,
} from './report.js';
export {
  writeVisualization,
  visualizationPanels,
  layerName,
  tokenLabel,
  type WriteOptions,
} from './write.js';
export { writeComparison, comparisonRows, type ComparisonWriteOptions } from './compare.js';
