// python_param.param_str, the free-form parameter of Python layers, is usually a Python dict or
// YAML mapping ("{'phase': 'TEST', 'p': '0.01'}", "'feat_stride': 16"): its flat 'key': value pairs.
export function parseParamStr(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of s.matchAll(/['"](\w+)['"]\s*:\s*['"]?([^'",}]*)['"]?/g)) out.set(m[1], m[2].trim());
  return out;
}
