// Reader and writer for the safetensors format, on plain typed arrays so that any layer can use it.
//
// File layout: an 8-byte little-endian u64 header length N, then N bytes of UTF-8 JSON
// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}`, then the
// data buffer. Offsets count bytes from the start of the data buffer, and values are little-endian.

import { randomUUID } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { getLogger } from '../runtime/logger.js';

/** A tensor element type, spelled as in the safetensors header. */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element of each supported dtype. */
export const safetensorsDtypeSizes: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

const supportedDtypes = Object.keys(safetensorsDtypeSizes) as SafetensorsDtype[];

/** One tensor as stored in the file. */
export interface RawTensor {
  /** Element type as written in the header. */
  readonly dtype: SafetensorsDtype;
  /** Dimensions, outermost first; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** The tensor's bytes, little-endian. Tensors parsed from a file are views into the file's buffer. */
  readonly bytes: Uint8Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** Tensors by name. */
  readonly tensors: ReadonlyMap<string, RawTensor>;
  /** The header's `__metadata__` entry, or an empty record when the file has none. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Path or label of the file, used in messages. */
  readonly source: string;
}

/** Cause of a failed read, conversion or write of a safetensors file. */
export type SafetensorsErrorCode =
  | 'truncated'
  | 'header-too-large'
  | 'header-not-json'
  | 'header-invalid'
  | 'unknown-dtype'
  | 'offsets-out-of-range'
  | 'offsets-overlap'
  | 'shape-size-mismatch'
  | 'not-found'
  | 'unreadable'
  /** A value does not fit the requested integer type (toInt32, or integer data given to the writer). */
  | 'value-out-of-range'
  /** An argument cannot be used: a float tensor given to toInt32, a reserved tensor name, a bad shape or metadata value. */
  | 'invalid-argument'
  /** The output file could not be written. */
  | 'unwritable';

/** Raised for every malformed file, failed read or write and invalid conversion in this module. */
export class SafetensorsError extends Error {
  /** Error name: `SafetensorsError`. */
  override readonly name = 'SafetensorsError';
  /** Kind of failure, for programmatic handling. */
  readonly code: SafetensorsErrorCode;
  /** Path or label of the file involved. */
  readonly source: string;
  /** The tensor involved, when the error concerns one tensor. */
  readonly tensorName?: string;

  constructor(
    code: SafetensorsErrorCode,
    source: string,
    message: string,
    options: { readonly tensorName?: string; readonly cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.source = source;
    if (options.tensorName !== undefined) this.tensorName = options.tensorName;
  }
}

/** File and tensor name of a tensor, used only so that conversion errors can name them. */
export interface TensorLabel {
  /** Path or label of the file. */
  readonly source?: string;
  /** Name of the tensor in the file. */
  readonly tensorName?: string;
}

/** Largest header accepted, in bytes. The Hugging Face safetensors crate uses the same limit. */
export const maxHeaderBytes = 100_000_000;

const fixCorrupt = 'Re-download the file or re-export the checkpoint.';

const isLittleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * Parses a complete safetensors file held in memory and validates every header entry.
 * The returned tensors are views into `bytes`, so nothing is copied.
 * Throws SafetensorsError for any malformed input, before allocating anything sized by the header.
 */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsFile {
  const headerLength = readHeaderLength(bytes, source);
  const header = decodeHeader(bytes.subarray(8, 8 + headerLength), source);

  const metadata = readMetadata(header, source);
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name !== '__metadata__') entries.push(parseEntry(name, value, source));
  }

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  checkInRange(entries, dataLength, source);
  checkNoOverlap(entries, source);

  // NOTE: the Hugging Face safetensors crate also rejects gaps between tensors and bytes after the last one.
  // This reader accepts them, because they do not make any tensor ambiguous.
  const tensors = new Map<string, RawTensor>();
  for (const entry of entries) {
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset + dataStart + entry.begin, entry.end - entry.begin);
    tensors.set(entry.name, { dtype: entry.dtype, shape: entry.shape, bytes: view });
  }
  return { tensors, metadata, source };
}

