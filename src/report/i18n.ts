import type { AttachmentDepth, ModuleKind } from '../adapters/types.js';
import {
  formatFraction,
  formatMoney,
  formatQuantity,
  formatReasonInEnglish,
  formatStepInEnglish,
  negligibleCost,
  negligiblePoints,
  type ComparedExplanation,
  type DecisionExplanation,
  type DecisionStep,
  type RetrainCostStep,
} from '../metrics/decision-explanation.js';
import type { CellResult, DecisionRecord } from '../pipeline/results.js';

/** Language of a rendered report. */
export type ReportLanguage = 'en' | 'ja';

/** Languages a report can be rendered in. */
export const reportLanguages: readonly ReportLanguage[] = ['en', 'ja'];

/** Options shared by the Markdown and HTML renderers. */
export interface RenderOptions {
  /** Language of headings, column names, sentences and chart labels. Default `en`. */
  readonly lang?: ReportLanguage;
}

/** Numbers a summary sentence is built from, already formatted for display. */
export interface GroupText {
  /** Mean retention of the group, formatted as a percentage such as `"92.4%"`. */
  readonly retention: string;
  /** Rows (method × data set) in the group. */
  readonly rows: number;
}

/**
 * Every piece of text a report contains apart from values from the results (method, class and data set
 * names, and the stored English reason and arithmetic of a decision recorded without `explanation` and
 * `steps`), which stay as they are in every language.
 */
