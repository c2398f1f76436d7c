// Serve examples/js/index.html with a student, on 127.0.0.1 only: a static file server, no dependencies.
//
//   node serve.mjs --model ../../artifacts/demo/student.run/export/ [--port 8080]
//   open http://127.0.0.1:8080/
//
// /            this folder (index.html, node_modules/ after `npm ci`)
// /student/    the export folder given as --model (config.json, tokenizer.json, onnx/model_quantized.onnx, ...)

import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
    options: { model: { type: 'string' }, port: { type: 'string', default: '8080' } },
});
if (!args.model || !existsSync(path.join(args.model, 'config.json'))) {
    console.error('Error: --model DIR is required: a folder written by `compress export MODEL --out DIR/`');
    process.exit(1);
}
if (!existsSync(path.join(args.model, 'onnx'))) {
    console.error(`Error: ${args.model} has no onnx/ folder (exported by an older asdfd): run \`compress export\` again`);
    process.exit(1);
}

const here = path.dirname(fileURLToPath(import.meta.url));
const roots = { '/student/': path.resolve(args.model), '/': here };
const types = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript',
    '.mjs': 'text/javascript',
    '.json': 'application/json',
    '.wasm': 'application/wasm',
    '.onnx': 'application/octet-stream',
    '.txt': 'text/plain; charset=utf-8',
};

function resolve(urlPath) {
    const clean = decodeURIComponent(urlPath.split('?')[0]);
    for (const [prefix, root] of Object.entries(roots)) {
        if (!clean.startsWith(prefix)) continue;
        const file = path.resolve(root, '.' + clean.slice(prefix.length - 1));
        if (file !== root && !file.startsWith(root + path.sep)) return null; // no ../ escapes
        return existsSync(file) && statSync(file).isDirectory() ? path.join(file, 'index.html') : file;
    }
    return null;
}

const server = createServer((request, response) => {
    const file = resolve(request.url ?? '/');
    if (request.method !== 'GET' || !file || !existsSync(file)) {
        response.writeHead(404).end();
        return;
    }
    response.writeHead(200, {
        'Content-Type': types[path.extname(file)] ?? 'application/octet-stream',
        'Content-Length': statSync(file).size,
    });
    createReadStream(file).pipe(response);
});
server.listen(Number(args.port), '127.0.0.1', () => {
    console.log(`http://127.0.0.1:${server.address().port}/  (student: ${roots['/student/']})`);
});