/** Reads and parses a safetensors file. A missing file raises code `not-found`, any other read failure `unreadable`. */
export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  let contents: Uint8Array;
  try {
    contents = await readFile(path);
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT') {
      throw new SafetensorsError('not-found', path, `${path}: safetensors file not found. Check the path, or download the checkpoint first.`, { cause: error });
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new SafetensorsError('unreadable', path, `${path}: failed to read the safetensors file (${reason}). Check that it is a readable file.`, { cause: error });
  }

  const file = parseSafetensors(new Uint8Array(contents.buffer, contents.byteOffset, contents.byteLength), path);
  getLogger().debug('read safetensors file', { path, tensors: file.tensors.size, bytes: contents.byteLength });
  return file;
}

function readHeaderLength(bytes: Uint8Array, source: string): number {
  if (bytes.length < 8) {
    throw new SafetensorsError('truncated', source, `${source}: file is ${bytes.length} bytes, shorter than the 8-byte header length that starts every safetensors file. ${fixCorrupt}`);
  }

  // Compared as a bigint, because a corrupt prefix can exceed 2^53 and would lose precision as a number.
  const declared = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(maxHeaderBytes)) {
    throw new SafetensorsError('header-too-large', source, `${source}: header length is ${declared} bytes, above the ${maxHeaderBytes}-byte limit (the file is ${bytes.length} bytes). The file is probably not a safetensors file or is corrupt. ${fixCorrupt}`);
  }

  const headerLength = Number(declared);
  const available = bytes.length - 8;
  if (headerLength > available) {
    throw new SafetensorsError('truncated', source, `${source}: header length is ${headerLength} bytes, but only ${available} bytes follow the length prefix. The file is truncated. ${fixCorrupt}`);
  }
  return headerLength;
}

function decodeHeader(headerBytes: Uint8Array, source: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch (error) {
    throw new SafetensorsError('header-not-json', source, `${source}: header is not valid UTF-8. ${fixCorrupt}`, { cause: error });
  }

  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SafetensorsError('header-not-json', source, `${source}: header is not valid JSON (${reason}). ${fixCorrupt}`, { cause: error });
  }

  if (!isRecord(header)) {
    throw new SafetensorsError('header-invalid', source, `${source}: header is ${describe(header)}, expected a JSON object mapping tensor names to entries. ${fixCorrupt}`);
  }
  return header;
}

function readMetadata(header: Record<string, unknown>, source: string): Record<string, string> {
  const value = header['__metadata__'];
  if (value === undefined) return {};

  if (!isRecord(value)) {
    throw new SafetensorsError('header-invalid', source, `${source}: "__metadata__" is ${describe(value)}, expected an object of string values. ${fixCorrupt}`);
  }
  const entries = Object.entries(value);
  for (const [key, item] of entries) {
    if (typeof item !== 'string') {
      throw new SafetensorsError('header-invalid', source, `${source}: "__metadata__" key ${quote(key)} has value ${describe(item)}, expected a string. ${fixCorrupt}`);
    }
  }
  // fromEntries defines own properties, so even a key named "__proto__" is kept as data.
  return Object.fromEntries(entries) as Record<string, string>;
}

interface HeaderEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly begin: number; // bytes from the start of the data buffer
  readonly end: number; // exclusive
}