export interface ReportMessages {
  /** Report title: the first heading, and the HTML page title. */
  readonly title: string;
  /** Heading of the summary section. */
  readonly summaryHeading: string;
  /** Heading of the table of source and target backbones. */
  readonly backbonesHeading: string;
  /** Header of the backbones table. The last column contains the first 12 hex digits of the weights SHA-256. */
  readonly backboneColumns: readonly [role: string, family: string, name: string, revision: string, sha256: string];
  /** Role column value of the source backbone's row. */
  readonly sourceRole: string;
  /** Role column value of the target backbone's row. */
  readonly targetRole: string;
  /** Line under the title naming the vlm-compat version and the ISO 8601 time that wrote the results. */
  readonly generated: (libraryVersion: string, createdAt: string) => string;
  /** First summary sentence: how many of the transplanted rows are compatible (gain over zero-shot ≥ 0). */
  readonly compatible: (compatible: number, transplanted: number) => string;
  /** Summary sentence counting incompatible and failed cells, shown only when there are any. */
  readonly notTransplanted: (incompatible: number, failed: number) => string;
  /** Summary sentence listing mean retention per module kind, with `parts` from {@link ReportMessages.retentionOfKind}. */
  readonly retentionByKind: (parts: readonly string[]) => string;
  /** One entry of the retention-by-kind sentence: translated kind, formatted retention and row count. */
  readonly retentionOfKind: (kind: string, retention: string, rows: number) => string;
  /**
   * Summary sentence comparing text-input modules with deeper ones. A group is undefined when none of its rows
   * was transplanted.
   */
  readonly shallowVersusDeep: (shallow: GroupText | undefined, deep: GroupText | undefined, shallowRetainedMore: boolean | undefined) => string;
  /** Definitions of retention, gain and NFR, one list item each, shown after the summary. */
  readonly glossary: readonly string[];
  /** First note under a data set heading: the shot counts and seeds of its cells. */
  readonly datasetIntro: (shots: readonly number[], seeds: readonly number[]) => string;
  /** Note that ± values are a mean and sample standard deviation over seeds, shown when a row has several seeds. */
  readonly aggregationNote: string;
  /** Note that parenthesized values are bootstrap 95% intervals, shown when a single-seed value has one. */
  readonly intervalNote: string;
  /** Header of each data set's table: method, kind, depth, three accuracies, retention, gain, NFR, decision. */
  readonly columns: readonly string[];
  /**
   * Method label in tables and charts. `shots` is undefined when the section has one shot count, and `n` is the
   * number of seeds.
   */
  readonly methodLabel: (method: string, shots: number | undefined, n: number) => string;
  /** Display name of a module kind. */
  readonly kind: (kind: ModuleKind) => string;
  /** Display name of an attachment depth. */
  readonly depth: (depth: AttachmentDepth) => string;
  /** Display name of a retrain-or-reuse decision. */
  readonly action: (action: DecisionRecord['action']) => string;
  /** Display name of a cell status. */
  readonly status: (status: CellResult['status']) => string;
  /** Separates the actions of a row whose seeds reached different decisions. */
  readonly listSeparator: string;
  /** Separates the classes in a list of per-class changes. */
  readonly classSeparator: string;
  /** Appends a remark in parentheses, with the spacing and bracket style of the language. */
  readonly parenthetical: (text: string, remark: string) => string;
  /** Joins sentences of one paragraph. */
  readonly sentenceSeparator: string;
  /** Heading of the list of classes whose accuracy changed the most. */
  readonly worstClassesHeading: string;
  /** Heading of the retrain reference list. */
  readonly retrainHeading: string;
  /** Retrain reference of one row: retrained accuracy, recovery, and the wall times of retraining and of training on the source. */
  readonly retrainLine: (retrained: string, recovery: string, retrainTime: string, trainTime: string) => string;
  /** Heading of the list of incompatible and failed cells. */
  readonly notTransplantedHeading: string;
  /** Shown for a cell that is not `ok` but records neither mismatches nor an error. */
  readonly noReason: string;
  /** Heading of the list of decisions with their arithmetic. */
  readonly decisionsHeading: string;
  /** Summary sentence when the run set no prices, so that every decision went to the most accurate admissible option. */
  readonly decisionsWithoutPrices: string;
  /** Reason of a decision, from its explanation, with `currency` before every amount. The English one is `Decision.reason`. */
  readonly decisionReason: (explanation: DecisionExplanation, currency: string) => string;
  /** One line of a decision's arithmetic, from its step, with `currency` before every amount. The English one is the line of `Decision.arithmetic`. */
  readonly decisionStep: (step: DecisionStep, currency: string) => string;
  /**
   * Label of one cell in the not-transplanted and decision lists. `shots` is undefined when the section has one
   * shot count.
   */
  readonly cellLabel: (method: string, seed: number, shots: number | undefined) => string;
  /** Title of a data set's accuracy chart. */
  readonly accuracyChartTitle: (dataset: string) => string;
  /** Y-axis label of the accuracy chart. */
  readonly accuracyAxis: string;
  /** Legend of the accuracy chart's three bars per method. */
  readonly seriesLabels: readonly [sourceModule: string, targetZeroShot: string, targetTransplanted: string];
  /** Shown in the accuracy chart in place of a bar whose value is missing. */
  readonly notAvailable: string;
  /** Title of a data set's retention chart. */
  readonly retentionChartTitle: (dataset: string) => string;
  /** Y-axis label of the retention chart. */
  readonly retentionAxis: string;
  /** X-axis label of the retention chart, whose categories run from shallow to deep attachment. */
  readonly depthAxis: string;
  /** Label of the 100% reference line in the retention chart. */
  readonly sameAsSource: string;
  /** Explanation of a chart's whiskers, which ends every chart caption. */
  readonly whiskerNote: string;
  /** Caption under a chart: its title, then how to read the whiskers. */
  readonly chartCaption: (title: string) => string;
  /** Heading of the section that sets each cell's label-free forecast against its measured retention. */
  readonly forecastHeading: string;
  /**
   * Sentence over the forecast table: cells compared, Spearman's rank correlation (undefined below 3 cells or
   * for constant values), mean absolute error in retention points (such as `19.0`), how many measurements fell
   * inside the intervals and their coverage level, all formatted.
   */
  readonly forecastSummary: (cells: number, rankCorrelation: string | undefined, meanAbsoluteError: string, inside: number, level: string) => string;
  /**
   * Sentence on what the forecasts cost: their total time, the total time of the transplanted evaluations
   * they anticipate (target zero-shot plus transplanted prediction), and the first as a share of the second.
   */
  readonly forecastCost: (forecast: string, evaluation: string, share: string) => string;
  /** Header of the forecast table: data set, method, forecast, its interval, measured retention, inside the interval. */
  readonly forecastColumns: readonly [dataset: string, method: string, forecast: string, interval: string, measured: string, inside: string];
  /** Value of the last forecast column. */
  readonly insideInterval: (inside: boolean) => string;
  /** Heading of the label-free migration table. */
  readonly migrationHeading: string;
  /** Note over the migration table: which conditions used labels and which did not. */
  readonly migrationNote: string;
  /** Header of the migration table: data set, method, then the accuracy of six conditions. */
  readonly migrationColumns: readonly [
    dataset: string,
    method: string,
    source: string,
    zeroShot: string,
    transplanted: string,
    bridged: string,
    distilled: string,
    retrained: string,
  ];
  /** Shown in the migration table for a migration that does not apply to the module. */
  readonly notApplicable: string;
}

