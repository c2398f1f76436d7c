// Latency of a student in transformers.js: Node (onnxruntime-node, CPU) or the browser (onnxruntime-web, wasm).
// Driven by benchmarks/bench_js.py, which runs the Python runtime on the same artifact and inputs in the same run
// and writes the table; see docs/js.md. Two measurements, as the Python side makes them:
//
//   graph_1x64: one model call on a fixed batch of 1 x 64 token ids (the ids come from the driver, so every
//               runtime runs the same input): `runs` timed calls after `warmup` untimed ones; ms per call.
//   dev_e2e:    the dev sentences end to end (tokenize, run, softmax/sigmoid, labels) in batches of `batchSize`:
//               `repeats` timed passes after one untimed one; seconds per pass and sentences per second.
//
// Node:  node js/bench.mjs spec.json  (prints one JSON object)
// spec:  {"folder", "dtype", "threads", "ids": {"input_ids": [...64], "attention_mask": [...], "token_type_ids"?},
//         "texts": [...], "runs", "warmup", "repeats", "batchSize"}

import { Tensor, env } from '@huggingface/transformers';
import { classify, loadStudent } from './classify.mjs';

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

function stats(values) {
    const sorted = [...values].sort((a, b) => a - b);
    const pick = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    return { mean, p50: pick(0.5), p90: pick(0.9), p99: pick(0.99), min: sorted[0], n: values.length };
}

/** The 1 x N feed for the model's inputs, from the driver's ids. */
function feedOf(student, ids) {
    const width = ids.input_ids.length;
    const tensor = (values) => new Tensor('int64', BigInt64Array.from(values.map(BigInt)), [1, width]);
    const feed = { input_ids: tensor(ids.input_ids), attention_mask: tensor(ids.attention_mask) };
    if (student.model.sessions.model.inputNames.includes('token_type_ids')) {
        feed.token_type_ids = tensor(ids.token_type_ids ?? new Array(width).fill(0));
    }
    return feed;
}

/** Run both measurements on a loaded student; plain JSON. */
export async function runBench(student, spec) {
    const { runs = 200, warmup = 20, repeats = 3, batchSize = 32 } = spec;
    const feed = feedOf(student, spec.ids);
    for (let i = 0; i < warmup; i++) await student.model(feed);
    const times = [];
    for (let i = 0; i < runs; i++) {
        const start = now();
        await student.model(feed);
        times.push(now() - start);
    }
    const out = { graph_1x64_ms: stats(times), tokens: spec.ids.input_ids.length };
    if (spec.texts?.length) {
        await classify(student, spec.texts, { batchSize });
        const passes = [];
        for (let i = 0; i < repeats; i++) {
            const start = now();
            await classify(student, spec.texts, { batchSize });
            passes.push((now() - start) / 1000);
        }
        const best = Math.min(...passes);
        out.dev_e2e = { texts: spec.texts.length, batch_size: batchSize, seconds: passes, best_s: best, texts_per_s: spec.texts.length / best };
    }
    out.dtype = student.model.sessions.model.config?.dtype ?? spec.dtype ?? null;
    return out;
}

async function main() {
    const { readFileSync } = await import('node:fs');
    const os = await import('node:os');
    const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
    const student = await loadStudent(spec.folder, { dtype: spec.dtype, threads: spec.threads });
    const result = await runBench(student, spec);
    const ortVersion = env.backends.onnx.versions?.node ?? '?';
    result.runtime = `node ${process.version}, transformers.js ${env.version}, onnxruntime-node ${ortVersion} (cpu), ${spec.threads ?? 'default'} threads`;
    result.cpu = os.cpus()[0]?.model ?? null;
    process.stdout.write(JSON.stringify(result) + '\n');
}

if (typeof process !== 'undefined' && process.release?.name === 'node') {
    const { pathToFileURL } = await import('node:url');
    if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
        main().catch((error) => {
            console.error(`Error: ${error.message.split('\n')[0]}`);
            process.exit(1);
        });
    }
}