function parseEntry(name: string, value: unknown, source: string): HeaderEntry {
  const label = `${source}: tensor ${quote(name)}`;
  const invalid = (problem: string) => new SafetensorsError('header-invalid', source, `${label} ${problem} ${fixCorrupt}`, { tensorName: name });

  if (!isRecord(value)) throw invalid(`has header entry ${describe(value)}, expected an object with dtype, shape and data_offsets.`);
  for (const field of ['dtype', 'shape', 'data_offsets']) {
    if (value[field] === undefined) throw invalid(`has no "${field}" in its header entry.`);
  }

  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string') throw invalid(`has dtype ${describe(dtype)}, expected a string.`);
  if (!isDtype(dtype)) {
    throw new SafetensorsError('unknown-dtype', source, `${label} has unsupported dtype ${quote(dtype)}. Supported dtypes: ${supportedDtypes.join(', ')}. Re-export the checkpoint with one of them.`, { tensorName: name });
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeSafeInteger)) {
    throw invalid(`has shape ${describe(shape)}, expected an array of non-negative integers.`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeSafeInteger)) {
    throw invalid(`has data_offsets ${describe(offsets)}, expected two non-negative integers [begin, end].`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw invalid(`has data_offsets [${begin}, ${end}] with begin after end.`);

  const expectedBytes = elementCount(shape) * safetensorsDtypeSizes[dtype];
  if (expectedBytes !== end - begin) {
    throw new SafetensorsError('shape-size-mismatch', source, `${label} (${dtype}, shape ${describe(shape)}) needs ${expectedBytes} bytes, but its data_offsets [${begin}, ${end}] span ${end - begin} bytes. ${fixCorrupt}`, { tensorName: name });
  }
  return { name, dtype, shape: [...shape] as number[], begin, end };
}

function checkInRange(entries: readonly HeaderEntry[], dataLength: number, source: string): void {
  let expected = 0;
  for (const entry of entries) expected = Math.max(expected, entry.end);
  if (expected <= dataLength) return;

  const first = entries.find((entry) => entry.end > dataLength)!;
  throw new SafetensorsError('offsets-out-of-range', source, `${source}: tensor ${quote(first.name)} has data_offsets [${first.begin}, ${first.end}] past the end of the data. The header expects ${expected} bytes of tensor data, but only ${dataLength} are present, so the file is truncated. ${fixCorrupt}`, { tensorName: first.name });
}

function checkNoOverlap(entries: readonly HeaderEntry[], source: string): void {
  // Empty tensors occupy no bytes, so they cannot overlap anything.
  const sorted = entries.filter((entry) => entry.end > entry.begin).sort((a, b) => a.begin - b.begin || a.end - b.end);

  // After sorting by begin, any overlap shows up between neighbours: if a later range overlapped an
  // earlier one, the non-empty ranges between them would overlap it as well.
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1]!;
    const entry = sorted[i]!;
    if (entry.begin < previous.end) {
      throw new SafetensorsError('offsets-overlap', source, `${source}: tensors ${quote(previous.name)} [${previous.begin}, ${previous.end}] and ${quote(entry.name)} [${entry.begin}, ${entry.end}] share bytes in the data buffer. ${fixCorrupt}`, { tensorName: entry.name });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Conversion

/**
 * Converts a tensor of any supported dtype to float32. BOOL becomes 0 or 1, and 64-bit values
 * are rounded to the nearest float32.
 * For an F32 tensor whose bytes are 4-byte aligned on a little-endian host, the result is a view
 * that shares memory with `tensor.bytes`, so copy it before modifying it. Every other case returns a new array.
 */
export function toFloat32(tensor: RawTensor, label: TensorLabel = {}): Float32Array {
  const count = checkedElementCount(tensor, label);
  const { bytes } = tensor;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);

  switch (tensor.dtype) {
    case 'F32':
      if (isLittleEndianHost) {
        if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
        return new Float32Array(bytes.slice().buffer);
      }
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    case 'F16': {
      const table = float16Table();
      for (let i = 0; i < count; i++) out[i] = table[view.getUint16(i * 2, true)]!;
      return out;
    }
    case 'BF16': {
      // bfloat16 is the upper half of a float32, so shifting the bits into place is exact.
      const outBits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) outBits[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'I64':
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(i * 8, true));
      return out;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      return out;
    case 'I16':
      for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
      return out;
    case 'I8':
      for (let i = 0; i < count; i++) out[i] = view.getInt8(i);
      return out;
    case 'U8':
      out.set(bytes);
      return out;
    case 'BOOL':
      for (let i = 0; i < count; i++) out[i] = bytes[i] === 0 ? 0 : 1;
      return out;
  }
}

/**
 * Converts an integer or BOOL tensor to int32. Raises `value-out-of-range` for an I64 value outside
 * the int32 range and `invalid-argument` for a float dtype.
 * For an I32 tensor whose bytes are 4-byte aligned on a little-endian host, the result is a view
 * that shares memory with `tensor.bytes`, so copy it before modifying it.
 */
export function toInt32(tensor: RawTensor, label: TensorLabel = {}): Int32Array {
  const count = checkedElementCount(tensor, label);
  const { bytes } = tensor;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int32Array(count);

  switch (tensor.dtype) {
    case 'I64':
      for (let i = 0; i < count; i++) {
        const value = view.getBigInt64(i * 8, true);
        if (value < -2147483648n || value > 2147483647n) {
          throw labelledError('value-out-of-range', label, `(I64) has value ${value} at flat index ${i}, outside the int32 range [-2147483648, 2147483647]. Use toFloat32 if approximate values are enough, or re-export the tensor with smaller values.`);
        }
        out[i] = Number(value);
      }
      return out;
    case 'I32':
      if (isLittleEndianHost) {
        if (bytes.byteOffset % 4 === 0) return new Int32Array(bytes.buffer, bytes.byteOffset, count);
        return new Int32Array(bytes.slice().buffer);
      }
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      return out;
    case 'I16':
      for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
      return out;
    case 'I8':
      for (let i = 0; i < count; i++) out[i] = view.getInt8(i);
      return out;
    case 'U8':
      out.set(bytes);
      return out;
    case 'BOOL':
      for (let i = 0; i < count; i++) out[i] = bytes[i] === 0 ? 0 : 1;
      return out;
    case 'F64':
    case 'F32':
    case 'F16':
    case 'BF16':
      throw labelledError('invalid-argument', label, `has float dtype ${tensor.dtype}, which toInt32 does not convert. Use toFloat32 instead.`);
  }
}

/** Decodes IEEE 754 half-precision bits, including subnormals, infinities and NaN. */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero or subnormal
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Decodes bfloat16 bits, which are the upper 16 bits of a float32. */
export function bfloat16BitsToFloat32(bits: number): number {
  scratchBits[0] = (bits & 0xffff) << 16;
  return scratchFloat[0]!;
}

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

let float16Lookup: Float32Array | undefined;

// A 65,536-entry table (256 KiB) makes decoding large F16 checkpoints one load per element.
function float16Table(): Float32Array {
  if (float16Lookup === undefined) {
    float16Lookup = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) float16Lookup[bits] = float16BitsToFloat32(bits);
  }
  return float16Lookup;
}