const englishKinds: Record<ModuleKind, string> = { prompt: 'prompt', adapter: 'adapter', lora: 'LoRA', deep: 'deep prompt', probe: 'probe' };
const englishActions: Record<DecisionRecord['action'], string> = { reuse: 'reuse', retrain: 'retrain', 'zero-shot': 'use zero-shot', migrate: 'migrate' };

function englishList(items: readonly number[]): string {
  return items.join(', ');
}

const english: ReportMessages = {
  title: 'vlm-compat transplant report',
  summaryHeading: 'Summary',
  backbonesHeading: 'Backbones',
  backboneColumns: ['role', 'family', 'name', 'revision', 'SHA-256 (first 12)'],
  sourceRole: 'source',
  targetRole: 'target',
  generated: (libraryVersion, createdAt) => `Written by vlm-compat ${libraryVersion} at ${createdAt}.`,
  compatible: (compatible, transplanted) =>
    transplanted === 0
      ? 'No module could be transplanted.'
      : `${compatible} of ${transplanted} transplanted modules are compatible: on the target they are at least as accurate as zero-shot (gain ≥ 0).`,
  notTransplanted: (incompatible, failed) =>
    `${incompatible} ${incompatible === 1 ? 'cell was' : 'cells were'} incompatible with the target backbone and ${failed} failed; the reasons are listed under each table.`,
  retentionByKind: (parts) => `Mean retention by kind: ${parts.join(', ')}.`,
  retentionOfKind: (kind, retention, rows) => `${kind} ${retention} (n=${rows})`,
  shallowVersusDeep: (shallow, deep, shallowRetainedMore) => {
    if (shallow === undefined || deep === undefined) {
      return 'Shallow (text-input) and deeper modules cannot be compared, because only one of the two groups was transplanted.';
    }
    const verdict = shallowRetainedMore === true ? 'shallow modules retained more' : 'shallow modules did not retain more';
    return `Text-input modules kept ${shallow.retention} of their source accuracy on average (n=${shallow.rows}), deeper ones ${deep.retention} (n=${deep.rows}): ${verdict}.`;
  },
  glossary: [
    'Retention = accuracy of target + transplanted ÷ accuracy of source + module.',
    'Gain = accuracy of target + transplanted − accuracy of target zero-shot, in accuracy points (pt).',
    'NFR (negative flip rate) = share of test examples that source + module classified correctly and target + transplanted gets wrong.',
    'Recovery = (target + transplanted − target zero-shot) ÷ (target + retrained − target zero-shot): the share of retraining\'s gain over zero-shot that the transplant keeps. It swings widely, or is undefined (—), when retraining barely beats zero-shot.',
  ],
  datasetIntro: (shots, seeds) => `${englishList(shots)}-shot training; ${seeds.length === 1 ? 'seed' : 'seeds'} ${englishList(seeds)}.`,
  aggregationNote: 'Values with ± are the mean and sample standard deviation over seeds; n is the number of seeds.',
  intervalNote: 'Values in parentheses are bootstrap 95% intervals.',
  columns: ['method', 'kind', 'depth', 'source + module', 'target zero-shot', 'target + transplanted', 'retention', 'gain', 'NFR', 'decision'],
  methodLabel: (method, shots, n) => [method, shots === undefined ? '' : `, ${shots}-shot`, n > 1 ? ` (n=${n})` : ''].join(''),
  kind: (kind) => englishKinds[kind],
  depth: (depth) => depth,
  action: (action) => englishActions[action],
  status: (status) => status,
  listSeparator: ', ',
  classSeparator: '; ',
  parenthetical: (text, remark) => `${text} (${remark})`,
  sentenceSeparator: ' ',
  worstClassesHeading: 'Classes that changed the most (source + module → target + transplanted)',
  retrainHeading: 'Retrain reference',
  retrainLine: (retrained, recovery, retrainTime, trainTime) =>
    `retrained on the target ${retrained}, recovery ${recovery}; retraining took ${retrainTime} (training on the source ${trainTime}).`,
  notTransplantedHeading: 'Cells without a transplanted result',
  noReason: 'no reason was recorded',
  decisionsHeading: 'Decisions',
  decisionsWithoutPrices:
    'No prices were set, so every cost below is 0 and each decision is the most accurate option within the tolerance; set "prices" in the config to weigh compute, labelling and engineering time.',
  decisionReason: formatReasonInEnglish,
  decisionStep: formatStepInEnglish,
  cellLabel: (method, seed, shots) => `${method}${shots === undefined ? '' : `, ${shots}-shot`}, seed ${seed}`,
  accuracyChartTitle: (dataset) => `Accuracy by method on ${dataset}`,
  accuracyAxis: 'accuracy (%)',
  seriesLabels: ['source + module', 'target zero-shot', 'target + transplanted'],
  notAvailable: 'n/a',
  retentionChartTitle: (dataset) => `Retention by attachment depth on ${dataset}`,
  retentionAxis: 'retention (%)',
  depthAxis: 'attachment depth (shallow → deep)',
  sameAsSource: 'same as source',
  whiskerNote: 'Whiskers show ± one standard deviation over seeds, or the bootstrap 95% interval of a single seed.',
  chartCaption: (title) => `${title}. ${english.whiskerNote}`,
  forecastHeading: 'Forecast against measured retention',
  forecastSummary: (cells, rankCorrelation, meanAbsoluteError, inside, level) =>
    [
      `Each forecast was made from unlabeled images before the transplanted evaluation, for ${cells} ${cells === 1 ? 'cell' : 'cells'}.`,
      rankCorrelation === undefined ? 'The rank correlation needs at least 3 cells with different values.' : `Spearman rank correlation with the measured retention: ${rankCorrelation}.`,
      `Mean absolute error ${meanAbsoluteError} retention points; ${inside} of ${cells} measured values lie inside the ${level} intervals.`,
    ].join(' '),
  forecastCost: (forecast, evaluation, share) =>
    `The forecasts took ${forecast} in all, ${share} of the ${evaluation} the transplanted evaluations took (target zero-shot and transplanted prediction).`,
  forecastColumns: ['data set', 'method', 'forecast', 'interval', 'measured', 'inside'],
  insideInterval: (inside) => (inside ? 'yes' : 'no'),
  migrationHeading: 'Label-free migration',
  migrationNote:
    'Accuracy of each condition. Bridged and distilled modules were made on the target from unlabeled images, with no labels; the retrained module used the K-shot labels.',
  migrationColumns: ['data set', 'method', 'source + module', 'target zero-shot', 'transplanted', 'bridged', 'distilled', 'retrained'],
  notApplicable: 'does not apply',
};

