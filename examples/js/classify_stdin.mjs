// Classify lines of stdin with an exported student in Node (transformers.js on onnxruntime-node, CPU).
// The JavaScript twin of examples/classify_stdin.py: one output line per input line.
//
//   npm install @huggingface/transformers@4.3.2        # in your project (here: `npm ci` in examples/js/)
//   printf 'a gripping, funny film\na dull mess\n' | node classify_stdin.mjs --model artifacts/demo/student.run/export/
//   positive	0.9731	a gripping, funny film
//   negative	0.9412	a dull mess
//
// --model is the folder `compress export MODEL --out DIR/` writes (onnx/model.onnx, onnx/model_quantized.onnx,
// config.json, tokenizer.json). It loads the graph the export validated as deployable (int8 when it exported
// one); --dtype fp32 or q8 picks one. A multi-label model prints every label at or over --threshold
// (comma-separated, "-" for none) and the top probability; a score model prints its score. For a sentence-pair
// model each line is text_a<TAB>text_b. Nothing is downloaded: remote models are off.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { env, pipeline } from '@huggingface/transformers';

function fail(message) {
    console.error(`Error: ${message}`);
    process.exit(1);
}

let args;
try {
    ({ values: args } = parseArgs({
        options: {
            model: { type: 'string' },
            dtype: { type: 'string' }, // fp32 | q8; default: the export's own (config.json)
            threshold: { type: 'string', default: '0.5' },
            threads: { type: 'string' },
            json: { type: 'boolean', default: false },
        },
    }));
} catch (error) {
    fail(error.message);
}

if (!args.model) fail('--model DIR is required: a folder written by `compress export MODEL --out DIR/`');
if (!existsSync(path.join(args.model, 'config.json'))) fail(`${args.model} has no config.json: not an export folder`);
if (!existsSync(path.join(args.model, 'onnx'))) {
    fail(`${args.model} has no onnx/ folder (exported by an older asdfd): run \`compress export\` again to add it`);
}
const threshold = Number(args.threshold);
if (!(threshold > 0 && threshold < 1)) fail(`--threshold must be in (0, 1), got ${args.threshold}`);
if (args.dtype !== undefined && !['fp32', 'q8'].includes(args.dtype)) fail(`--dtype must be fp32 or q8, got ${args.dtype}`);
const threads = args.threads === undefined ? undefined : Number(args.threads);
if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) fail(`--threads must be >= 1, got ${args.threads}`);

env.allowRemoteModels = false; // the folder only: never the Hugging Face Hub
let classifier;
try {
    classifier = await pipeline('text-classification', path.resolve(args.model), {
        dtype: args.dtype,
        local_files_only: true,
        session_options: threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : undefined,
    });
} catch (error) {
    fail(`cannot load ${args.model}: ${String(error.message).split('\n')[0]}`);
}
const config = classifier.model.config;
const labels = Object.keys(config.id2label).map((i) => config.id2label[i]);
const multiLabel = config.problem_type === 'multi_label_classification';
const score = labels.length === 1;
const pairs = config.asdfd_input === 'pair'; // written by `compress export` (sentence-pair tasks: NLI, paraphrase)

async function predict(items) {
    // The tokenizer frames pairs with the model's own template (text_pair); the model is called directly, since
    // the text-classification pipeline takes no pairs and would apply a softmax to a score head.
    const inputs = classifier.tokenizer(
        pairs ? items.map((p) => p[0]) : items,
        { padding: true, truncation: true, ...(pairs ? { text_pair: items.map((p) => p[1]) } : {}) },
    );
    const { logits } = await classifier.model(inputs);
    const width = logits.dims[1];
    return items.map((_, r) => {
        const row = Array.from(logits.data.slice(r * width, (r + 1) * width));
        if (score) return { label: labels[0], score: row[0], scores: { [labels[0]]: row[0] }, labels: [] };
        const top = Math.max(...row);
        const exps = row.map((x) => Math.exp(x - top));
        const sum = exps.reduce((a, b) => a + b, 0);
        const probs = multiLabel ? row.map((x) => 1 / (1 + Math.exp(-x))) : exps.map((x) => x / sum);
        const order = probs.map((_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
        const chosen = multiLabel ? order.filter((i) => probs[i] >= threshold) : [order[0]];
        return {
            label: labels[order[0]],
            score: probs[order[0]],
            scores: Object.fromEntries(labels.map((n, i) => [n, probs[i]])),
            labels: chosen.map((i) => labels[i]),
        };
    });
}

const lines = readFileSync(0, 'utf8').split('\n');
if (lines.at(-1) === '') lines.pop();
const items = [];
for (const line of lines.filter((l) => l.trim())) {
    if (!pairs) items.push(line);
    else if (line.split('\t').length === 2) items.push(line.split('\t'));
    else fail(`this model classifies sentence pairs: write text_a<TAB>text_b per line, got ${JSON.stringify(line.slice(0, 80))}`);
}
const predictions = [];
for (let start = 0; start < items.length; start += 32) predictions.push(...(await predict(items.slice(start, start + 32))));

let next = 0;
for (const line of lines) {
    if (!line.trim()) {
        console.log('');
        continue;
    }
    const p = predictions[next++];
    if (args.json) console.log(JSON.stringify({ ...p, text: line }));
    else if (multiLabel) console.log(`${p.labels.join(',') || '-'}\t${p.score.toFixed(4)}\t${line}`);
    else console.log(`${p.label}\t${p.score.toFixed(4)}\t${line}`);
}
