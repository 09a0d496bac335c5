export * from './names.ts';
export * from './config.ts';
export * from './services.ts';
export * from './statefulset.ts';
export * from './pdb.ts';
export * from './serviceaccount.ts';
export * from './secrets.ts';
export * from './networkpolicy.ts';