const japaneseKinds: Record<ModuleKind, string> = {
  prompt: 'プロンプト',
  adapter: 'アダプター',
  lora: 'LoRA',
  deep: '深層プロンプト',
  probe: 'プローブ',
};
const japaneseDepths: Record<AttachmentDepth, string> = {
  'text-input': 'テキスト入力',
  'vision-input': '画像入力',
  'text-layers': 'テキスト側の各層',
  'vision-layers': '画像側の各層',
  'both-layers': '両タワーの各層',
  'output-features': '出力特徴',
};
const japaneseActions: Record<DecisionRecord['action'], string> = {
  reuse: '再利用',
  retrain: '再学習',
  'zero-shot': 'ゼロショットに戻す',
  migrate: '移行',
};
const japaneseStatuses: Record<CellResult['status'], string> = { ok: '成功', incompatible: '非互換', failed: '失敗' };

/** Names an option in Japanese decision text: the action's display name in corner brackets. */
function japaneseOption(action: DecisionRecord['action']): string {
  return `「${japaneseActions[action]}」`;
}

/** Writes the Japanese sentence of a comparison: how much more or less accurate, and how much dearer or cheaper. */
function japaneseComparison(explanation: ComparedExplanation, currency: string): string {
  const { action, runnerUp, points, worth, costDifference } = explanation;
  const subject = `${japaneseOption(action)}は${japaneseOption(runnerUp)}`;
  const sameAccuracy = Math.abs(points) < negligiblePoints;
  const sameCost = Math.abs(costDifference) < negligibleCost;
  if (sameAccuracy && sameCost) return `${subject}と精度も費用も同じです。`;

  let costClause = '費用は同じです。';
  if (!sameCost) {
    costClause = costDifference > 0 ? `費用は ${formatMoney(costDifference, currency)} 多くかかります。` : `費用は ${formatMoney(-costDifference, currency)} 安く済みます。`;
  }
  if (sameAccuracy) return `${subject}と精度が同じで、${costClause}`;

  const difference = `${subject}より精度が ${Math.abs(points).toFixed(1)} ポイント`;
  const worthRemark = worth === undefined ? '' : `（${formatMoney(worth, currency)} 相当）`;
  if (points > 0) return `${difference}高く${worthRemark}、${costClause}`;
  // A cheaper option won despite lower accuracy, so the cost clause reads as a concession ("although").
  return !sameCost && costDifference < 0 ? `${difference}低い${worthRemark}ものの、${costClause}` : `${difference}低く${worthRemark}、${costClause}`;
}

