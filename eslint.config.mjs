import tseslint from 'typescript-eslint';

// The wall between deciders and the world (DESIGN §3, STYLE §5): machines/ and events/ are pure.
// They may import xstate, zod and each other, never node: built-ins, I/O packages or src/.
const pureOnly = {
  patterns: [
    { group: ['node:*'], message: 'machines/ and events/ are pure: no Node built-ins. Provide effects from src/engine.' },
    { group: ['**/src/**', '../src/*'], message: 'machines/ and events/ must not import src/: arrows point down only.' },
  ],
  paths: ['fs', 'fs/promises', 'path', 'os', 'child_process', 'net', 'classic-level', 'level', '@grpc/grpc-js', 'pino'].map(
    (name) => ({ name, message: 'machines/ and events/ are pure: no I/O modules.' }),
  ),
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.tmp/**', 'src/api/gen/**', 'src/runtime/containerd/gen/**', 'tools/**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  { files: ['machines/**/*.ts', 'events/**/*.ts'], rules: { 'no-restricted-imports': ['error', pureOnly] } },
  { files: ['src/cli/**/*.ts', 'tools/**/*.ts', 'test/**/*.ts'], rules: { 'no-console': 'off' } },
);
