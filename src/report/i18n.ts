import type { AttachmentDepth, ModuleKind } from '../adapters/types.js';
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
  readonly retention: string;
  readonly rows: number;
}

/**
 * Every piece of text a report contains apart from values from the results (method, class and data set
 * names, reasons and arithmetic written by the pipeline), which stay as they are in every language.
 */
export interface ReportMessages {
  readonly title: string;
  readonly summaryHeading: string;
  readonly backbonesHeading: string;
  readonly backboneColumns: readonly [role: string, family: string, name: string, revision: string, sha256: string];
  readonly sourceRole: string;
  readonly targetRole: string;
  readonly generated: (libraryVersion: string, createdAt: string) => string;
  readonly compatible: (compatible: number, transplanted: number) => string;
  readonly notTransplanted: (incompatible: number, failed: number) => string;
  readonly retentionByKind: (parts: readonly string[]) => string;
  readonly retentionOfKind: (kind: string, retention: string, rows: number) => string;
  readonly shallowVersusDeep: (shallow: GroupText | undefined, deep: GroupText | undefined, shallowRetainedMore: boolean | undefined) => string;
  readonly glossary: readonly string[];
  readonly datasetIntro: (shots: readonly number[], seeds: readonly number[]) => string;
  readonly aggregationNote: string;
  readonly intervalNote: string;
  /** Header of each data set's table: method, kind, depth, three accuracies, retention, gain, NFR, decision. */
  readonly columns: readonly string[];
  readonly methodLabel: (method: string, shots: number | undefined, n: number) => string;
  readonly kind: (kind: ModuleKind) => string;
  readonly depth: (depth: AttachmentDepth) => string;
  readonly action: (action: DecisionRecord['action']) => string;
  readonly status: (status: CellResult['status']) => string;
  readonly listSeparator: string;
  /** Separates the classes in a list of per-class changes. */
  readonly classSeparator: string;
  /** Appends a remark in parentheses, with the spacing and bracket style of the language. */
  readonly parenthetical: (text: string, remark: string) => string;
  /** Joins sentences of one paragraph. */
  readonly sentenceSeparator: string;
  readonly worstClassesHeading: string;
  readonly retrainHeading: string;
  readonly retrainLine: (retrained: string, recovery: string, retrainTime: string, trainTime: string) => string;
  readonly notTransplantedHeading: string;
  readonly noReason: string;
  readonly decisionsHeading: string;
  readonly cellLabel: (method: string, seed: number, shots: number | undefined) => string;
  readonly accuracyChartTitle: (dataset: string) => string;
  readonly accuracyAxis: string;
  readonly seriesLabels: readonly [sourceModule: string, targetZeroShot: string, targetTransplanted: string];
  readonly notAvailable: string;
  readonly retentionChartTitle: (dataset: string) => string;
  readonly retentionAxis: string;
  readonly depthAxis: string;
  readonly sameAsSource: string;
  readonly whiskerNote: string;
  /** Caption under a chart: its title, then how to read the whiskers. */
  readonly chartCaption: (title: string) => string;
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
};

/** Returns the messages of a language; throws on a language this library has no messages for. */
export function messagesFor(lang: unknown = 'en'): ReportMessages {
  if (lang === 'en') return english;
  if (lang === 'ja') return japanese;
  throw new Error(`Report language ${JSON.stringify(lang)} is not supported. Use one of: ${reportLanguages.join(', ')}.`);
}