/** Writes the Japanese reason of a decision. */
function japaneseReason(explanation: DecisionExplanation, currency: string): string {
  const sentences: string[] = [];
  switch (explanation.kind) {
    case 'no-option-meets-tolerance':
      sentences.push(`許容範囲（精度 ${formatFraction(explanation.floor)} 以上）を満たす選択肢はありません。`);
      sentences.push(`最も精度が高いのは${japaneseOption(explanation.action)}で、${formatFraction(explanation.accuracy)} です。`);
      break;
    case 'only-admissible':
      sentences.push(`許容範囲（精度 ${formatFraction(explanation.floor)} 以上）を満たす選択肢は${japaneseOption(explanation.action)}だけです。`);
      break;
    case 'compared':
      sentences.push(japaneseComparison(explanation, currency));
      break;
  }

  if (!explanation.retrainMeasured) sentences.push('再学習は測定していないため、比較に含めていません。');
  if (explanation.migrationMethod !== undefined) sentences.push(`${explanation.migrationMethod} による移行はラベルを必要としません。`);
  return sentences.join('');
}

function japaneseRetrainCostLabel(step: RetrainCostStep): string {
  const basis = step.measuredOn === 'source' ? 'ソースでの学習から見積もり' : 'ターゲットで測定';
  const label = `${japaneseOption('retrain')}の費用`;
  if (!step.weighed) return `${label}（${basis}、参考値）`;
  return step.measuredOn === 'source' ? `${label}（${basis}）` : label;
}

