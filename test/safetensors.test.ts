import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileHashError, sha256Bytes, sha256File } from '../src/io/hash.js';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
  SafetensorsError,
  toFloat32,
  toInt32,
  writeSafetensorsFile,
  type RawTensor,
  type SafetensorsErrorCode,
  type TensorToWrite,
} from '../src/io/safetensors.js';

const label = 'bad.safetensors';

/** Builds a file image from a header (object, JSON text or raw bytes), a data buffer and an optional declared header length. */
function buildFile(header: unknown, data: Uint8Array | number = 0, declaredLength?: bigint): Uint8Array {
  const headerBytes =
    header instanceof Uint8Array ? header : new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const dataBytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const file = new Uint8Array(8 + headerBytes.length + dataBytes.length);
  new DataView(file.buffer).setBigUint64(0, declaredLength ?? BigInt(headerBytes.length), true);
  file.set(headerBytes, 8);
  file.set(dataBytes, 8 + headerBytes.length);
  return file;
}

function parseError(bytes: Uint8Array): SafetensorsError {
  try {
    parseSafetensors(bytes, label);
  } catch (error) {
    if (error instanceof SafetensorsError) return error;
    throw error;
  }
  throw new Error('parseSafetensors accepted a malformed file');
}

function thrownBy(action: () => unknown): SafetensorsError {
  try {
    action();
  } catch (error) {
    if (error instanceof SafetensorsError) return error;
    throw error;
  }
  throw new Error('expected a SafetensorsError');
}

/** Returns the data bytes of a file written with a single tensor, read straight from the image. */
function dataOfSingleTensor(file: Uint8Array): DataView {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  return new DataView(file.buffer, file.byteOffset + 8 + headerLength);
}

function writtenF16Bits(value: number): number {
  return dataOfSingleTensor(serializeSafetensors({ x: { dtype: 'F16', shape: [], data: [value] } })).getUint16(0, true);
}

function writtenBf16Bits(value: number): number {
  return dataOfSingleTensor(serializeSafetensors({ x: { dtype: 'BF16', shape: [], data: [value] } })).getUint16(0, true);
}

function rawHalfTensor(dtype: 'F16' | 'BF16', bits: number[]): RawTensor {
  const bytes = new Uint8Array(bits.length * 2);
  bits.forEach((value, i) => new DataView(bytes.buffer).setUint16(i * 2, value, true));
  return { dtype, shape: [bits.length], bytes };
}

function headerOf(file: Uint8Array): { length: number; text: string } {
  const length = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return { length, text: new TextDecoder().decode(file.subarray(8, 8 + length)) };
}