// ---------------------------------------------------------------------------------------------
// Encoding to half precision

/**
 * Encodes a number as IEEE 754 half-precision bits, rounding to nearest with ties to even.
 * Values of 65520 and above in magnitude become infinity, and NaN stays NaN.
 */
export function float32ToFloat16Bits(value: number): number {
  // The value is first rounded to float32. Rounding twice gives the same result as rounding once,
  // because float32 has 24 significand bits, at least 2 * 11 + 2 for half precision.
  scratchFloat[0] = value;
  const bits = scratchBits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;

  if (exponent === 0xff) return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);

  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 31) return sign | 0x7c00;
  if (halfExponent >= 1) {
    // A carry out of the mantissa increments the exponent, and from 0x7bff it reaches infinity (0x7c00).
    return sign | roundHalfToEven((halfExponent << 10) | (mantissa >>> 13), mantissa & 0x1fff, 0x1000);
  }

  // Subnormal result: below 2^-25 even the smallest subnormal (2^-24) is more than half a step away.
  if (halfExponent < -10) return sign;
  const significand = mantissa | 0x800000;
  const shift = 14 - halfExponent;
  return sign | roundHalfToEven(significand >>> shift, significand & ((1 << shift) - 1), 1 << (shift - 1));
}

/** Encodes a number as bfloat16 bits (the upper 16 bits of its float32), rounding to nearest with ties to even. */
export function float32ToBfloat16Bits(value: number): number {
  scratchFloat[0] = value;
  const bits = scratchBits[0]!;
  // Truncating a NaN could clear every mantissa bit and turn it into infinity, so set the quiet bit.
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x0040;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

function roundHalfToEven(truncated: number, remainder: number, half: number): number {
  if (remainder > half || (remainder === half && (truncated & 1) === 1)) return truncated + 1;
  return truncated;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** A tensor to serialize. `data` contains `product(shape)` values in row-major order. */
export interface TensorToWrite {
  /** Element type to store; F16 and BF16 round each value to nearest, ties to even. */
  dtype: 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';
  /** Dimensions, outermost first; their product must equal the number of values. */
  shape: readonly number[];
  /** Values in row-major order. */
  data: Float32Array | Int32Array | number[];
}

type WritableDtype = TensorToWrite['dtype'];

const writableDtypes: readonly WritableDtype[] = ['F32', 'F16', 'BF16', 'I32', 'I64'];

/**
 * Serializes tensors and optional string metadata into a safetensors file image.
 * Header keys are written in sorted order after `__metadata__`, and the header is padded with
 * spaces to a multiple of 8 bytes. The data is laid out by descending element size and then by
 * name, as the Hugging Face safetensors crate does, so every tensor is aligned to its element size.
 */
export function serializeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  return encodeFile(tensors, metadata, '<buffer>');
}

/**
 * Writes a safetensors file. The bytes go to a temporary file in the same folder, which is
 * flushed to disk and then renamed over `path`, so a crash never leaves a partly written file
 * at `path`. A crash can leave the hidden temporary file (`.<name>.<uuid>.tmp`) behind instead.
 * Raises `unwritable` when the folder is missing or not writable.
 */
export async function writeSafetensorsFile(path: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Promise<void> {
  const bytes = encodeFile(tensors, metadata, path);

  const temporary = join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`);
  try {
    const handle = await open(temporary, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    const reason = error instanceof Error ? error.message : String(error);
    throw new SafetensorsError('unwritable', path, `${path}: failed to write the safetensors file (${reason}). Check that the folder exists and is writable.`, { cause: error });
  }

  getLogger().debug('wrote safetensors file', { path, tensors: Object.keys(tensors).length, bytes: bytes.length });
}

interface PlannedTensor {
  readonly name: string;
  readonly tensor: TensorToWrite;
  readonly begin: number;
  readonly end: number;
}

function encodeFile(tensors: Record<string, TensorToWrite>, metadata: Record<string, string> | undefined, source: string): Uint8Array {
  const names = Object.keys(tensors).sort();
  for (const name of names) validateTensorToWrite(name, tensors[name]!, source);
  if (metadata !== undefined) validateMetadataToWrite(metadata, source);

  const plan = planLayout(names, tensors);

  // A null-prototype object keeps a tensor named "__proto__" an ordinary key.
  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (metadata !== undefined) header['__metadata__'] = { ...metadata };
  for (const name of names) {
    const { tensor, begin, end } = plan.get(name)!;
    header[name] = { dtype: tensor.dtype, shape: [...tensor.shape], data_offsets: [begin, end] };
  }
  const headerText = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(headerText.length / 8) * 8;
  let dataLength = 0;
  for (const { end } of plan.values()) dataLength = Math.max(dataLength, end);

  const file = new Uint8Array(8 + headerLength + dataLength);
  const view = new DataView(file.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  file.set(headerText, 8);
  file.fill(0x20, 8 + headerText.length, 8 + headerLength); // spaces, as the Hugging Face crate pads

  for (const entry of plan.values()) writeElements(view, 8 + headerLength + entry.begin, entry, source);
  return file;
}

function planLayout(names: readonly string[], tensors: Record<string, TensorToWrite>): Map<string, PlannedTensor> {
  const byLayout = [...names].sort((a, b) => {
    const sizeOrder = safetensorsDtypeSizes[tensors[b]!.dtype] - safetensorsDtypeSizes[tensors[a]!.dtype];
    if (sizeOrder !== 0) return sizeOrder;
    if (a === b) return 0;
    return a < b ? -1 : 1;
  });

  const plan = new Map<string, PlannedTensor>();
  let offset = 0;
  for (const name of byLayout) {
    const tensor = tensors[name]!;
    const end = offset + tensor.data.length * safetensorsDtypeSizes[tensor.dtype];
    plan.set(name, { name, tensor, begin: offset, end });
    offset = end;
  }
  return plan;
}

function validateTensorToWrite(name: string, tensor: TensorToWrite, source: string): void {
  const label = `${source}: tensor ${quote(name)}`;
  const invalid = (problem: string) => new SafetensorsError('invalid-argument', source, `${label} ${problem}`, { tensorName: name });

  if (name === '__metadata__') throw invalid('uses the reserved name "__metadata__". Rename the tensor.');
  if (!writableDtypes.includes(tensor.dtype)) {
    throw new SafetensorsError('unknown-dtype', source, `${label} has dtype ${describe(tensor.dtype)}, which this writer does not support. Use one of: ${writableDtypes.join(', ')}.`, { tensorName: name });
  }
  if (!Array.isArray(tensor.shape) || !tensor.shape.every(isNonNegativeSafeInteger)) {
    throw invalid(`has shape ${describe(tensor.shape)}. Pass an array of non-negative integers.`);
  }
  if (!(tensor.data instanceof Float32Array || tensor.data instanceof Int32Array || Array.isArray(tensor.data))) {
    throw invalid(`has data of type ${describe(tensor.data)}. Pass a Float32Array, an Int32Array or an array of numbers.`);
  }

  if (Array.isArray(tensor.data)) {
    const index = tensor.data.findIndex((value: unknown) => typeof value !== 'number');
    if (index >= 0) throw invalid(`has value ${describe(tensor.data[index])} at flat index ${index}. Pass numbers only.`);
  }

  const expected = elementCount(tensor.shape);
  if (tensor.data.length !== expected) {
    throw new SafetensorsError('shape-size-mismatch', source, `${label} has shape ${describe(tensor.shape)}, which needs ${expected} values, but its data has ${tensor.data.length}. Make the shape match the data.`, { tensorName: name });
  }
}

function validateMetadataToWrite(metadata: Record<string, string>, source: string): void {
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw new SafetensorsError('invalid-argument', source, `${source}: metadata key ${quote(key)} has value ${describe(value)}, but safetensors metadata values must be strings. Convert it with String() or JSON.stringify().`);
    }
  }
}

function writeElements(view: DataView, at: number, entry: PlannedTensor, source: string): void {
  const { name, tensor } = entry;
  const data = tensor.data as ArrayLike<number>; // validateTensorToWrite checked that every element is a number
  const outOfRange = (index: number, value: number, problem: string) =>
    new SafetensorsError('value-out-of-range', source, `${source}: tensor ${quote(name)} (${tensor.dtype}) has value ${value} at flat index ${index}. ${problem}`, { tensorName: name });

  switch (tensor.dtype) {
    case 'F32':
      for (let i = 0; i < data.length; i++) view.setFloat32(at + i * 4, data[i]!, true);
      return;
    case 'F16':
      for (let i = 0; i < data.length; i++) view.setUint16(at + i * 2, float32ToFloat16Bits(data[i]!), true);
      return;
    case 'BF16':
      for (let i = 0; i < data.length; i++) view.setUint16(at + i * 2, float32ToBfloat16Bits(data[i]!), true);
      return;
    case 'I32':
      for (let i = 0; i < data.length; i++) {
        const value = data[i]!;
        if (!Number.isInteger(value) || value < -2147483648 || value > 2147483647) {
          throw outOfRange(i, value, 'I32 accepts only integers in [-2147483648, 2147483647]. Round the data, or write it as I64 or a float dtype.');
        }
        view.setInt32(at + i * 4, value, true);
      }
      return;
    case 'I64':
      // JavaScript numbers represent integers exactly only up to 2^53 - 1 in magnitude.
      for (let i = 0; i < data.length; i++) {
        const value = data[i]!;
        if (!Number.isSafeInteger(value)) {
          throw outOfRange(i, value, 'I64 written from JavaScript numbers accepts only integers within ±(2^53 - 1). Round the data, or write it as a float dtype.');
        }
        view.setBigInt64(at + i * 8, BigInt(value), true);
      }
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

function checkedElementCount(tensor: RawTensor, label: TensorLabel): number {
  if (!isDtype(tensor.dtype)) {
    throw labelledError('unknown-dtype', label, `has unsupported dtype ${describe(tensor.dtype)}. Supported dtypes: ${supportedDtypes.join(', ')}.`);
  }
  if (!Array.isArray(tensor.shape) || !tensor.shape.every(isNonNegativeSafeInteger)) {
    throw labelledError('invalid-argument', label, `has shape ${describe(tensor.shape)}, expected non-negative integers.`);
  }
  const count = elementCount(tensor.shape);
  const expected = count * safetensorsDtypeSizes[tensor.dtype];
  if (tensor.bytes.byteLength !== expected) {
    throw labelledError('shape-size-mismatch', label, `(${tensor.dtype}, shape ${describe(tensor.shape)}) needs ${expected} bytes but has ${tensor.bytes.byteLength}. Build the tensor with bytes that match its shape.`);
  }
  return count;
}

function labelledError(code: SafetensorsErrorCode, label: TensorLabel, problem: string): SafetensorsError {
  const source = label.source ?? '<tensor>';
  const subject = label.tensorName === undefined ? 'tensor' : `tensor ${quote(label.tensorName)}`;
  const prefix = label.source === undefined ? '' : `${label.source}: `;
  return new SafetensorsError(code, source, `${prefix}${subject} ${problem}`, label.tensorName === undefined ? {} : { tensorName: label.tensorName });
}

function elementCount(shape: readonly unknown[]): number {
  let count = 1;
  for (const dimension of shape) count *= dimension as number;
  return count;
}

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(safetensorsDtypeSizes, value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeSafeInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function quote(name: string): string {
  return JSON.stringify(name);
}

// Renders a value for a message, shortened so that a hostile header cannot produce a huge message.
function describe(value: unknown): string {
  let text: string;
  if (value === undefined) text = 'undefined';
  else if (typeof value === 'bigint') text = `${value}n`;
  else if (ArrayBuffer.isView(value)) text = value.constructor.name;
  else text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
