#!/usr/bin/env node
// kv-store node entry point. Node 24 runs the TypeScript sources directly (type stripping).
await import('../src/main.ts');