describe('serializeSafetensors', () => {
  it('round trip all writable dtypes', () => {
    const tensors: Record<string, TensorToWrite> = {
      weight: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2.5, 3.25, 0, -0, 1e-30]) },
      half: { dtype: 'F16', shape: [3], data: [1, -2, 0.5] },
      brain: { dtype: 'BF16', shape: [2], data: [1, -256] },
      ids: { dtype: 'I32', shape: [3], data: new Int32Array([-2147483648, 0, 2147483647]) },
      positions: { dtype: 'I64', shape: [1, 2], data: [-(2 ** 53 - 1), 2 ** 40] },
    };
    const metadata = { format: 'pt', backbone: 'ViT-B/16' };

    const file = parseSafetensors(serializeSafetensors(tensors, metadata));

    expect(file.metadata).toEqual(metadata);
    expect([...file.tensors.keys()].sort()).toEqual(['brain', 'half', 'ids', 'positions', 'weight']);
    expect(file.tensors.get('weight')!.shape).toEqual([2, 3]);
    expect(Array.from(toFloat32(file.tensors.get('weight')!))).toEqual(Array.from(new Float32Array([1, -2.5, 3.25, 0, -0, 1e-30])));
    expect(Array.from(toFloat32(file.tensors.get('half')!))).toEqual([1, -2, 0.5]);
    expect(Array.from(toFloat32(file.tensors.get('brain')!))).toEqual([1, -256]);
    expect(Array.from(toInt32(file.tensors.get('ids')!))).toEqual([-2147483648, 0, 2147483647]);
    expect(Array.from(toFloat32(file.tensors.get('positions')!))).toEqual([Math.fround(-(2 ** 53 - 1)), 2 ** 40]);
    expect(file.tensors.get('positions')!.dtype).toBe('I64');
  });

  it('round trip empty and scalar tensors', () => {
    const file = parseSafetensors(
      serializeSafetensors({
        empty: { dtype: 'F32', shape: [0, 4], data: [] },
        scalar: { dtype: 'F32', shape: [], data: [7] },
      }),
    );

    expect(file.tensors.get('empty')!.bytes.length).toBe(0);
    expect(file.tensors.get('empty')!.shape).toEqual([0, 4]);
    expect(Array.from(toFloat32(file.tensors.get('scalar')!))).toEqual([7]);
    expect(file.metadata).toEqual({});
  });

  it('writes header keys sorted', () => {
    const file = serializeSafetensors(
      {
        zeta: { dtype: 'F32', shape: [1], data: [1] },
        alpha: { dtype: 'I64', shape: [1], data: [1] },
        mid: { dtype: 'F16', shape: [1], data: [1] },
      },
      { note: 'x' },
    );

    expect(Object.keys(JSON.parse(headerOf(file).text))).toEqual(['__metadata__', 'alpha', 'mid', 'zeta']);
  });

  it('pads header to multiple of 8', () => {
    for (const name of ['a', 'ab', 'abc', 'abcd', 'abcde', 'abcdef', 'abcdefg', 'abcdefgh']) {
      const { length, text } = headerOf(serializeSafetensors({ [name]: { dtype: 'F32', shape: [1], data: [1] } }));
      expect(length % 8, name).toBe(0);
      expect(text.trimEnd().endsWith('}'), name).toBe(true);
      expect(/^[^ ]*} *$/.test(text), name).toBe(true);
    }
  });

  it('aligns each tensor to its element size', () => {
    const file = serializeSafetensors({
      a_half: { dtype: 'F16', shape: [3], data: [1, 2, 3] },
      b_float: { dtype: 'F32', shape: [1], data: [1] },
      c_long: { dtype: 'I64', shape: [1], data: [1] },
    });
    const header = JSON.parse(headerOf(file).text) as Record<string, { data_offsets: [number, number] }>;

    expect(header['c_long']!.data_offsets).toEqual([0, 8]);
    expect(header['b_float']!.data_offsets).toEqual([8, 12]);
    expect(header['a_half']!.data_offsets).toEqual([12, 18]);
  });

  it('matches hand-computed bytes', () => {
    const file = serializeSafetensors(
      {
        b: { dtype: 'I32', shape: [2], data: [1, -1] },
        a: { dtype: 'F16', shape: [1], data: [1] },
      },
      { format: 'pt' },
    );
    const headerText =
      '{"__metadata__":{"format":"pt"},' +
      '"a":{"dtype":"F16","shape":[1],"data_offsets":[8,10]},' +
      '"b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}';
    expect(headerText.length).toBe(139);
    const expected = [
      0x90, 0, 0, 0, 0, 0, 0, 0, // header length 144 = 139 bytes of JSON + 5 spaces
      ...Array.from(headerText, (char) => char.charCodeAt(0)),
      0x20, 0x20, 0x20, 0x20, 0x20,
      0x01, 0x00, 0x00, 0x00, // b[0] = 1
      0xff, 0xff, 0xff, 0xff, // b[1] = -1
      0x00, 0x3c, // a[0] = 1.0 in half precision
    ];

    expect(Array.from(file)).toEqual(expected);
  });

  it('rejects shape not matching data', () => {
    const error = thrownBy(() => serializeSafetensors({ w: { dtype: 'F32', shape: [2, 2], data: [1, 2, 3] } }));

    expect(error.code).toBe('shape-size-mismatch');
    expect(error.message).toContain('"w"');
  });

  it('rejects reserved tensor name', () => {
    const error = thrownBy(() => serializeSafetensors({ __metadata__: { dtype: 'F32', shape: [1], data: [1] } }));

    expect(error.code).toBe('invalid-argument');
  });

  it('rejects negative shape', () => {
    const error = thrownBy(() => serializeSafetensors({ w: { dtype: 'F32', shape: [-1], data: [] } }));

    expect(error.code).toBe('invalid-argument');
    expect(error.message).toContain('[-1]');
  });

  it('rejects unknown dtype', () => {
    const tensor = { dtype: 'F8', shape: [1], data: [1] } as unknown as TensorToWrite;
    const error = thrownBy(() => serializeSafetensors({ w: tensor }));

    expect(error.code).toBe('unknown-dtype');
    expect(error.message).toContain('"F8"');
  });

  it('rejects non-string metadata', () => {
    const metadata = { epochs: 3 } as unknown as Record<string, string>;
    const error = thrownBy(() => serializeSafetensors({}, metadata));

    expect(error.code).toBe('invalid-argument');
    expect(error.message).toContain('"epochs"');
  });

  it('rejects fractional I32 value', () => {
    const error = thrownBy(() => serializeSafetensors({ ids: { dtype: 'I32', shape: [2], data: [1, 1.5] } }));

    expect(error.code).toBe('value-out-of-range');
    expect(error.message).toContain('1.5');
  });

  it('rejects I32 value above range', () => {
    const error = thrownBy(() => serializeSafetensors({ ids: { dtype: 'I32', shape: [1], data: [2 ** 31] } }));

    expect(error.code).toBe('value-out-of-range');
  });

  it('rejects non-number value', () => {
    const data = [1, '2'] as unknown as number[];
    const error = thrownBy(() => serializeSafetensors({ w: { dtype: 'F32', shape: [2], data } }));

    expect(error.code).toBe('invalid-argument');
    expect(error.message).toContain('"2" at flat index 1');
  });

  it('rejects unsafe I64 value', () => {
    const error = thrownBy(() => serializeSafetensors({ ids: { dtype: 'I64', shape: [1], data: [2 ** 53] } }));

    expect(error.code).toBe('value-out-of-range');
  });
});

