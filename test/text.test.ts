// Protobuf text format (.prototxt): parser syntax, errors, prototype safety, printer, equality,
// and parse/print round trips over the model zoo prototxts (fixtures/zoo-files).
import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseText, printText, formatFloat, formatDouble, MAX_DEPTH } from '../src/format/text.js';
import { messagesEqual, messagesDiff } from '../src/format/equal.js';
import { messageType, has, Long, protobuf, fieldOf, forkFieldInfo } from '../src/proto/schema.js';
import type { Message, Type } from '../src/proto/schema.js';
import { ParseError } from '../src/util/errors.js';
import { readZooIndex, usesForkField, zooTypeOf, ZOO } from './text-zoo.js';

const NET = 'NetParameter';

/** Types the caffe schema lacks: uint64, sint/fixed, singular double/bytes, a recursive message. */
const extra = protobuf.parse(
  `syntax = "proto2";
  package t;
  message All {
    optional int32 i32 = 1;
    optional uint32 u32 = 2;
    optional int64 i64 = 3;
    optional uint64 u64 = 4;
    optional sint32 s32 = 5;
    optional fixed64 fx64 = 6;
    optional sfixed32 sf32 = 7;
    optional double d = 8;
    optional float f = 9 [default = 2.5];
    optional bytes by = 10;
    optional string s = 11 [default = "dflt"];
    repeated bytes rby = 12;
    optional bool b = 13;
    repeated double rd = 14;
    repeated float rf = 15;
    repeated uint64 ru64 = 16;
    enum E { ZERO = 0; ONE = 1; MINUS = -1; }
    optional E e = 17 [default = ONE];
    repeated E re = 18;
    optional All sub = 19;
    repeated All subs = 20;
  }
  message Node { optional int32 v = 1; optional Node child = 2; repeated Node kids = 3; }`,
  { keepCase: true },
).root;
extra.resolveAll();
const ALL = extra.lookupType('t.All');
const NODE = extra.lookupType('t.Node');

function parseError(src: string, type: string | Type = NET, file = 'test.prototxt'): ParseError {
  try {
    parseText(src, type, file);
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
    return e as ParseError;
  }
  throw new Error(`no error for: ${src}`);
}

function expectError(src: string, type: string | Type, line: number, column: number, detail: string | RegExp): ParseError {
  const e = parseError(src, type);
  if (typeof detail === 'string') expect(e.detail).toContain(detail);
  else expect(e.detail).toMatch(detail);
  expect([e.line, e.column]).toEqual([line, column]);
  expect(e.file).toBe('test.prototxt');
  expect(e.message).toBe(`test.prototxt:${line}:${column}: ${e.detail}`);
  return e;
}

/** parse(print(m)) equals m, and printing is a fixed point. */
function roundTrip(m: Message, type: string | Type): string {
  const text = printText(m, type);
  const back = parseText(text, type, 'printed');
  expect(messagesDiff(m, back, type)).toBeNull();
  expect(printText(back, type)).toBe(text);
  return text;
}

describe('parseText: message representation', () => {
  it('returns ctor instances with defaults on the prototype and presence as own properties', () => {
    const m = parseText('name: "n" layer { name: "c" convolution_param { num_output: 4 } }', NET);
    expect(m).toBeInstanceOf(messageType(NET).ctor);
    const conv = m.layer[0].convolution_param;
    expect(conv).toBeInstanceOf(messageType('ConvolutionParameter').ctor);
    expect(conv.num_output).toBe(4);
    expect(conv.bias_term).toBe(true); // default via prototype
    expect(conv.group).toBe(1);
    expect(has(conv, 'bias_term')).toBe(false);
    expect(has(conv, 'num_output')).toBe(true);
    expect(m.layer[0].pooling_param).toBeNull();
    expect(has(m, 'force_backward')).toBe(false);
    expect(m.force_backward).toBe(false);
  });

  it('repeated float -> Float32Array, repeated double -> Float64Array, others arrays', () => {
    const m = parseText('layer { loss_weight: 0.1 loss_weight: 2 blobs { data: [1, 0.1] double_data: [0.1, 1e300] } top: "a" }', NET);
    const l = m.layer[0];
    expect(l.loss_weight).toBeInstanceOf(Float32Array);
    expect(Array.from(l.loss_weight)).toEqual([Math.fround(0.1), 2]);
    expect(l.blobs[0].data).toBeInstanceOf(Float32Array);
    expect(l.blobs[0].double_data).toBeInstanceOf(Float64Array);
    expect(Array.from(l.blobs[0].double_data)).toEqual([0.1, 1e300]);
    expect(l.top).toEqual(['a']);
    expect(Array.isArray(l.bottom)).toBe(true);
    // float fields are float32-rounded, double fields are not
    const f = parseText('value: 0.1 std: 3.4e38 mean: 1e39', 'FillerParameter');
    expect(f.value).toBe(Math.fround(0.1));
    expect(f.std).toBe(Math.fround(3.4e38));
    expect(f.mean).toBe(Infinity); // beyond float32, as static_cast<float>
    expect(parseText('d: 0.1', ALL).d).toBe(0.1);
  });

  it('solver files parse as SolverParameter', () => {
    const s = parseText(
      'net: "x.prototxt"\ntest_iter: 100\nbase_lr: 0.01\nlr_policy: "inv"\nsolver_mode: CPU\nrandom_seed: 7\nstepvalue: 10 stepvalue: 20\n',
      'SolverParameter',
    );
    expect(s.base_lr).toBe(Math.fround(0.01));
    expect(s.solver_mode).toBe(0);
    expect(s.random_seed).toBe(7);
    expect(s.test_iter).toEqual([100]);
    expect(s.stepvalue).toEqual([10, 20]);
    expect(parseText('', 'SolverParameter').random_seed).toSatisfy((v: unknown) => Number(v) === -1);
  });
});

