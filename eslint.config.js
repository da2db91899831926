import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/** src/ never imports test/ or bench/ (relative paths climbing out of src/; import() calls have their own rule). */
const NO_TEST_IMPORT = {
  regex: '^(\\.\\./)+(test|bench)(/|$)',
  message: 'src/ does not import test/ or bench/: test code is never compiled into dist/ or the image',
};
const NO_TEST_IMPORT_CALL = {
  selector: 'ImportExpression[source.value=/^(\\.\\.\\u002F)+(test|bench)\\u002F/]',
  message: NO_TEST_IMPORT.message,
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Nothing under src/ imports the tests or the benchmarks: they are never compiled into dist/ nor copied into
    // the image (tsconfig.build.json, Dockerfile). The block below repeats these for the folders it covers.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [NO_TEST_IMPORT] }],
      'no-restricted-syntax': ['error', NO_TEST_IMPORT_CALL],
    },
  },
  {
    // src/sim is the simulated world of the tests and the demo: production code does not import it. The one
    // exception is the command line's entry (src/cli/main.ts), which starts `meshshift demo` and `playground`.
    files: ['src/**/*.ts'],
    ignores: ['src/sim/**', 'src/cli/main.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+sim(/|$)',
              message:
                'production code does not import src/sim (the simulated world of the tests and the demo)',
            },
            NO_TEST_IMPORT,
          ],
        },
      ],
      // no-restricted-imports does not see import() calls: the same rule for them (\u002F is '/').
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ImportExpression[source.value=/^(\\.\\.\\u002F)+sim\\u002F/]',
          message: 'production code does not import src/sim (the simulated world of the tests and the demo)',
        },
        NO_TEST_IMPORT_CALL,
      ],
    },
  },
  ...gateLayers(),
);

/**
 * src/gate by job, imports running down: the judge, the Prometheus provider and types.ts at the top; checks/ (the
 * checks, the verdict, folding) on input/ (reading: provider, PromQL, bins, ledger) and stats/ (e-values, power);
 * input/ and stats/ import neither each other nor anything above them. These blocks replace the rule above for
 * their files, so each repeats the src/sim pattern.
 */
function gateLayers() {
  const sim = {
    regex: '^(\\.\\./)+sim(/|$)',
    message: 'production code does not import src/sim (the simulated world of the tests and the demo)',
  };
  const top = {
    regex: '^\\.\\./(judge|prometheus)\\.js$',
    message: 'gate/: the judge and the provider sit on top',
  };
  const layer = (files, patterns) => ({
    files,
    rules: { 'no-restricted-imports': ['error', { patterns: [sim, top, ...patterns] }] },
  });
  const above = (folder, why) => ({ regex: `^\\.\\./${folder}/`, message: `gate/: ${why}` });
  return [
    layer(
      ['src/gate/input/**/*.ts'],
      [
        above('checks', 'input/ reads; the checks sit above it'),
        above('stats', 'input/ and stats/ stay apart'),
      ],
    ),
    layer(
      ['src/gate/stats/**/*.ts'],
      [
        above('checks', 'stats/ computes; the checks sit above it'),
        above('input', 'input/ and stats/ stay apart'),
      ],
    ),
    layer(['src/gate/checks/**/*.ts'], []),
  ];
}