describe('float16 conversion', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [2 ** -24, 0x0001],
    [-(2 ** -24), 0x8001],
    [2 ** -14, 0x0400],
    [1023 * 2 ** -24, 0x03ff],
    [0, 0x0000],
    [-0, 0x8000],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [65520, 0x7c00], // halfway to the next power: ties to even overflow to infinity
    [65519, 0x7bff],
    [1e6, 0x7c00],
    [2 ** -25, 0x0000], // halfway to the smallest subnormal: ties to even give zero
    [1.5 * 2 ** -25, 0x0001],
    [2 ** -26, 0x0000],
    [1 + 2 ** -11, 0x3c00], // tie, even neighbour is 1
    [1 + 3 * 2 ** -11, 0x3c02], // tie, even neighbour is above
    [1 + 2 ** -11 + 2 ** -20, 0x3c01],
  ])('encodes %d', (value, bits) => {
    expect(writtenF16Bits(value)).toBe(bits);
  });

  it('encodes NaN as NaN', () => {
    const bits = writtenF16Bits(NaN);

    expect(bits & 0x7c00).toBe(0x7c00);
    expect(bits & 0x03ff).not.toBe(0);
  });

  it.each([
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14],
    [0x3555, 0.333251953125],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ])('decodes bits %i', (bits, value) => {
    expect(toFloat32(rawHalfTensor('F16', [bits]))[0]).toBe(value);
  });

  it('decodes NaN and negative zero', () => {
    const values = toFloat32(rawHalfTensor('F16', [0x7e00, 0x7c01, 0x8000]));

    expect(Number.isNaN(values[0])).toBe(true);
    expect(Number.isNaN(values[1])).toBe(true);
    expect(Object.is(values[2], -0)).toBe(true);
  });

  it('round trip every finite and infinite pattern', () => {
    const mismatches: number[] = [];
    for (let bits = 0; bits < 65536; bits++) {
      const value = float16BitsToFloat32(bits);
      if (!Number.isNaN(value) && float32ToFloat16Bits(value) !== bits) mismatches.push(bits);
    }

    expect(mismatches).toEqual([]);
  });
});