describe('parseText: syntax', () => {
  it('# comments anywhere, also after values and inside lists', () => {
    const m = parseText(
      '# header\n#\nname: "n" # after a value\nlayer { # after {\n  name: "a#b" # a # inside a string is text\n  bottom: # between : and value\n "x"\n  top: [ # in a list\n "t1", # after an element\n "t2" ] }# glued\n# last line without newline',
      NET,
    );
    expect(m.name).toBe('n');
    expect(m.layer[0].name).toBe('a#b');
    expect(m.layer[0].bottom).toEqual(['x']);
    expect(m.layer[0].top).toEqual(['t1', 't2']);
  });

  it('optional ":" before a message, {} and <> delimiters', () => {
    const m = parseText('layer: { name: "a" } layer < name: "b" > layer: < name: "c" convolution_param: < kernel_size: 3 > > state { phase: TRAIN }', NET);
    expect(m.layer.map((l: Message) => l.name)).toEqual(['a', 'b', 'c']);
    expect(m.layer[2].convolution_param.kernel_size).toEqual([3]);
    expect(m.state.phase).toBe(0);
  });

  it('optional "," or ";" after fields, including after messages', () => {
    const m = parseText('name: "a"; input: "x", input_dim: 1; layer { name: "l", type: "LRN"; lrn_param { norm_region: WITHIN_CHANNEL; }; }, layer {};', NET);
    expect(m.input).toEqual(['x']);
    expect(m.layer.length).toBe(2);
    expect(m.layer[0].lrn_param.norm_region).toBe(1);
  });

  it('repeated fields: repeated keys, [a, b] lists, empty lists, message lists', () => {
    const m = parseText(
      'input: ["a", \'b\'] input: "c" input_dim: [] input_dim: [1, 2] input_dim: 3\n' +
        'layer { input_param { shape: [{dim: 1}, <dim: [2, 3]>] shape { dim: 4 } } }\n' +
        'layer: [{ name: "x" }, { name: "y" }] layer [] layer [{name: "z"}]',
      NET,
    );
    expect(m.input).toEqual(['a', 'b', 'c']);
    expect(m.input_dim).toEqual([1, 2, 3]);
    const shapes = m.layer[0].input_param.shape.map((s: Message) => s.dim);
    expect(shapes).toEqual([[1], [2, 3], [4]]);
    expect(m.layer.map((l: Message) => l.name)).toEqual(['', 'x', 'y', 'z']);
  });

  it('enums by name and by number (decimal, hex, negative)', () => {
    const p = parseText('pool: AVE', 'PoolingParameter');
    expect(p.pool).toBe(1);
    expect(parseText('pool: 2', 'PoolingParameter').pool).toBe(2);
    expect(parseText('pool: 0x1', 'PoolingParameter').pool).toBe(1);
    expect(parseText('e: MINUS re: [ZERO, 1, -1]', ALL)).toMatchObject({ e: -1, re: [0, 1, -1] });
    expect(parseText('layers { type: CONVOLUTION }', NET).layers[0].type).toBe(4);
  });

  it('strings: quotes, C escapes, octal / hex / unicode escapes as UTF-8 bytes, concatenation', () => {
    const s = (src: string) => parseText(`name: ${src}`, NET).name;
    expect(s(`'single'`)).toBe('single');
    expect(s(`"double"`)).toBe('double');
    expect(s(`"it's" 'say "hi"'`)).toBe(`it'ssay "hi"`);
    expect(s(String.raw`"\a\b\f\n\r\t\v\\\?\'\""`)).toBe('\x07\b\f\n\r\t\v\\?\'"');
    expect(s(String.raw`"\101\x42\x4a\0\12\1234"`)).toBe('ABJ\0\nS4');
    expect(s(String.raw`"\303\251"`)).toBe('é');
    expect(s(String.raw`"\xc3\xA9"`)).toBe('é');
    expect(s(String.raw`"\303" '\251' "!"`)).toBe('é!'); // one UTF-8 sequence across literals
    expect(s(String.raw`"\u00e9\U0001F600"`)).toBe('é😀');
    expect(s(`"é 😀"`)).toBe('é 😀');
    expect(s(`"a" "b" 'c'`)).toBe('abc');
    expect(s(`""`)).toBe('');
    // bytes fields get the bytes
    const d = parseText(String.raw`data: "\000\377ab" 'é' channels: 1`, 'Datum');
    expect(d.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(d.data)).toEqual([0, 255, 97, 98, 0xc3, 0xa9]);
    expect(Array.from(parseText('by: "xyz"', ALL).by)).toEqual([120, 121, 122]);
  });

  it('integers: decimal, hex, octal, negative, 32/64-bit limits', () => {
    const m = parseText('input_dim: [10, 0x1F, 0X1f, 017, 0, -5, -0x10, -010, 2147483647, -2147483648]', NET);
    expect(m.input_dim).toEqual([10, 31, 31, 15, 0, -5, -16, -8, 2147483647, -2147483648]);
    expect(parseText('num_output: 4294967295', 'ConvolutionParameter').num_output).toBe(4294967295);
    expect(parseText('u32: 0xffffffff', ALL).u32).toBe(4294967295);
    const seed = (v: string) => parseText(`random_seed: ${v}`, 'SolverParameter').random_seed;
    expect(seed('-1')).toBe(-1);
    expect(seed('9007199254740991')).toBe(9007199254740991); // safe: a number
    const big = seed('9007199254740993');
    expect(Long.isLong(big)).toBe(true);
    expect(big.toString()).toBe('9007199254740993');
    expect(seed('0x7fffffffffffffff').toString()).toBe('9223372036854775807');
    expect(seed('-9223372036854775808').toString()).toBe('-9223372036854775808');
    const u = parseText('u64: 18446744073709551615 ru64: [0, 1, 0xFFFFFFFFFFFFFFFF]', ALL);
    expect(Long.isLong(u.u64) && u.u64.unsigned).toBe(true);
    expect(u.u64.toString()).toBe('18446744073709551615');
    expect(u.ru64.map(String)).toEqual(['0', '1', '18446744073709551615']);
    expect(parseText('s32: -2147483648 sf32: -1 fx64: 5', ALL)).toMatchObject({ s32: -2147483648, sf32: -1, fx64: 5 });
  });

  it('floats: exponent, f suffix, inf / infinity / nan in any case, ints', () => {
    const m = parseText(
      'data: [1e-3, 1.5E+2, 2e-1, .5, 5., 2f, 2.5F, 1e2f, inf, -Inf, INFINITY, -infinity, nan, NaN, -nan, 3, -4, 0x10, 010, 0.1, - 2]',
      'BlobProto',
    );
    const want = [1e-3, 150, 0.2, 0.5, 5, 2, 2.5, 100, Infinity, -Infinity, Infinity, -Infinity, NaN, NaN, NaN, 3, -4, 16, 8, 0.1, -2];
    expect(m.data.length).toBe(want.length);
    want.forEach((w, i) => expect(m.data[i]).toBe(Math.fround(w)));
    expect(parseText('base_lr: 1e-2f', 'SolverParameter').base_lr).toBe(Math.fround(0.01));
  });

  it('bools: true/false/t/f/True/False/1/0', () => {
    const m = parseText('layer { propagate_down: [true, false, t, f, True, False, 1, 0, 0x1] }', NET);
    expect(m.layer[0].propagate_down).toEqual([true, false, true, false, true, false, true, false, true]);
    expect(parseText('force_backward: t', NET).force_backward).toBe(true);
  });

  it('whitespace: tabs, CRLF, leading blank lines, one-line messages, BOM, empty input', () => {
    const m = parseText('\n\n\r\n\tname: "a"\r\nlayer {\r\n\tname:\t\'b\'\r\n\ttop: "t"\r\n}\r\n', NET);
    expect(m.name).toBe('a');
    expect(m.layer[0]).toMatchObject({ name: 'b', top: ['t'] });
    const h = parseText("layer { bottom: 'conv1_1' top: 'conv1_1' name: 'relu1_1' type: \"ReLU\" }", NET);
    expect(h.layer[0]).toMatchObject({ name: 'relu1_1', type: 'ReLU', bottom: ['conv1_1'] });
    expect(parseText('\ufeffname: "bom"', NET).name).toBe('bom');
    expect(Object.keys(parseText('', NET)).filter((k) => has(parseText('', NET), k))).toEqual([]);
    expect(parseText('# only a comment', NET).layer).toEqual([]);
    expect(parseText('input_dim:1 input_dim:-2 layer{name:"x"}', NET).input_dim).toEqual([1, -2]);
  });
});