/** Writes one Japanese line of a decision's arithmetic. */
function japaneseStep(step: DecisionStep, currency: string): string {
  const money = (amount: number): string => formatMoney(amount, currency);
  const perHour = (price: number): string => `${money(price)}/時間`;
  const perPoint = (price: number): string => `${money(price)}/ポイント`;
  const images = (count: number): string => `ラベルなし画像 ${count} 枚、ラベル 0 件`;

  switch (step.kind) {
    case 'tolerance-none':
      return '許容範囲：未設定のため、すべての選択肢が対象';
    case 'tolerance-min-accuracy':
      return `許容範囲：精度 ≥ ${step.points.toFixed(1)}%`;
    case 'tolerance-max-drop': {
      const label = step.relativeTo === 'source-module' ? 'ソース + モジュール' : 'ターゲットで再学習';
      return `許容範囲：精度 ≥ ${formatFraction(step.reference)}（${label}）− ${step.points.toFixed(1)} ポイント = ${formatFraction(step.floor)}`;
    }
    case 'retrain-not-weighed':
      return `${japaneseOption('retrain')}：${step.costMeasured ? '精度を' : '精度も費用も'}測定していないため、比較に含めない`;
    case 'migration-measured':
      return `${japaneseOption('migrate')}：${step.condition}（${step.method}、${images(step.unlabeledImages)}）、測定した移行のうち最も精度が高いもの`;
    case 'option-accuracy': {
      let verdict = '';
      if (step.meetsTolerance !== undefined) verdict = step.meetsTolerance ? '、許容範囲を満たす' : '、許容範囲を下回る';
      return `${japaneseOption(step.action)}：精度 ${formatFraction(step.accuracy)}${verdict}`;
    }
    case 'retrain-cost':
      return (
        `${japaneseRetrainCostLabel(step)} = ${formatQuantity(step.hours)} 時間 × ${perHour(step.computePerHour)}` +
        ` + ラベル ${step.labelledExamples} 件 × ${money(step.perLabelledExample)}` +
        ` + エンジニア ${formatQuantity(step.engineerHours)} 時間 × ${perHour(step.perEngineerHour)} = ${money(step.total)}`
      );
    case 'label-free-cost': {
      const engineer = step.engineerHours === 0 ? '' : ` + エンジニア ${formatQuantity(step.engineerHours)} 時間 × ${perHour(step.perEngineerHour)}`;
      const used = step.unlabeledImages === 0 ? '' : `（${images(step.unlabeledImages)}）`;
      return `${japaneseOption(step.action)}の費用 = ${formatQuantity(step.hours)} 時間 × ${perHour(step.computePerHour)}${engineer} = ${money(step.total)}${used}`;
    }
    case 'value-lost':
      return (
        `${japaneseOption(step.mostAccurate)}ではなく${japaneseOption(step.action)}を選ぶと失う価値 = ` +
        `${step.points.toFixed(1)} ポイント × ${perPoint(step.perAccuracyPoint)} = ${money(step.amount)}`
      );
    case 'option-value':
      return (
        `${japaneseOption(step.action)}の価値 = ${(step.accuracy * 100).toFixed(1)} ポイント × ${perPoint(step.perAccuracyPoint)}` +
        ` − ${money(step.cost)} = ${money(step.value)}`
      );
    case 'decision-most-accurate':
      return `判定：${japaneseOption(step.action)}。許容範囲を満たす選択肢がないため、最も精度が高いものを選択`;
    case 'decision-only-admissible':
      return `判定：${japaneseOption(step.action)}。許容範囲を満たす唯一の選択肢`;
    case 'decision-highest-value':
      return `判定：${japaneseOption(step.action)}。許容範囲を満たす選択肢のうち、価値が最も高い（${money(step.value)}）`;
    case 'decision-tie': {
      const tie = `判定：${japaneseOption(step.action)}。価値が最も高い（${money(step.value)}）点で${japaneseOption(step.runnerUp)}と並び、`;
      if (step.tieBreak === 'more-accurate') return `${tie}精度がより高い`;
      if (step.tieBreak === 'cheaper') return `${tie}精度は同じで、費用がより安い`;
      const order = (['reuse', 'zero-shot', 'retrain', 'migrate'] as const).map(japaneseOption).join('');
      return `${tie}精度も費用も同じため、${order}の順で先にくるものを選択`;
    }
  }
}

