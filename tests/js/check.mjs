// tests/test_js.py's Node side: classify the cases of a JSON file with js/classify.mjs and print one JSON object.
//
//   node tests/js/check.mjs cases.json
//   cases.json: [{"name": "...", "folder": "/abs/export/folder", "dtype": "fp32" | "q8" | null, "items": [...]}]
//   items: texts, or [text_a, text_b] pairs. dtype null: the folder's default (config.json's transformers.js_config).
//   stdout: {"<name>": {"predictions": [...], "logits": [[...]], "pipeline": [[{label, score}, ...]] | null}}
//
// `pipeline` is transformers.js' own text-classification pipeline (top_k: null: every class's probability) for
// single texts, so that the path applications use is checked too, not only the direct model call.

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const { loadStudent, classify, logits } = await import(pathToFileURL(path.join(here, '../../js/classify.mjs')).href);

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = {};
for (const c of cases) {
    const student = await loadStudent(c.folder, { dtype: c.dtype ?? undefined, threads: 1 });
    const pairs = c.items.some((item) => Array.isArray(item));
    out[c.name] = {
        dtype: student.model.sessions?.model?.config?.dtype ?? null,
        head: student.head,
        predictions: await classify(student, c.items, { threshold: c.threshold ?? 0.5 }),
        logits: await logits(student, c.items),
        pipeline: pairs ? null : await student.classifier(c.items, { top_k: null }),
    };
}
process.stdout.write(JSON.stringify(out) + '\n');
