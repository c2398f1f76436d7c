// Classify texts with an asdfd student in JavaScript (Node or the browser) through transformers.js.
//
// The student is the folder `compress export ... --out DIR/` writes: onnx/model.onnx (fp32),
// onnx/model_quantized.onnx (int8, transformers.js' `q8`), config.json and tokenizer.json. A folder exported by an
// older asdfd (model.onnx only at its root, no onnx/) is fixed by running `compress export` again.
//
//   import { loadStudent, classify } from './classify.mjs';
//   const student = await loadStudent('artifacts/demo/student/');      // Node: a path; browser: a model id
//   const [p] = await classify(student, ['a gripping, funny film']);
//   // p = { label: 'positive', score: 0.97, scores: { negative: 0.03, positive: 0.97 }, labels: ['positive'] }
//
// Heads, as asdfd.runtime.Classifier reads them: single-label (softmax), multi-label (problem_type
// multi_label_classification: a sigmoid per label, `labels` = those >= threshold), score (one output, no
// probability: `score` is the raw output). Sentence pairs are [text_a, text_b] arrays: the tokenizer frames them
// with its own pair template (`text_pair`) and the model is called directly, since transformers.js'
// text-classification pipeline takes no pairs.
//
// Run as a script (Node): `node js/classify.mjs DIR [--dtype fp32|q8] [--threshold 0.5] [--json] < lines.txt`.

import { env, pipeline } from '@huggingface/transformers';

export const MULTI_LABEL = 'multi_label';
export const SCORE = 'score';
export const SINGLE_LABEL = 'single_label';

const IS_NODE = typeof process !== 'undefined' && process.release?.name === 'node';

/** The head asdfd reads from config.json (asdfd.core.heads.head_of). */
export function headOf(config) {
    if (config.problem_type === 'multi_label_classification') return MULTI_LABEL;
    const count = config.num_labels ?? Object.keys(config.id2label ?? {}).length;
    return count === 1 ? SCORE : SINGLE_LABEL;
}

/**
 * Load a student folder for `classify`. Nothing is fetched from the Hugging Face Hub: remote models are off.
 *
 * @param {string} folder Node: the export folder's path. Browser: the folder's path under `env.localModelPath`
 *   (served by the page's own origin).
 * @param {{dtype?: 'fp32'|'q8'|'fp16', device?: string, threads?: number}} [options] `dtype` defaults to the
 *   export's own choice (config.json's transformers.js_config: q8 for an int8 export); `threads` sets
 *   onnxruntime's intra-op threads.
 */
export async function loadStudent(folder, { dtype, device, threads } = {}) {
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    // A relative path shaped like a Hub id ("artifacts/student") would be looked up under env.localModelPath.
    if (IS_NODE) folder = (await import('node:path')).resolve(folder);
    const session_options = threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : undefined;
    const classifier = await pipeline('text-classification', folder, {
        dtype,
        device,
        local_files_only: true,
        session_options,
    });
    const config = classifier.model.config;
    const count = Object.keys(config.id2label ?? {}).length || config.num_labels || 2;
    const labels = Array.from({ length: count }, (_, i) => config.id2label?.[i] ?? `LABEL_${i}`);
    return { classifier, tokenizer: classifier.tokenizer, model: classifier.model, config, labels, head: headOf(config) };
}

function softmax(row) {
    const top = Math.max(...row);
    const exps = row.map((x) => Math.exp(x - top));
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((x) => x / total);
}

const sigmoid = (x) => 1 / (1 + Math.exp(-x));

/**
 * Raw model outputs (logits), one row per item, through the tokenizer and a direct model call.
 * @param {object} student from `loadStudent`
 * @param {Array<string|[string, string]>} items texts, or [text_a, text_b] pairs (all of one kind)
 * @returns {Promise<number[][]>}
 */
export async function logits(student, items) {
    const pairs = items.map((item) => Array.isArray(item));
    if (pairs.some((p) => p !== pairs[0])) throw new Error('pass texts or [text_a, text_b] pairs, not both');
    const first = pairs[0] ? items.map((item) => item[0]) : items;
    const options = { padding: true, truncation: true };
    if (pairs[0]) options.text_pair = items.map((item) => item[1]);
    const inputs = student.tokenizer(first, options);
    const { logits: output } = await student.model(inputs);
    const [rows, width] = output.dims;
    const data = Array.from(output.data);
    return Array.from({ length: rows }, (_, r) => data.slice(r * width, (r + 1) * width));
}

/**
 * One prediction per item, in input order, like asdfd.runtime.Classifier.predict.
 * @returns {Promise<Array<{label: string, score: number, scores: Object<string, number>, labels: string[]}>>}
 */
export async function classify(student, items, { threshold = 0.5, batchSize = 32 } = {}) {
    if (!Array.isArray(items) || items.length === 0) throw new Error('pass a non-empty array of texts');
    const out = [];
    for (let start = 0; start < items.length; start += batchSize) {
        for (const row of await logits(student, items.slice(start, start + batchSize))) {
            out.push(predictionOf(student, row, threshold));
        }
    }
    return out;
}

function predictionOf({ labels, head }, row, threshold) {
    if (head === SCORE) return { label: labels[0], score: row[0], scores: { [labels[0]]: row[0] }, labels: [] };
    const probs = head === MULTI_LABEL ? row.map(sigmoid) : softmax(row);
    const order = probs.map((_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
    const scores = Object.fromEntries(labels.map((name, i) => [name, probs[i]]));
    const chosen = head === MULTI_LABEL ? order.filter((i) => probs[i] >= threshold) : [order[0]];
    return { label: labels[order[0]], score: probs[order[0]], scores, labels: chosen.map((i) => labels[i]) };
}

async function main(argv) {
    const { readFileSync } = await import('node:fs');
    const args = { dtype: undefined, threshold: 0.5, json: false, threads: undefined };
    const rest = [];
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === '--json') args.json = true;
        else if (arg === '--dtype') args.dtype = argv[++i];
        else if (arg === '--threshold') args.threshold = Number(argv[++i]);
        else if (arg === '--threads') args.threads = Number(argv[++i]);
        else rest.push(arg);
    }
    if (rest.length !== 1) throw new Error('usage: node js/classify.mjs DIR [--dtype fp32|q8] [--json] < lines');
    const student = await loadStudent(rest[0], args);
    const pairs = student.config.asdfd_input === 'pair';
    const lines = readFileSync(0, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    const items = lines.filter((l) => l.trim()).map((l) => (pairs ? l.split('\t', 2) : l));
    const predictions = items.length ? await classify(student, items, args) : [];
    let next = 0;
    for (const line of lines) {
        if (!line.trim()) {
            console.log('');
            continue;
        }
        const p = predictions[next++];
        if (args.json) console.log(JSON.stringify({ ...p, text: line }));
        else if (student.head === MULTI_LABEL) console.log(`${p.labels.join(',') || '-'}\t${p.score.toFixed(4)}\t${line}`);
        else console.log(`${p.label}\t${p.score.toFixed(4)}\t${line}`);
    }
}

if (IS_NODE && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1] ?? '').href) {
    main(process.argv.slice(2)).catch((error) => {
        console.error(`Error: ${error.message.split('\n')[0]}`);
        process.exit(1);
    });
}