const japanese: ReportMessages = {
  title: 'vlm-compat 移植評価レポート',
  summaryHeading: '概要',
  backbonesHeading: 'バックボーン',
  backboneColumns: ['役割', 'ファミリー', '名前', 'リビジョン', 'SHA-256（先頭 12 桁）'],
  sourceRole: 'ソース',
  targetRole: 'ターゲット',
  generated: (libraryVersion, createdAt) => `vlm-compat ${libraryVersion} が ${createdAt} に出力しました。`,
  compatible: (compatible, transplanted) =>
    transplanted === 0
      ? '移植できたモジュールはありません。'
      : `移植した ${transplanted} 件のモジュールのうち ${compatible} 件が互換です。互換とは、ターゲット上での精度がゼロショット以上（改善幅 ≥ 0）であることを指します。`,
  notTransplanted: (incompatible, failed) =>
    `ターゲットのバックボーンと非互換だったセルが ${incompatible} 件、失敗したセルが ${failed} 件あります。理由は各表の下に記載しています。`,
  retentionByKind: (parts) => `種類別の平均保持率（retention）は、${parts.join('、')}です。`,
  retentionOfKind: (kind, retention, rows) => `${kind} ${retention}（n=${rows}）`,
  shallowVersusDeep: (shallow, deep, shallowRetainedMore) => {
    if (shallow === undefined || deep === undefined) {
      return '浅い（テキスト入力に付く）モジュールと深いモジュールの一方しか移植できなかったため、両者を比較できません。';
    }
    const verdict =
      shallowRetainedMore === true ? '浅いモジュールのほうが精度をよく保っています' : '浅いモジュールのほうが精度を保っているとはいえません';
    return `テキスト入力に付く浅いモジュールは平均でソース精度の ${shallow.retention} を保ち（n=${shallow.rows}）、より深いモジュールは ${deep.retention} でした（n=${deep.rows}）。${verdict}。`;
  },
  glossary: [
    '保持率（retention）= ターゲット + 移植モジュールの精度 ÷ ソース + モジュールの精度。',
    '改善幅（gain）= ターゲット + 移植モジュールの精度 − ターゲットのゼロショット精度。単位は精度のポイント（pt）です。',
    'NFR（negative flip rate）= ソース + モジュールでは正解し、ターゲット + 移植モジュールでは誤ったテスト例の割合。',
    '回復率（recovery）=（ターゲット + 移植モジュールの精度 − ターゲットのゼロショット精度）÷（ターゲットで再学習した精度 − ターゲットのゼロショット精度）。再学習でゼロショットから上がった分のうち、移植で保てた割合です。再学習がゼロショットをほとんど上回らないときは値が大きく振れるか、定義できません（—）。',
  ],
  datasetIntro: (shots, seeds) => `${shots.join('、')}-shot で学習、シード ${seeds.join('、')}。`,
  aggregationNote: '± の付いた値はシード間の平均と標本標準偏差で、n はシード数です。',
  intervalNote: '括弧内の値はブートストラップ法による 95% 区間です。',
  columns: ['手法', '種類', '接続位置', 'ソース + モジュール', 'ターゲット（ゼロショット）', 'ターゲット + 移植モジュール', '保持率', '改善幅', 'NFR', '判定'],
  methodLabel: (method, shots, n) => [method, shots === undefined ? '' : `（${shots}-shot）`, n > 1 ? `（n=${n}）` : ''].join(''),
  kind: (kind) => japaneseKinds[kind],
  depth: (depth) => japaneseDepths[depth],
  action: (action) => japaneseActions[action],
  status: (status) => japaneseStatuses[status],
  listSeparator: '、',
  classSeparator: '、',
  parenthetical: (text, remark) => `${text}（${remark}）`,
  sentenceSeparator: '',
  worstClassesHeading: '精度の変化が大きいクラス（ソース + モジュール → ターゲット + 移植モジュール）',
  retrainHeading: '再学習との比較',
  retrainLine: (retrained, recovery, retrainTime, trainTime) =>
    `ターゲットで再学習した場合の精度は ${retrained}、回復率（recovery）は ${recovery} です。再学習には ${retrainTime} かかりました（ソースでの学習は ${trainTime}）。`,
  notTransplantedHeading: '移植結果のないセル',
  noReason: '理由は記録されていません',
  decisionsHeading: '判定の根拠',
  decisionsWithoutPrices:
    '価格が設定されていないため、以下の費用はすべて 0 で、各判定は許容範囲内で最も精度の高い選択肢になります。計算時間、ラベル付け、エンジニアの工数を比較に入れるには、設定ファイルの "prices" を指定してください。',
  decisionReason: japaneseReason,
  decisionStep: japaneseStep,
  cellLabel: (method, seed, shots) => `${method}（${shots === undefined ? '' : `${shots}-shot、`}シード ${seed}）`,
  accuracyChartTitle: (dataset) => `${dataset} における手法別の精度`,
  accuracyAxis: '精度（%）',
  seriesLabels: ['ソース + モジュール', 'ターゲット（ゼロショット）', 'ターゲット + 移植モジュール'],
  notAvailable: 'なし',
  retentionChartTitle: (dataset) => `${dataset} における接続位置別の保持率`,
  retentionAxis: '保持率（%）',
  depthAxis: '接続位置（浅い → 深い）',
  sameAsSource: 'ソースと同じ精度',
  whiskerNote: 'ひげはシード間の ±1 標準偏差、またはシードが 1 つの場合はブートストラップ法による 95% 区間を表します。',
  chartCaption: (title) => `${title}。${japanese.whiskerNote}`,
  forecastHeading: '保持率の予測と実測',
  forecastSummary: (cells, rankCorrelation, meanAbsoluteError, inside, level) =>
    [
      `予測は、移植後の評価より前に、ラベルなし画像だけから ${cells} セルについて行いました。`,
      rankCorrelation === undefined ? '順位相関の計算には、値の異なるセルが 3 つ以上必要です。' : `実測の保持率とのスピアマン順位相関は ${rankCorrelation} です。`,
      `平均絶対誤差は保持率で ${meanAbsoluteError} ポイント、${level} 予測区間に実測値が収まったのは ${cells} セル中 ${inside} セルです。`,
    ].join(''),
  forecastCost: (forecast, evaluation, share) =>
    `予測にかかった時間は合計 ${forecast} で、移植後の評価（ターゲットのゼロショットと移植モジュールでの推論）にかかった ${evaluation} の ${share} です。`,
  forecastColumns: ['データセット', '手法', '予測', '予測区間', '実測', '区間内'],
  insideInterval: (inside) => (inside ? 'はい' : 'いいえ'),
  migrationHeading: 'ラベルなし移行',
  migrationNote:
    '各条件での精度です。ブリッジ（bridged）と蒸留（distilled）のモジュールは、ラベルを使わずラベルなし画像だけでターゲット上に作りました。再学習（retrained）は K-shot のラベルを使っています。',
  migrationColumns: ['データセット', '手法', 'ソース + モジュール', 'ターゲット（ゼロショット）', '移植', 'ブリッジ', '蒸留', '再学習'],
  notApplicable: '対象外',
};

/** Returns the messages of a language; throws on a language this library has no messages for. */
export function messagesFor(lang: unknown = 'en'): ReportMessages {
  if (lang === 'en') return english;
  if (lang === 'ja') return japanese;
  throw new Error(`Report language ${JSON.stringify(lang)} is not supported. Use one of: ${reportLanguages.join(', ')}.`);
}

/** Reason and arithmetic lines of a decision, as a report shows them. */
export interface DecisionText {
  /** One line saying why. */
  readonly reason: string;
  /** The arithmetic, one step per line. */
  readonly arithmetic: readonly string[];
}

/**
 * Writes the reason and arithmetic of a decision in the language of `messages`, from its explanation and steps.
 * A record without `currency`, `explanation` and `steps`, as results files written by earlier versions are,
 * keeps its stored English `reason` and `arithmetic`.
 */
export function explainDecision(decision: DecisionRecord, messages: ReportMessages): DecisionText {
  const { currency, explanation, steps } = decision;
  if (currency === undefined || explanation === undefined || steps === undefined) return { reason: decision.reason, arithmetic: decision.arithmetic };
  return {
    reason: messages.decisionReason(explanation, currency),
    arithmetic: steps.map((step) => messages.decisionStep(step, currency)),
  };
}
