/**
 * Unknown-field check for deploy/ objects: the schema validators shipped by kubernetes-models accept unknown
 * fields (as kube-apiserver without --validate=strict would prune them silently), so a typo such as
 * `readOnlyRootFileSystem` would pass. The same packages ship TypeScript interfaces generated from the same
 * OpenAPI schemas; type-checking each object as an object literal of its interface makes TypeScript's excess
 * property check reject any field the schema does not define, at every depth.
 */
import ts from 'typescript';

export interface TypedObject {
  /** Module that exports the interface, e.g. kubernetes-models/apps/v1/Deployment. */
  module: string;
  /** Interface name, e.g. IDeployment. */
  type: string;
  /** Label for messages. */
  label: string;
  value: unknown;
}

/** Returns one message per unknown or mistyped field ([] when all objects conform). */
export function checkUnknownFields(objects: TypedObject[], rootDir: string): string[] {
  const fileName = `${rootDir}/test/deploy/__strict_fields_check__.ts`;
  const lines: string[] = [];
  const labels: Array<{ start: number; end: number; label: string }> = [];
  objects.forEach((o, i) => {
    lines.push(`import type { ${o.type} as T${i} } from '${o.module}';`);
  });
  let text = `${lines.join('\n')}\n`;
  objects.forEach((o, i) => {
    const start = text.split('\n').length;
    const body = `export const v${i}: T${i} = ${JSON.stringify(o.value, null, 1)};\n`;
    text += body;
    labels.push({ start, end: start + body.split('\n').length - 1, label: o.label });
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host);
  const exists = host.fileExists.bind(host);
  host.readFile = (f) => (f === fileName ? text : read(f));
  host.fileExists = (f) => f === fileName || exists(f);
  const getSource = host.getSourceFile.bind(host);
  host.getSourceFile = (f, v, onError, create) =>
    f === fileName ? ts.createSourceFile(f, text, v) : getSource(f, v, onError, create);
  const program = ts.createProgram([fileName], options, host);
  const diags = [...program.getSyntacticDiagnostics(), ...program.getSemanticDiagnostics()].filter(
    (d) => d.file?.fileName === fileName,
  );
  return diags.map((d) => {
    const line = d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line + 1;
    const where = labels.find((l) => line >= l.start && line <= l.end)?.label ?? `line ${line}`;
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}