describe('bfloat16 conversion', () => {
  it.each([
    [1, 0x3f80],
    [-2, 0xc000],
    [1 + 2 ** -9, 0x3f80], // below half a step
    [1 + 2 ** -8, 0x3f80], // tie, even neighbour is 1
    [1 + 3 * 2 ** -8, 0x3f82], // tie, even neighbour is above
    [1 + 2 ** -8 + 2 ** -20, 0x3f81],
    [65504, 0x4780], // rounds up to 65536
    [Infinity, 0x7f80],
    [-Infinity, 0xff80],
    [3.4028234663852886e38, 0x7f80], // float32 max rounds past the bfloat16 max
    [2 ** -133, 0x0001], // smallest bfloat16 subnormal
  ])('encodes %d', (value, bits) => {
    expect(writtenBf16Bits(value)).toBe(bits);
  });

  it('encodes NaN as NaN', () => {
    const bits = writtenBf16Bits(NaN);

    expect(bits & 0x7f80).toBe(0x7f80);
    expect(bits & 0x007f).not.toBe(0);
  });

  it('keeps NaN with low payload', () => {
    expect(float32ToBfloat16Bits(bitsToFloat32(0x7f800001)) & 0x007f).not.toBe(0);
  });

  it.each([
    [0x3f80, 1],
    [0xc000, -2],
    [0x4780, 65536],
    [0x7f80, Infinity],
    [0x0001, 2 ** -133],
  ])('decodes bits %i', (bits, value) => {
    expect(toFloat32(rawHalfTensor('BF16', [bits]))[0]).toBe(value);
  });

  it('decodes NaN', () => {
    expect(Number.isNaN(toFloat32(rawHalfTensor('BF16', [0x7fc0]))[0])).toBe(true);
  });

  it('round trip every non-NaN pattern', () => {
    const mismatches: number[] = [];
    for (let bits = 0; bits < 65536; bits++) {
      const value = bfloat16BitsToFloat32(bits);
      if (!Number.isNaN(value) && float32ToBfloat16Bits(value) !== bits) mismatches.push(bits);
    }

    expect(mismatches).toEqual([]);
  });
});

function bitsToFloat32(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits);
  return view.getFloat32(0);
}