describe('parseText: errors (ParseError with line, column, detail)', () => {
  it('unknown field', () => {
    expectError('name: "d"\nlayer {\n  name: "pool1"\n  pooling_param {\n    ceil_mod: false\n  }\n}\n', NET, 5, 5, "unknown field 'ceil_mod' in caffe.PoolingParameter");
    expectError('layer {\n  dense_image_data_param { }\n}', NET, 2, 3, "unknown field 'dense_image_data_param' in caffe.LayerParameter");
    expectError('item { name: "x" }', NET, 1, 1, "unknown field 'item' in caffe.NetParameter");
    expectError('base_lr: 1\n  eval_kind: "detection"', 'SolverParameter', 2, 3, "unknown field 'eval_kind' in caffe.SolverParameter");
    expectError('Name: "x"', NET, 1, 1, "unknown field 'Name'"); // names are case-sensitive
  });

  it('a second value for a non-repeated field', () => {
    expectError('layer {\n  name: "a"\n  name: "b"\n}', NET, 3, 3, "non-repeated field 'name' in caffe.LayerParameter is specified multiple times");
    expectError('layer { convolution_param { } convolution_param { num_output: 1 } }', NET, 1, 31, "non-repeated field 'convolution_param'");
    expectError('state { phase: TEST } state: < >', NET, 1, 23, "non-repeated field 'state'");
    expectError('pool: MAX pool: MAX', 'PoolingParameter', 1, 11, 'specified multiple times');
  });

  it('bad enum name or number', () => {
    expectError('layer { pooling_param { pool: MAXIMUM } }', NET, 1, 31, "unknown enum value 'MAXIMUM' for field 'pool' (caffe.PoolingParameter.PoolMethod)");
    expectError('pool: 3', 'PoolingParameter', 1, 7, 'unknown enum number 3');
    expectError('pool: -1', 'PoolingParameter', 1, 7, 'unknown enum number -1');
    expectError('pool: "MAX"', 'PoolingParameter', 1, 7, 'expected an enum value name or number');
    expectError('pool: 1.0', 'PoolingParameter', 1, 7, 'expected an enum value name or number');
  });

  it('numbers out of range or not integers', () => {
    expectError('num_output: 4294967296', 'ConvolutionParameter', 1, 13, "integer 4294967296 out of range for field 'num_output' (uint32)");
    expectError('num_output: -1', 'ConvolutionParameter', 1, 13, "negative value -1 for unsigned field 'num_output'");
    expectError('input_dim: 2147483648', NET, 1, 12, 'out of range');
    expectError('input_dim: -2147483649', NET, 1, 12, 'out of range');
    expectError('input_dim: 0x80000000', NET, 1, 12, 'out of range');
    expectError('random_seed: 9223372036854775808', 'SolverParameter', 1, 14, 'out of range');
    expectError('random_seed: -9223372036854775809', 'SolverParameter', 1, 14, 'out of range');
    expectError('u64: 18446744073709551616', ALL, 1, 6, 'out of range');
    expectError('u64: -1', ALL, 1, 6, 'negative value');
    expectError('num_output: 1.5', 'ConvolutionParameter', 1, 13, "expected an integer for field 'num_output' (uint32) in caffe.ConvolutionParameter, got '1.5'");
    expectError('num_output: 1e3', 'ConvolutionParameter', 1, 13, 'expected an integer');
    expectError('num_output: inf', 'ConvolutionParameter', 1, 13, 'expected an integer');
    expectError('num_output: "3"', 'ConvolutionParameter', 1, 13, 'expected an integer');
    expectError('force_backward: 2', NET, 1, 17, 'expected 0 or 1');
    expectError('force_backward: TRUE', NET, 1, 17, 'expected true or false');
    expectError('base_lr: fast', 'SolverParameter', 1, 10, "expected a number for field 'base_lr' (float)");
    expectError('base_lr: "0.1"', 'SolverParameter', 1, 10, 'expected a number');
  });

  it('syntax errors', () => {
    expectError('name "x"', NET, 1, 6, "expected ':' after field name 'name', got string \"x\"");
    expectError('layer { 5 }', NET, 1, 9, "expected '}' or a field name, got '5'");
    expectError('layer { name: "a" >', NET, 1, 19, "expected '}' or a field name, got '>'");
    expectError('layer < name: "a" }', NET, 1, 19, "expected '>' or a field name, got '}'");
    expectError('name: "a"\n}', NET, 2, 1, "unexpected '}' at top level");
    expectError('name: "a";;', NET, 1, 11, "expected a field name, got ';'");
    expectError('layer: "x"', NET, 1, 8, "expected '{' or '<' to start message field 'layer' in caffe.NetParameter, got string \"x\"");
    expectError('layer { type: Convolution }', NET, 1, 15, "expected a string for field 'type' (string) in caffe.LayerParameter, got 'Convolution'");
    expectError('input_dim: [1, 2,]', NET, 1, 18, 'expected an integer');
    expectError('input_dim: [1 2]', NET, 1, 15, "expected ',' or ']' in the list of 'input_dim', got '2'");
    expectError('layer [{}, {} {}]', NET, 1, 15, "expected ',' or ']' in the list of 'layer'");
    expectError('layer [{}, 1]', NET, 1, 12, "expected '{' or '<'");
    expectError('name: ["a"]', NET, 1, 1, "field 'name' in caffe.NetParameter is not repeated: '[' list syntax is not allowed");
    expectError('state: [{}]', NET, 1, 1, 'is not repeated');
    expectError('[caffe.foo.bar]: 1', NET, 1, 1, 'extension or Any');
    expectError('layer { [type.googleapis.com/x] { } }', NET, 1, 9, 'extension or Any');
    expectError('name: "abc\n"', NET, 1, 7, 'string literals cannot cross line boundaries');
    expectError('name: "a\\qb"', NET, 1, 9, "invalid escape sequence '\\q'");
    expectError('name: "a\\u12"', NET, 1, 9, 'invalid Unicode escape');
    expectError('input_dim: 0x', NET, 1, 12, 'must be followed by hex digits');
    expectError('input_dim: 08', NET, 1, 12, 'leading zero must be in octal');
    expectError('input_dim: 12ab', NET, 1, 12, 'need space between number and identifier');
    expectError('base_lr: 1.5.2', 'SolverParameter', 1, 10, 'already saw a decimal point');
    expectError('base_lr: 1e', 'SolverParameter', 1, 10, "'e' must be followed by an exponent");
    expectError('base_lr: 0x1.5', 'SolverParameter', 1, 10, 'hex and octal numbers must be integers');
    expectError('name: @', NET, 1, 7, "expected a string for field 'name' (string) in caffe.NetParameter, got '@'");
    expectError('\tinput_dim: x', NET, 1, 13, 'expected an integer'); // a tab is one column
    expectError('\r\n\r\n  bad_field: 1', NET, 3, 3, "unknown field 'bad_field'");
  });

  it('end of input inside a message, a string or a value', () => {
    expectError('layer {\n  name: "a"\n', NET, 3, 1, "unexpected end of input inside caffe.LayerParameter (opened at line 1, column 7): expected '}'");
    expectError('layer < convolution_param {', NET, 1, 28, "inside caffe.ConvolutionParameter (opened at line 1, column 27): expected '}'");
    expectError('layer { input_param { shape: [{dim: 1}', NET, 1, 39, "expected ',' or ']' in the list of 'shape', got end of input");
    expectError('name: "abc', NET, 1, 7, 'unexpected end of input inside a string literal');
    expectError('name:', NET, 1, 6, 'got end of input');
    expectError('layer', NET, 1, 6, "expected '{' or '<'");
  });

  it('nesting depth is bounded, without recursion', () => {
    const nest = (n: number) => 'child { '.repeat(n) + 'v: 1 ' + '} '.repeat(n);
    const ok = parseText(nest(MAX_DEPTH), NODE);
    let d = 0;
    for (let x = ok; x; x = x.child) d++;
    expect(d).toBe(MAX_DEPTH + 1);
    expectError(nest(MAX_DEPTH + 1), NODE, 1, 8 * MAX_DEPTH + 7, `nesting deeper than ${MAX_DEPTH} levels`);
    const t0 = Date.now();
    expectError('kids: [{'.repeat(200000), NODE, 1, 8 * MAX_DEPTH + 8, 'nesting deeper');
    expectError('child <'.repeat(1_000_000), NODE, 1, 7 * MAX_DEPTH + 7, 'nesting deeper');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('is linear in the input size', () => {
    const n = 200_000;
    const t0 = Date.now();
    const m = parseText('input_dim: 1\n'.repeat(n) + 'name: ' + '"ab" '.repeat(n) + '\nlayer { blobs { data: [' + '0.5, '.repeat(n) + '1] } }', NET);
    expect(m.input_dim.length).toBe(n);
    expect(m.name.length).toBe(2 * n);
    expect(m.layer[0].blobs[0].data.length).toBe(n + 1);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('parseText: prototype safety', () => {
  const evil = [
    '__proto__ { x: 1 }',
    '__proto__: { x: 1 }',
    '__proto__: 1',
    'constructor { x: 1 }',
    'constructor: { prototype: { x: 1 } }',
    'hasOwnProperty: 1',
    'toString: "x"',
    'valueOf { x: 1 }',
    'toJSON: 1',
    '$type: 1',
    '__defineGetter__: "x"',
    'layer { __proto__ { x: 1 } }',
    'layer { convolution_param { constructor: 1 } }',
    'layer { pooling_param { pool: __proto__ } }',
    'layer { pooling_param { pool: toString } }',
    'layer { pooling_param { pool: constructor } }',
  ];
  it.each(evil)('%s is an error and pollutes nothing', (src) => {
    const e = parseError(src);
    expect(e.detail).toMatch(/unknown (field|enum value) '(__proto__|constructor|hasOwnProperty|toString|valueOf|toJSON|\$type|__defineGetter__)'|expected/);
    expect(({} as any).x).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, 'x')).toBe(false);
    for (const t of ['NetParameter', 'LayerParameter', 'ConvolutionParameter', 'PoolingParameter']) {
      const ctor = messageType(t).ctor as any;
      expect(Object.hasOwn(ctor.prototype, 'x')).toBe(false);
      expect(Object.hasOwn(ctor.prototype, 'prototype')).toBe(false);
      expect(typeof new ctor().hasOwnProperty).toBe('function');
      expect(typeof new ctor().toString).toBe('function');
    }
    expect(typeof messageType(NET).fields.hasOwnProperty).toBe('function');
  });
  it('the unknown-field detail names the field', () => {
    expect(parseError('layer { __proto__ { x: 1 } }').detail).toBe("unknown field '__proto__' in caffe.LayerParameter");
    expect(parseError('constructor: 1').detail).toBe("unknown field 'constructor' in caffe.NetParameter");
    expect(parseError('layer { pooling_param { pool: __proto__ } }').detail).toContain("unknown enum value '__proto__'");
  });
});

describe('printText', () => {
  it('prints present fields in field-number order, 2-space indent, enums by name', () => {
    const m = parseText(
      'phase: TEST convolution_param { weight_filler { std: 0.01 type: "gaussian" } kernel_size: 3 num_output: 8 pad_h: 0 }\n' +
        'param { lr_mult: 1 } loss_weight: 0.5 top: "c" bottom: "a" name: "conv" type: "Convolution" include { phase: TRAIN } propagate_down: [true, false]',
      'LayerParameter',
    );
    expect(printText(m, 'LayerParameter')).toBe(
      [
        'name: "conv"',
        'type: "Convolution"',
        'bottom: "a"',
        'top: "c"',
        'loss_weight: 0.5',
        'param {',
        '  lr_mult: 1',
        '}',
        'include {',
        '  phase: TRAIN',
        '}',
        'phase: TEST',
        'propagate_down: true',
        'propagate_down: false',
        'convolution_param {',
        '  num_output: 8',
        '  kernel_size: 3',
        '  weight_filler {',
        '    type: "gaussian"',
        '    std: 0.01',
        '  }',
        '  pad_h: 0',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('prints explicitly set defaults and empty messages, skips unset and empty repeated', () => {
    const m = parseText('state { } force_backward: false input_dim: [] layer { name: "" }', NET);
    expect(printText(m, NET)).toBe('force_backward: false\nstate {\n}\nlayer {\n  name: ""\n}\n');
    expect(printText(parseText('', NET), NET)).toBe('');
    expect(printText(new (messageType(NET).ctor as any)(), NET)).toBe('');
  });

  it('escapes strings as protobuf CEscape does', () => {
    const name = 'a"b\\c\nd\te\r\'é\x01\x7f';
    const m = parseText(`name: ${JSON.stringify(name).replace(/\\u00([0-9a-f]{2})/g, '\\x$1')}`, NET);
    expect(m.name).toBe(name);
    expect(printText(m, NET)).toBe(String.raw`name: "a\"b\\c\nd\te\r\'\303\251\001\177"` + '\n');
    const d = parseText(String.raw`data: "\000\001\377\"x"`, 'Datum');
    expect(printText(d, 'Datum')).toBe(String.raw`data: "\000\001\377\"x"` + '\n');
    roundTrip(m, NET);
    roundTrip(d, 'Datum');
  });

  it('formats floats as the shortest text that reads back as the same float32', () => {
    expect(formatFloat(Math.fround(0.1))).toBe('0.1');
    expect(formatFloat(0.1)).toBe('0.1');
    expect(formatFloat(Math.fround(0.0005))).toBe('0.0005');
    expect(formatFloat(Math.fround(1e-8))).toBe('1e-8');
    expect(formatFloat(Math.fround(3.4028234663852886e38))).toBe('3.4028235e+38');
    expect(formatFloat(1.401298464324817e-45)).toBe('1e-45');
    expect(formatFloat(16777217)).toBe('16777216');
    expect(formatFloat(-2)).toBe('-2');
    expect(formatFloat(-0)).toBe('-0');
    expect(formatFloat(Infinity)).toBe('inf');
    expect(formatFloat(-Infinity)).toBe('-inf');
    expect(formatFloat(NaN)).toBe('nan');
    expect(formatDouble(0.1)).toBe('0.1');
    expect(formatDouble(-Infinity)).toBe('-inf');
    // random float32 bit patterns, through parseText
    const n = 20000;
    const bits = new Uint32Array(n);
    let seed = 12345;
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      bits[i] = seed ^ (i << 7);
    }
    const vals = new Float32Array(bits.buffer);
    const texts = Array.from(vals, formatFloat);
    const back = parseText(`data: [${texts.join(', ')}]`, 'BlobProto').data as Float32Array;
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(vals[i])) expect(back[i]).toBeNaN();
      else if (!Object.is(back[i], vals[i])) expect([texts[i], back[i]]).toEqual([texts[i], vals[i]]);
      // shortest: one digit less does not read back
      const digits = texts[i].replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
      if (Number.isFinite(vals[i]) && vals[i] !== 0 && digits.length > 1) {
        expect(Math.fround(Number(vals[i].toPrecision(digits.length - 1)))).not.toBe(vals[i]);
      }
    }
  });

  it('prints inf, -inf, nan, -0 and 64-bit values that read back exactly', () => {
    const b = parseText('data: [inf, -inf, nan, -0, 0, 1e-45, 3.4028235e38] double_data: [0.1, 1e-300, -0, nan]', 'BlobProto');
    const text = roundTrip(b, 'BlobProto');
    expect(text).toContain('data: inf\ndata: -inf\ndata: nan\ndata: -0\ndata: 0\n');
    expect(text).toContain('double_data: 0.1\ndouble_data: 1e-300\n');
    const s = parseText('random_seed: -9223372036854775808', 'SolverParameter');
    expect(printText(s, 'SolverParameter')).toBe('random_seed: -9223372036854775808\n');
    const u = parseText('u64: 18446744073709551615 i64: 9007199254740993 fx64: 0xFFFFFFFFFFFFFFFF', ALL);
    expect(printText(u, ALL)).toBe('i64: 9007199254740993\nu64: 18446744073709551615\nfx64: 18446744073709551615\n');
  });

  it('parse(print(m)) equals m for every field kind', () => {
    const m = parseText(
      String.raw`i32: -2147483648 u32: 4294967295 i64: -9007199254740993 u64: 12345678901234567890 s32: -7 fx64: 1 sf32: -2
      d: 2.2250738585072014e-308 f: 1.17549435e-38 by: "\000\xff\n" s: 'ü\t"' rby: ["", "\001"] b: false rd: [1e308, -0.0]
      rf: [0.30000001192092896, 7e-45] ru64: 0 e: MINUS re: [ONE, ZERO] sub { sub { s: "deep" } subs [{}, {i32: 1}] } subs { }`,
      ALL,
    );
    roundTrip(m, ALL);
    expect(m.f).toBe(Math.fround(1.17549435e-38));
    expect(printText(m, ALL)).toContain('by: "\\000\\377\\n"\n');
  });

  it('prints messages built by code (plain arrays, unrounded floats, Long, fromObject)', () => {
    const Ctor = messageType('LayerParameter').ctor as any;
    const l = new Ctor();
    l.name = 'x';
    l.loss_weight = [0.1, 2]; // a plain array in a float field
    l.blobs = [Object.assign(new (messageType('BlobProto').ctor as any)(), { data: new Float32Array([1.5]) })];
    const text = printText(l, 'LayerParameter');
    expect(text).toBe('name: "x"\nloss_weight: 0.1\nloss_weight: 2\nblobs {\n  data: 1.5\n}\n');
    const back = parseText(text, 'LayerParameter');
    expect(messagesEqual(l, back, 'LayerParameter')).toBe(true);
    const s = new (messageType('SolverParameter').ctor as any)();
    s.random_seed = Long.fromString('123456789012345678');
    expect(printText(s, 'SolverParameter')).toBe('random_seed: 123456789012345678\n');
  });
});

describe('messagesEqual / messagesDiff', () => {
  const net = (s: string) => parseText(s, NET);
  it('compares present fields, presence included', () => {
    expect(messagesEqual(net('name: "a"'), net('name: "a"'), NET)).toBe(true);
    expect(messagesDiff(net('force_backward: false'), net(''), NET)).toBe('force_backward: present vs absent');
    expect(messagesDiff(net('layer { convolution_param { pad_h: 0 } }'), net('layer { convolution_param { } }'), NET)).toBe(
      'layer[0].convolution_param.pad_h: present vs absent',
    );
    expect(messagesDiff(net('state { }'), net(''), NET)).toBe('state: present vs absent');
    expect(messagesEqual(net('input_dim: []'), net(''), NET)).toBe(true); // empty repeated = absent
  });

  it('reports the first differing path', () => {
    const a = net('layer { name: "a" } layer { convolution_param { kernel_size: [3, 3] } }');
    const b = net('layer { name: "a" } layer { convolution_param { kernel_size: [3, 5] } }');
    expect(messagesDiff(a, b, NET)).toBe('layer[1].convolution_param.kernel_size[1]: 3 vs 5');
    expect(messagesDiff(net('input_dim: [1, 2]'), net('input_dim: 1'), NET)).toBe('input_dim: 2 vs 1 elements');
    expect(messagesDiff(net('name: "a"'), net('name: "b"'), NET)).toBe('name: "a" vs "b"');
    expect(messagesDiff(net('layer { phase: TRAIN }'), net('layer { phase: TEST }'), NET)).toBe('layer[0].phase: 0 vs 1');
    // depth first in field-number order: include (8) before phase (10)
    expect(messagesDiff(net('layer { include { stage: "x" } phase: TRAIN }'), net('layer { include { stage: "y" } phase: TEST }'), NET)).toBe(
      'layer[0].include[0].stage[0]: "x" vs "y"',
    );
  });

  it('typed arrays vs arrays elementwise, NaN equal, float32 compare, int64 number vs Long', () => {
    const a = parseText('data: [1, nan, 0.1]', 'BlobProto');
    const b = new (messageType('BlobProto').ctor as any)();
    b.data = [1, NaN, 0.1];
    expect(messagesEqual(a, b, 'BlobProto')).toBe(true);
    b.data = [1, NaN, 0.2];
    expect(messagesDiff(a, b, 'BlobProto')).toMatch(/^data\[2\]: /);
    const s1 = parseText('random_seed: 5', 'SolverParameter');
    const s2 = new (messageType('SolverParameter').ctor as any)();
    s2.random_seed = Long.fromNumber(5);
    expect(messagesEqual(s1, s2, 'SolverParameter')).toBe(true);
    s2.random_seed = Long.fromNumber(6);
    expect(messagesDiff(s1, s2, 'SolverParameter')).toBe('random_seed: 5 vs 6');
    const u1 = parseText('u64: 18446744073709551615', ALL);
    const u2 = new (ALL.ctor as any)();
    u2.u64 = Long.fromString('-1'); // same bits, signed flag
    expect(messagesEqual(u1, u2, ALL)).toBe(true);
    const d1 = parseText(String.raw`data: "\001\002"`, 'Datum');
    const d2 = parseText(String.raw`data: "\001\003"`, 'Datum');
    expect(messagesDiff(d1, d2, 'Datum')).toBe('data: bytes[2] vs bytes[2]');
  });
});

// A file BVLC's caffe.proto rejects may parse here when what BVLC lacks is a fork's field.
describe('model zoo (fixtures/zoo-files): BVLC parse results and round trips', () => {
  const entries = readZooIndex();
  it('INDEX.md lists the entries', () => {
    expect(entries.length).toBeGreaterThan(40);
  });
  it('holds every prototxt INDEX.md lists, but the pyimagesearch copy left out of the collection', () => {
    const absent = entries.flatMap((e) => e.files.map((f) => `${e.dir}/${f}`)).filter((p) => !existsSync(join(ZOO, p)));
    const known = ['opencv_face_detector_res10_ssd/deploy.prototxt.pyimagesearch_copy'];
    expect(absent.filter((p) => !known.includes(p))).toEqual([]);
    expect(entries.reduce((n, e) => n + e.files.length, 0) - absent.length).toBeGreaterThan(190);
  });
  // A reference failure on a field that a fork file (proto/forks/) now declares is no longer one:
  // such a file parses, or stops at a later unknown field.
  const forkDeclares = (x: { type: string; field: string }): boolean => {
    const f = fieldOf(messageType(x.type), x.field);
    return f !== undefined && forkFieldInfo(f) !== undefined;
  };
  it.each(entries.map((e) => [e.dir, e] as const))('%s', (_dir, e) => {
    let ok = 0;
    let fail = 0;
    let missing = 0;
    let forkOk = 0;
    for (const f of e.files) {
      const path = join(ZOO, e.dir, f);
      if (!existsSync(path)) {
        missing++;
        continue;
      }
      const src = readFileSync(path, 'utf8');
      const type = zooTypeOf(f);
      let m: Message;
      try {
        m = parseText(src, type, f);
      } catch (err) {
        fail++;
        // every reference failure is an unknown field (protoc stops at the first one, as we do)
        expect(err, f).toBeInstanceOf(ParseError);
        const pe = err as ParseError;
        expect(pe.detail, f).toMatch(/^unknown field '\w+' in caffe\.\w+$/);
        expect(pe.file).toBe(f);
        const listed = e.failures.find((x) => x.file === f);
        if (listed && !forkDeclares(listed)) expect(pe.detail, f).toBe(`unknown field '${listed.field}' in ${listed.type}`);
        // the position points at the field name
        const line = src.split(/\r?\n/)[pe.line - 1];
        expect(line.slice(pe.column - 1), f).toMatch(new RegExp('^' + pe.detail.split("'")[1] + '\\b'));
        continue;
      }
      ok++;
      const fork = usesForkField(m, messageType(type));
      if (fork) forkOk++;
      expect(e.failures.some((x) => x.file === f) && !fork, f).toBe(false);
      roundTrip(m, type);
    }
    // BVLC rejects every file that needs a fork's field.
    ok -= forkOk;
    fail += forkOk;
    if (missing === 0) {
      expect([ok, fail]).toEqual([e.ok, e.fail]);
    } else {
      expect(ok).toBeLessThanOrEqual(e.ok);
      expect(fail).toBeLessThanOrEqual(e.fail);
      expect(ok + fail + missing).toBe(e.ok + e.fail);
    }
  });

  it('reads the zoo files right (spot checks)', () => {
    const read = (p: string, t: string = NET) => parseText(readFileSync(join(ZOO, p), 'utf8'), t, p);
    const lenet = read('mnist_lenet/lenet.prototxt');
    expect(lenet.name).toBe('LeNet');
    expect(lenet.layer[0].input_param.shape[0].dim).toEqual([64, 1, 28, 28]);
    const conv1 = lenet.layer[1];
    expect(conv1.param.map((p: Message) => p.lr_mult)).toEqual([1, 2]);
    expect(conv1.convolution_param).toMatchObject({ num_output: 20, kernel_size: [5], stride: [1] });
    expect(conv1.convolution_param.weight_filler.type).toBe('xavier');
    const solver = read('mnist_lenet/lenet_solver.prototxt', 'SolverParameter');
    expect(solver).toMatchObject({ net: 'examples/mnist/lenet_train_test.prototxt', test_iter: [100], lr_policy: 'inv', max_iter: 10000, solver_mode: 1 });
    expect(solver.base_lr).toBe(Math.fround(0.01));
    expect(solver.weight_decay).toBe(Math.fround(0.0005));
    const vgg = read('vgg16_vgg19_v1/VGG_ILSVRC_16_layers_deploy.prototxt'); // input_dim: 1 #10
    expect(vgg.input_dim).toEqual([1, 3, 224, 224]);
    expect(vgg.layers[0].type).toBe(4); // V1 CONVOLUTION
    const lrn = read('opencv_testdata_dnn/layers/layer_lrn_spatial.prototxt'); // tabs, `;`
    expect(lrn.layer.find((l: Message) => l.type === 'LRN').lrn_param.norm_region).toBe(1);
    const hed = read('hed/deploy.prototxt'); // one-line layers, single quotes
    expect(hed.layer.filter((l: Message) => l.name === 'crop').length).toBe(5);
  });
});
