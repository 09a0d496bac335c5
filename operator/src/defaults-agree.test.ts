// One source of defaults: node/src/defaults.ts. This test fails when the operator's generated copy,
// the CRD's `default:` values, the README, or the hand-written KVCluster types (types.ts) drift
// from it or from the CRD schema.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadYaml } from '@kubernetes/client-node';
import ts from 'typescript';
import * as nodeTable from '../../node/src/defaults.ts';
import { helpText } from '../../node/src/cli/flags.ts';
import { KUBERNETES_DEFAULTS } from './node-defaults.generated.ts';
import { expectedNodeDefaults, TARGET } from './tools/sync-defaults.ts';
import { withDefaults } from './types.ts';

const root = path.resolve(import.meta.dirname, '../..');

export interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  // client-node's loadYaml maps a CRD onto its V1JSONSchemaProps model, which renames `enum:`
  // and `default:`.
  _enum?: unknown[];
  _default?: unknown;
  minimum?: number;
}

export function crdSchema(): Schema {
  const crd = loadYaml<{ spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } }>(
    readFileSync(path.join(root, 'manifests/crd/kvclusters.kvstore.io.yaml'), 'utf8'),
  );
  const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
  assert.ok(schema, 'CRD has a schema');
  return schema;
}

void describe('one source of defaults', () => {
  void test('the operator copy is generated from node/src/defaults.ts (run: node operator/src/tools/sync-defaults.ts)', async () => {
    assert.equal(readFileSync(TARGET, 'utf8'), await expectedNodeDefaults());
  });

  void test('the CRD defaults spec.tuning to the table, and accepts nothing the node refuses', () => {
    const tuning = crdSchema().properties?.spec?.properties?.tuning?.properties ?? {};
    for (const [key, d] of Object.entries(nodeTable.KUBERNETES_DEFAULTS)) {
      assert.equal(tuning[key]?._default, d.value, `spec.tuning.${key}`);
      const min = (nodeTable.NODE_MINIMUMS as Record<string, number>)[key];
      if (min !== undefined)
        assert.ok((tuning[key]?.minimum ?? -Infinity) >= min, `spec.tuning.${key} minimum`);
    }
    assert.deepEqual(Object.keys(tuning).sort(), Object.keys(nodeTable.KUBERNETES_DEFAULTS).sort());
    const t = withDefaults({}).tuning;
    for (const [key, d] of Object.entries(KUBERNETES_DEFAULTS))
      assert.equal(t[key as keyof typeof t], d.value, `withDefaults tuning.${key}`);
  });

  void test('the node help and the README print the table', () => {
    const d = nodeTable.NODE_DEFAULTS;
    for (const [flag, value] of [
      ['election-ticks', d.electionTicks],
      ['tick-ms', d.tickMs],
      ['snapshot-threshold', d.snapshotThreshold],
      ['max-snapshot-mb', d.maxSnapshotMb],
    ] as const) {
      assert.match(helpText, new RegExp(`-${flag} .*\\(default ${value}\\)`), `--help -${flag}`);
    }
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const inReadme = (pattern: string, what: string): void =>
      assert.ok(new RegExp(pattern).test(readme), `README: ${what} (${pattern})`);
    inReadme(`\`-election-ticks\` +\\| \`${d.electionTicks}\``, 'node default -election-ticks');
    inReadme(`\`-tick-ms\` +\\| \`${d.tickMs}\``, 'node default -tick-ms');
    inReadme(`\`-snapshot-threshold\` +\\| \`${d.snapshotThreshold}\``, 'node default -snapshot-threshold');
    for (const [key, k] of Object.entries(KUBERNETES_DEFAULTS))
      inReadme(`\\| \`tuning\\.${key}\` +\\| \`${k.value}\``, `operator default tuning.${key}`);
  });
});

// ---- types.ts against the CRD schema -------------------------------------------------------

interface Shape {
  /** Property names to their shapes; undefined for a leaf or an opaque map. */
  props?: Map<string, Shape>;
  /** String literal values of a union such as 'Delete' | 'Retain'. */
  literals?: string[];
}

function typeShape(checker: ts.TypeChecker, type: ts.Type, depth = 0): Shape {
  const parts = type.isUnion() ? type.types.filter((t) => !(t.flags & ts.TypeFlags.Undefined)) : [type];
  if (parts.every((t) => t.isStringLiteral())) return { literals: parts.map((t) => t.value).sort() };
  const single = parts.length === 1 ? parts[0] : undefined;
  if (single === undefined || depth > 8) return {};
  if (checker.isArrayType(single)) {
    const elem = checker.getTypeArguments(single as ts.TypeReference)[0];
    return elem ? typeShape(checker, elem, depth + 1) : {};
  }
  if (!(single.flags & ts.TypeFlags.Object) || single.getStringIndexType() !== undefined) return {};
  const props = new Map<string, Shape>();
  for (const p of single.getProperties()) {
    const decl = p.valueDeclaration ?? p.declarations?.[0];
    if (!decl) continue;
    props.set(p.name, typeShape(checker, checker.getTypeOfSymbolAtLocation(p, decl), depth + 1));
  }
  return { props };
}

function schemaShape(s: Schema): Shape {
  if (s._enum) return { literals: s._enum.map(String).sort() };
  const target = s.type === 'array' && s.items ? s.items : s;
  if (!target.properties) return {};
  return { props: new Map(Object.entries(target.properties).map(([k, v]) => [k, schemaShape(v)])) };
}

function compare(where: string, fromTypes: Shape, fromCrd: Shape, problems: string[]): void {
  if (fromCrd.literals && fromTypes.literals && fromCrd.literals.join() !== fromTypes.literals.join())
    problems.push(
      `${where}: types.ts allows ${fromTypes.literals.join('|')}, the CRD ${fromCrd.literals.join('|')}`,
    );
  if (!fromTypes.props || !fromCrd.props) return; // an opaque map on either side: nothing to compare
  for (const k of fromTypes.props.keys())
    if (!fromCrd.props.has(k)) problems.push(`${where}.${k}: in types.ts, not in the CRD schema`);
  for (const [k, v] of fromCrd.props) {
    const t = fromTypes.props.get(k);
    if (t === undefined) problems.push(`${where}.${k}: in the CRD schema, not in types.ts`);
    else compare(`${where}.${k}`, t, v, problems);
  }
}

void test('operator/src/types.ts describes the same fields and enums as the CRD schema', () => {
  const file = path.join(import.meta.dirname, 'types.ts');
  const program = ts.createProgram([file], { strict: true, noEmit: true, allowImportingTsExtensions: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  assert.ok(source);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  assert.ok(moduleSymbol);
  const exported = new Map(checker.getExportsOfModule(moduleSymbol).map((s) => [s.name, s]));
  const schema = crdSchema().properties ?? {};
  const problems: string[] = [];
  for (const [name, field] of [
    ['KVClusterSpec', 'spec'],
    ['KVClusterStatus', 'status'],
  ] as const) {
    const sym = exported.get(name);
    assert.ok(sym, `types.ts exports ${name}`);
    const shape = typeShape(checker, checker.getDeclaredTypeOfSymbol(sym));
    assert.ok(shape.props && shape.props.size > 0, `${name} has properties`);
    const crdField = schema[field];
    assert.ok(crdField, `the CRD has ${field}`);
    compare(field, shape, schemaShape(crdField), problems);
  }
  assert.deepEqual(problems, []);
});
