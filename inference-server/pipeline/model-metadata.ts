/**
 * Class names travel in the ONNX metadata as a Python dict literal, e.g. "{0: 'plate', 1: 'card'}"
 * (ultralytics writes str(dict)). Parse that literal without eval.
 */
export function parseClassNames(text: string): string[] | undefined {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    try {
      const list: unknown = JSON.parse(trimmed.replace(/'/g, '"'));
      if (Array.isArray(list) && list.every((x) => typeof x === 'string')) return list as string[];
    } catch {
      return undefined;
    }
    return undefined;
  }
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) return undefined;
  const entry = /\s*(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*(,|$)/y;
  const body = trimmed.slice(1, -1);
  const names: string[] = [];
  entry.lastIndex = 0;
  while (entry.lastIndex < body.length) {
    const m = entry.exec(body);
    if (!m) return undefined;
    const raw = m[2] ?? m[3] ?? '';
    names[Number(m[1])] = raw.replace(/\\(.)/g, '$1');
    if (m[4] === '') break;
  }
  if (names.length === 0) return undefined;
  for (let i = 0; i < names.length; i++) if (names[i] === undefined) return undefined;
  return names;
}
