#!/usr/bin/env node
// kvctl, the kv-store client CLI. Node 24 runs the TypeScript sources directly (type stripping).
await import('../src/kvctl/main.ts');