describe('parseSafetensors', () => {
  it('reads hand-built file', () => {
    const data = new Uint8Array([
      0x00, 0x00, 0x80, 0x3f, // F32 1.0
      0x00, 0x00, 0x00, 0xc0, // F32 -2.0
      0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // I64 5
      0xfd, 0xff, // I16 -3
      0x01, // BOOL true
    ]);
    const file = parseSafetensors(
      buildFile({
        __metadata__: { source: 'hand' },
        f: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        l: { dtype: 'I64', shape: [1, 1], data_offsets: [8, 16] },
        s: { dtype: 'I16', shape: [1], data_offsets: [16, 18] },
        b: { dtype: 'BOOL', shape: [1], data_offsets: [18, 19] },
      }, data),
      'hand.safetensors',
    );

    expect(file.source).toBe('hand.safetensors');
    expect(file.metadata).toEqual({ source: 'hand' });
    expect(Array.from(toFloat32(file.tensors.get('f')!))).toEqual([1, -2]);
    expect(Array.from(toInt32(file.tensors.get('l')!))).toEqual([5]);
    expect(file.tensors.get('l')!.shape).toEqual([1, 1]);
    expect(Array.from(toInt32(file.tensors.get('s')!))).toEqual([-3]);
    expect(Array.from(toFloat32(file.tensors.get('b')!))).toEqual([1]);
  });

  it('returns views into the input', () => {
    const bytes = serializeSafetensors({ w: { dtype: 'F32', shape: [2], data: [1, 2] } });
    const tensor = parseSafetensors(bytes).tensors.get('w')!;

    expect(tensor.bytes.buffer).toBe(bytes.buffer);
  });

  it('accepts empty tensor inside another range', () => {
    const file = parseSafetensors(
      buildFile({
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        e: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
      }, 8),
    );

    expect(file.tensors.size).toBe(2);
  });

  it('uses default source label', () => {
    const error = thrownBy(() => parseSafetensors(new Uint8Array(3)));

    expect(error.message).toContain('<buffer>');
  });

  const entry = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  const cases: Array<[string, Uint8Array, SafetensorsErrorCode, string[]]> = [
    ['file under 8 bytes', new Uint8Array(5), 'truncated', ['5 bytes']],
    ['header past end of file', buildFile('{}', 0, 100n), 'truncated', ['100', 'only 2 bytes']],
    ['header over 100 MB', buildFile('{}', 0, 100_000_001n), 'header-too-large', ['100000001']],
    ['header not UTF-8', buildFile(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 'header-not-json', ['UTF-8']],
    ['header not JSON', buildFile('{"a": '), 'header-not-json', ['JSON']],
    ['header an array', buildFile('[1, 2]'), 'header-invalid', ['[1,2]']],
    ['header null', buildFile('null'), 'header-invalid', ['null']],
    ['entry not object', buildFile({ w: 3 }), 'header-invalid', ['"w"']],
    ['entry without dtype', buildFile({ w: { shape: [2], data_offsets: [0, 8] } }, 8), 'header-invalid', ['"w"', '"dtype"']],
    ['entry without shape', buildFile({ w: { dtype: 'F32', data_offsets: [0, 8] } }, 8), 'header-invalid', ['"w"', '"shape"']],
    ['entry without offsets', buildFile({ w: { dtype: 'F32', shape: [2] } }, 8), 'header-invalid', ['"w"', '"data_offsets"']],
    ['dtype not string', buildFile({ w: { ...entry, dtype: 4 } }, 8), 'header-invalid', ['"w"', 'dtype 4']],
    ['shape not array', buildFile({ w: { ...entry, shape: 2 } }, 8), 'header-invalid', ['"w"', 'shape 2']],
    ['shape negative', buildFile({ w: { ...entry, shape: [-2] } }, 8), 'header-invalid', ['"w"', '[-2]']],
    ['shape fractional', buildFile({ w: { ...entry, shape: [1.5] } }, 8), 'header-invalid', ['"w"', '[1.5]']],
    ['shape unsafe integer', buildFile({ w: { ...entry, shape: [2 ** 60] } }, 8), 'header-invalid', ['"w"']],
    ['offsets three values', buildFile({ w: { ...entry, data_offsets: [0, 4, 8] } }, 8), 'header-invalid', ['"w"', '[0,4,8]']],
    ['offsets not integers', buildFile({ w: { ...entry, data_offsets: ['0', 8] } }, 8), 'header-invalid', ['"w"', '["0",8]']],
    ['offsets reversed', buildFile({ w: { ...entry, data_offsets: [8, 0] } }, 8), 'header-invalid', ['"w"', '[8, 0]']],
    ['metadata not object', buildFile({ __metadata__: 'x' }), 'header-invalid', ['__metadata__', '"x"']],
    ['metadata value not string', buildFile({ __metadata__: { epochs: 3 } }), 'header-invalid', ['"epochs"', '3']],
    ['unknown dtype', buildFile({ w: { ...entry, dtype: 'F8_E4M3' } }, 8), 'unknown-dtype', ['"w"', 'F8_E4M3', 'BF16', 'BOOL']],
    ['offsets past data', buildFile({ w: entry, v: { ...entry, data_offsets: [8, 16] } }, 10), 'offsets-out-of-range', ['"v"', '16 bytes', 'only 10']],
    ['overlapping ranges', buildFile({ w: entry, v: { ...entry, data_offsets: [4, 12] } }, 12), 'offsets-overlap', ['"w"', '"v"']],
    ['range covering later ones', buildFile({
      big: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
      x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
    }, 16), 'offsets-overlap', ['"big"', '"x"']],
    ['size mismatch', buildFile({ w: { ...entry, shape: [3] } }, 8), 'shape-size-mismatch', ['"w"', '12 bytes', '8 bytes']],
  ];

  it.each(cases)('rejects %s', (_name, bytes, code) => {
    expect(parseError(bytes).code).toBe(code);
  });

  it.each(cases)('names file for %s', (_name, bytes) => {
    expect(parseError(bytes).message).toContain(label);
  });

  it.each(cases)('message details for %s', (_name, bytes, _code, fragments) => {
    const { message } = parseError(bytes);
    for (const fragment of fragments) expect(message).toContain(fragment);
  });

  it.each(cases)('error source for %s', (_name, bytes) => {
    expect(parseError(bytes).source).toBe(label);
  });

  it('sets tensorName on entry errors', () => {
    expect(parseError(buildFile({ w: { ...entry, dtype: 'X' } }, 8)).tensorName).toBe('w');
  });

  it('tells how to fix corrupt files', () => {
    expect(parseError(buildFile({ w: { ...entry, shape: [3] } }, 8)).message).toContain('re-export');
  });

  it('fails fast on 2^53 header length', () => {
    const bytes = buildFile('{"a":1}', 5, 2n ** 53n);
    expect(bytes.length).toBe(20);

    const started = performance.now();
    const error = parseError(bytes);
    const elapsed = performance.now() - started;

    expect(error.code).toBe('header-too-large');
    expect(elapsed).toBeLessThan(1000);
  });

  it('rejects u64 max header length', () => {
    expect(parseError(buildFile('{}', 0, 2n ** 64n - 1n)).code).toBe('header-too-large');
  });
});

describe('toFloat32', () => {
  it('views aligned F32 bytes', () => {
    const bytes = new Uint8Array(new Float32Array([1.5, -3]).buffer);
    const values = toFloat32({ dtype: 'F32', shape: [2], bytes });

    expect(values.buffer).toBe(bytes.buffer);
  });

  it('copies unaligned F32 bytes', () => {
    const backing = new Uint8Array(9);
    backing.set(new Uint8Array(new Float32Array([1.5, -3]).buffer), 1);
    const bytes = backing.subarray(1);
    const values = toFloat32({ dtype: 'F32', shape: [2], bytes });

    expect(Array.from(values)).toEqual([1.5, -3]);
    expect(values.buffer).not.toBe(backing.buffer);
  });

  it('converts F64 and integer dtypes', () => {
    const cases: Array<[RawTensor, number[]]> = [
      [{ dtype: 'F64', shape: [2], bytes: new Uint8Array(new Float64Array([0.25, -1e10]).buffer) }, [0.25, -1e10]],
      [{ dtype: 'I32', shape: [2], bytes: new Uint8Array(new Int32Array([-7, 9]).buffer) }, [-7, 9]],
      [{ dtype: 'I8', shape: [2], bytes: new Uint8Array([0xff, 0x7f]) }, [-1, 127]],
      [{ dtype: 'U8', shape: [2], bytes: new Uint8Array([0xff, 0x00]) }, [255, 0]],
      [{ dtype: 'BOOL', shape: [3], bytes: new Uint8Array([0, 1, 2]) }, [0, 1, 1]],
      [{ dtype: 'I64', shape: [1], bytes: new Uint8Array(new BigInt64Array([-3n]).buffer) }, [-3]],
    ];
    for (const [tensor, expected] of cases) {
      expect(Array.from(toFloat32(tensor)), tensor.dtype).toEqual(expected);
    }
  });

  it('rejects bytes not matching shape', () => {
    const error = thrownBy(() => toFloat32({ dtype: 'F32', shape: [3], bytes: new Uint8Array(8) }, { source: 'm.safetensors', tensorName: 'w' }));

    expect(error.code).toBe('shape-size-mismatch');
    expect(error.message).toContain('m.safetensors: tensor "w"');
  });
});

describe('toInt32', () => {
  it('converts I64 at int32 limits', () => {
    const bytes = new Uint8Array(new BigInt64Array([-2147483648n, 2147483647n]).buffer);

    expect(Array.from(toInt32({ dtype: 'I64', shape: [2], bytes }))).toEqual([-2147483648, 2147483647]);
  });

  it('rejects I64 above int32', () => {
    const bytes = new Uint8Array(new BigInt64Array([1n, 2147483648n]).buffer);
    const error = thrownBy(() => toInt32({ dtype: 'I64', shape: [2], bytes }, { source: 'm.safetensors', tensorName: 'ids' }));

    expect(error.code).toBe('value-out-of-range');
    expect(error.message).toContain('2147483648 at flat index 1');
    expect(error.message).toContain('m.safetensors');
    expect(error.tensorName).toBe('ids');
  });

  it('rejects I64 below int32', () => {
    const bytes = new Uint8Array(new BigInt64Array([-2147483649n]).buffer);

    expect(thrownBy(() => toInt32({ dtype: 'I64', shape: [1], bytes })).code).toBe('value-out-of-range');
  });

  it('converts small integer dtypes', () => {
    expect(Array.from(toInt32({ dtype: 'I16', shape: [2], bytes: new Uint8Array([0xfe, 0xff, 0x10, 0x00]) }))).toEqual([-2, 16]);
    expect(Array.from(toInt32({ dtype: 'I8', shape: [1], bytes: new Uint8Array([0x80]) }))).toEqual([-128]);
    expect(Array.from(toInt32({ dtype: 'U8', shape: [1], bytes: new Uint8Array([0x80]) }))).toEqual([128]);
  });

  it('copies unaligned I32 bytes', () => {
    const backing = new Uint8Array(5);
    backing.set([0xff, 0xff, 0xff, 0xff], 1);

    expect(Array.from(toInt32({ dtype: 'I32', shape: [1], bytes: backing.subarray(1) }))).toEqual([-1]);
  });

  it('rejects float dtype', () => {
    const error = thrownBy(() => toInt32({ dtype: 'F32', shape: [1], bytes: new Uint8Array(4) }));

    expect(error.code).toBe('invalid-argument');
    expect(error.message).toContain('toFloat32');
  });
});

describe('safetensors files', () => {
  let folder: string;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'vlm-compat-safetensors-'));
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('round trip through disk', async () => {
    const path = join(folder, 'module.safetensors');
    await writeSafetensorsFile(path, { w: { dtype: 'F32', shape: [2], data: [0.5, 2] } }, { kind: 'lora' });
    const file = await readSafetensorsFile(path);

    expect(file.source).toBe(path);
    expect(file.metadata).toEqual({ kind: 'lora' });
    expect(Array.from(toFloat32(file.tensors.get('w')!))).toEqual([0.5, 2]);
  });

  it('leaves no temp file', async () => {
    const path = join(folder, 'module.safetensors');
    await writeSafetensorsFile(path, { w: { dtype: 'F32', shape: [1], data: [1] } });
    await writeSafetensorsFile(path, { w: { dtype: 'F32', shape: [1], data: [2] } });

    expect(await readdir(folder)).toEqual(['module.safetensors']);
  });

  it('replaces existing file', async () => {
    const path = join(folder, 'module.safetensors');
    await writeFile(path, 'old contents');
    await writeSafetensorsFile(path, { w: { dtype: 'I32', shape: [1], data: [4] } });

    expect(Array.from(toInt32((await readSafetensorsFile(path)).tensors.get('w')!))).toEqual([4]);
  });

  it('writes same bytes as serializer', async () => {
    const path = join(folder, 'module.safetensors');
    const tensors: Record<string, TensorToWrite> = { w: { dtype: 'BF16', shape: [2], data: [1, 3] } };
    await writeSafetensorsFile(path, tensors, { a: 'b' });

    expect(Array.from(await readFile(path))).toEqual(Array.from(serializeSafetensors(tensors, { a: 'b' })));
  });

  it('reports missing folder as unwritable', async () => {
    const path = join(folder, 'missing', 'module.safetensors');
    const error = await writeSafetensorsFile(path, {}).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as SafetensorsError).code).toBe('unwritable');
    expect((error as SafetensorsError).message).toContain(path);
  });

  it('removes temp file when rename fails', async () => {
    const path = join(folder, 'taken');
    await mkdir(path);
    await mkdir(join(path, 'child'));
    const error = await writeSafetensorsFile(path, { w: { dtype: 'F32', shape: [1], data: [1] } }).catch((caught: unknown) => caught);

    expect((error as SafetensorsError).code).toBe('unwritable');
    expect(await readdir(folder)).toEqual(['taken']);
  });

  it('writes nothing for invalid input', async () => {
    const path = join(folder, 'module.safetensors');
    await writeSafetensorsFile(path, { w: { dtype: 'F32', shape: [2], data: [1] } }).catch(() => undefined);

    expect(await readdir(folder)).toEqual([]);
  });

  it('reports missing file as not-found', async () => {
    const path = join(folder, 'absent.safetensors');
    const error = await readSafetensorsFile(path).catch((caught: unknown) => caught);

    expect((error as SafetensorsError).code).toBe('not-found');
    expect((error as SafetensorsError).message).toContain(path);
  });

  it('reports folder as unreadable', async () => {
    const error = await readSafetensorsFile(folder).catch((caught: unknown) => caught);

    expect((error as SafetensorsError).code).toBe('unreadable');
    expect((error as SafetensorsError).message).toContain(folder);
  });

  it('names path in parse errors', async () => {
    const path = join(folder, 'short.safetensors');
    await writeFile(path, new Uint8Array(4));
    const error = await readSafetensorsFile(path).catch((caught: unknown) => caught);

    expect((error as SafetensorsError).code).toBe('truncated');
    expect((error as SafetensorsError).message).toContain(path);
  });
});

describe('sha256', () => {
  let folder: string;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'vlm-compat-hash-'));
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('hashes bytes of "abc"', () => {
    expect(sha256Bytes(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('hashes empty bytes', () => {
    expect(sha256Bytes(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('hashes file across chunks', async () => {
    // One million "a" characters, a standard SHA-256 test vector, spans many 64 KiB stream chunks.
    const path = join(folder, 'a.bin');
    await writeFile(path, new Uint8Array(1_000_000).fill(0x61));

    expect(await sha256File(path)).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('reports missing file', async () => {
    const path = join(folder, 'absent.bin');
    const error = await sha256File(path).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(FileHashError);
    expect((error as FileHashError).code).toBe('not-found');
    expect((error as FileHashError).message).toContain(path);
  });
});
