// The WASM-SIMD backend: instantiates wasm/kernels-{simd,relaxed}.wasm over one fixed linear
// memory and implements `Kernels` on it (issue 3).
// Owns: createWasmKernelsFromModules (portable: Node and workerd), createWasmKernels (Node: reads
// the .wasm files), relaxed-SIMD detection, staging of buffers that live outside wasm memory.
// Must not import: worker/, src/ beyond backend.ts, Node built-ins by static import (workerd bundles
// this file; Node's fs is reached through process.getBuiltinModule only inside createWasmKernels).
import type { AttentionShape, Kernels, Matrix, MatrixSource } from '../src/backend.ts'
import { Allocator, KernelOutOfMemory } from './allocator.ts'
import { activationUnit, f32Floats, packF32, packQ4, packQ8, q4Bytes, q8Bytes, q8GroupPadded, scaleFloats } from './layout.ts'

export { KernelOutOfMemory }

export interface WasmKernelOptions {
  /** Size of the linear memory, reserved once and never grown (views from alloc stay valid). */
  memoryBytes?: number
  /** Use the relaxed-SIMD int8/int4 dot products: true (or throw), false, or 'auto' (default). */
  relaxed?: boolean | 'auto'
}

/** Compiled modules; in workerd: `import simd from '../wasm/kernels-simd.wasm'`. */
export interface WasmKernelModules {
  simd: WebAssembly.Module
  relaxed?: WebAssembly.Module
}

export const DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024
const PAGE = 65536

type Ptr = number
interface KernelExports {
  heap_base(): Ptr
  matvec_f32(out: Ptr, w: Ptr, rows: number, cols: number, x: Ptr): void
  matmul_f32(out: Ptr, w: Ptr, rows: number, cols: number, x: Ptr, T: number): void
  gather_rows_f32(out: Ptr, w: Ptr, cols: number, ids: Ptr, n: number): void
  quantize_rows_i8(x: Ptr, T: number, cols: number, group: number, xq: Ptr, scales: Ptr, sums: Ptr, x16: Ptr): void
  matvec_q8_f32(out: Ptr, w: Ptr, s: Ptr, rows: number, cols: number, group: number, xq: Ptr, xs: Ptr): void
  matmul_q8_f32(out: Ptr, w: Ptr, s: Ptr, rows: number, cols: number, group: number, xq: Ptr, xs: Ptr, T: number): void
  gather_rows_q8(out: Ptr, w: Ptr, s: Ptr, cols: number, group: number, ids: Ptr, n: number): void
  matvec_q4_f32(out: Ptr, w: Ptr, s: Ptr, rows: number, cols: number, group: number, x: Ptr, xs: Ptr, xsum: Ptr): void
  matmul_q4_f32(out: Ptr, w: Ptr, s: Ptr, rows: number, cols: number, group: number, x: Ptr, xs: Ptr, xsum: Ptr, T: number): void
  gather_rows_q4(out: Ptr, w: Ptr, s: Ptr, cols: number, group: number, ids: Ptr, n: number): void
  rms_norm_f32(out: Ptr, x: Ptr, weight: Ptr, T: number, dim: number, eps: number): void
  rope_f32(x: Ptr, T: number, heads: number, headDim: number, pos0: number, invFreq: Ptr): void
  attention_f32(out: Ptr, q: Ptr, k: Ptr, v: Ptr, keyPos: Ptr, T: number, S: number, nh: number, nkv: number,
    hd: number, vd: number, qpos0: number, M: number, span: number, scores: Ptr): void
  causal_conv_silu_f32(out: Ptr, x: Ptr, state: Ptr, weight: Ptr, bias: Ptr, T: number, E: number, K: number, weightT: Ptr): void
  selective_scan_f32(out: Ptr, state: Ptr, u: Ptr, dt: Ptr, dtBias: Ptr, A: Ptr, B: Ptr, C: Ptr, D: Ptr, z: Ptr,
    T: number, E: number, N: number): void
  silu_mul_f32(out: Ptr, gate: Ptr, up: Ptr, n: number): void
  relu2_f32(out: Ptr, x: Ptr, n: number): void
  add_into_f32(x: Ptr, y: Ptr, n: number): void
  add_bias_f32(x: Ptr, bias: Ptr, T: number, n: number): void
  mean2_f32(out: Ptr, a: Ptr, b: Ptr, n: number): void
  argmax_f32(x: Ptr, n: number): number
}
interface RelaxedExports extends KernelExports {
  relaxed_dot_probe(out: Ptr, a: Ptr, b: Ptr, c: Ptr): void
  sign_split_i8(xq: Ptr, n: number, unit: number, xsign: Ptr, nsum: Ptr): void
  matvec_q8_f32_relaxed(out: Ptr, w: Ptr, s: Ptr, rows: number, cols: number, group: number, xsign: Ptr, xs: Ptr, nsum: Ptr): void
  matmul_q8_f32_relaxed(out: Ptr, w: Ptr, s: Ptr, rows: number, cols: number, group: number, xsign: Ptr, xs: Ptr, nsum: Ptr, T: number): void
  matvec_q4_f32_relaxed: KernelExports['matvec_q4_f32']
  matmul_q4_f32_relaxed: KernelExports['matmul_q4_f32']
  gather_rows_q4_relaxed: KernelExports['gather_rows_q4']
  attention_f32_relaxed: KernelExports['attention_f32']
  selective_scan_f32_relaxed: KernelExports['selective_scan_f32']
}

// (module (func (result v128) v128.const 0 v128.const 0 v128.const 0 i32x4.relaxed_dot_i8x16_i7x16_add_s))
const RELAXED_PROBE_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () → v128
  0x03, 0x02, 0x01, 0x00, // one function of type 0
  0x0a, 0x3d, 0x01, 0x3b, 0x00, // code: one body of 59 bytes, no locals
  ...[0, 1, 2].flatMap(() => [0xfd, 0x0c, ...new Array<number>(16).fill(0)]),
  0xfd, 0x93, 0x02, // i32x4.relaxed_dot_i8x16_i7x16_add_s (0xfd 0x113)
  0x0b,
])

/** Whether this engine accepts relaxed SIMD (Node 20: only with --experimental-wasm-relaxed-simd). */
export function relaxedSimdSupported(): boolean {
  try {
    return WebAssembly.validate(RELAXED_PROBE_MODULE)
  } catch {
    return false // an embedder that refuses to look at bytes at all: plain SIMD
  }
}

/** Node: reads and compiles the modules next to this file, then as createWasmKernelsFromModules. */
export async function createWasmKernels(options: WasmKernelOptions = {}): Promise<Kernels> {
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule
  if (!getBuiltin) {
    throw new Error('createWasmKernels reads files with node:fs; elsewhere import the .wasm modules and call createWasmKernelsFromModules')
  }
  const fs = getBuiltin('node:fs') as typeof import('node:fs')
  const compile = (name: string) => WebAssembly.compile(fs.readFileSync(new URL(name, import.meta.url)))
  const wantRelaxed = options.relaxed ?? 'auto'
  const relaxed = wantRelaxed !== false && relaxedSimdSupported() ? await compile('./kernels-relaxed.wasm') : undefined
  return createWasmKernelsFromModules({ simd: await compile('./kernels-simd.wasm'), relaxed }, options)
}

/**
 * Instantiates the backend. relaxed 'auto' uses the relaxed module when the engine validates relaxed
 * SIMD and the module's probe computes the right dot product (it does not under Node 20's Liftoff),
 * otherwise the plain one; true throws instead of falling back.
 */
export async function createWasmKernelsFromModules(
  modules: WasmKernelModules,
  options: WasmKernelOptions = {},
): Promise<Kernels> {
  const memoryBytes = options.memoryBytes ?? DEFAULT_MEMORY_BYTES
  const pages = Math.ceil(memoryBytes / PAGE)
  if (!(pages >= 1 && pages <= 65536)) throw new RangeError(`memoryBytes ${memoryBytes} is outside 64 KiB .. 4 GiB`)
  const want = options.relaxed ?? 'auto'
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages })
  const instantiate = async (module: WebAssembly.Module) =>
    (await WebAssembly.instantiate(module, { env: { memory } })).exports as unknown as KernelExports

  if (want !== false) {
    const problem = !relaxedSimdSupported()
      ? 'this engine does not support relaxed SIMD'
      : !modules.relaxed
        ? 'no relaxed module was given'
        : undefined
    if (problem === undefined && modules.relaxed) {
      const exports = (await instantiate(modules.relaxed)) as RelaxedExports
      const error = probeRelaxedDot(exports, memory)
      if (error === undefined) return new WasmKernels(exports, memory, true)
      if (want === true) throw new Error(`relaxed SIMD requested but ${error}`)
    } else if (want === true) throw new Error(`relaxed SIMD requested but ${problem}`)
  }
  return new WasmKernels(await instantiate(modules.simd), memory, false)
}

/** Runs the relaxed dot on known inputs (scratch above the static data); undefined when correct. */
function probeRelaxedDot(exports: RelaxedExports, memory: WebAssembly.Memory): string | undefined {
  const base = Math.ceil(exports.heap_base() / 64) * 64
  const a = new Int8Array(memory.buffer, base, 16)
  const b = new Int8Array(memory.buffer, base + 16, 16)
  const c = new Int32Array(memory.buffer, base + 32, 4)
  const out = new Int32Array(memory.buffer, base + 48, 4)
  for (let i = 0; i < 16; i++) {
    a[i] = ((i * 37) % 255) - 127
    b[i] = (i * 29) % 128
  }
  c.set([1000, -2000, 3000, -4000])
  exports.relaxed_dot_probe(base + 48, base, base + 16, base + 32)
  for (let lane = 0; lane < 4; lane++) {
    let expected = c[lane]
    for (let j = 0; j < 4; j++) expected += a[4 * lane + j] * b[4 * lane + j]
    if (out[lane] !== expected) {
      return `the relaxed dot product is miscompiled here (lane ${lane}: ${out[lane]}, expected ${expected}; Node: add --no-liftoff)`
    }
  }
  new Uint8Array(memory.buffer, base, 64).fill(0)
  return undefined
}

class WasmMatrix implements Matrix {
  constructor(
    readonly owner: WasmKernels,
    readonly rows: number,
    readonly cols: number,
    readonly format: MatrixSource['format'],
    readonly bytes: number,
    readonly group: number, // columns per scale (q8, q4); 0 for f32
    readonly weights: Ptr,
    readonly scales: Ptr, // 0 for f32
  ) {}
}

type View = Float32Array | Int32Array

/**
 * Scratch of one call (quantised activations, attention scores, staged copies) up to this size comes
 * from one block reserved at start-up instead of the allocator: a decode step makes a few hundred
 * calls, and two allocator round trips each were a tenth of its JS time.
 */
const CALL_ARENA_BYTES = 256 * 1024
const CALL_ALIGN = 64 // a cache line, as the allocator's

/**
 * One kernel call's view of its arguments: pointers for buffers in wasm memory, temporary copies for
 * the others (copied back for outputs and updated state once the kernel has run), and the call's
 * scratch. Temporaries come from the backend's call arena (calls never nest, so it is all free again
 * at every call's start), those that do not fit from the allocator.
 */
class Staging {
  private arenaUsed = 0
  // created on first use: most calls (decode) have every buffer in wasm memory already
  private temps: Ptr[] | null = null
  private copyBack: Array<() => void> | null = null

  constructor(private readonly k: WasmKernels) {}

  private place(a: View, n: number, what: string, copyIn: boolean, copyOut: boolean): Ptr {
    if (a.length < n) throw new RangeError(`${what}: ${a.length} elements, needs ${n}`)
    if (a.buffer === this.k.heap) return a.byteOffset
    const p = this.scratch(n * 4)
    const view = a instanceof Int32Array ? new Int32Array(this.k.heap, p, n) : new Float32Array(this.k.heap, p, n)
    if (copyIn) view.set(a.subarray(0, n))
    if (copyOut) (this.copyBack ??= []).push(() => (a as Float32Array).set(view as Float32Array))
    return p
  }

  input(a: View, n: number, what: string): Ptr {
    return this.place(a, n, what, true, false)
  }
  output(a: Float32Array, n: number, what: string): Ptr {
    return this.place(a, n, what, false, true)
  }
  inout(a: Float32Array, n: number, what: string): Ptr {
    return this.place(a, n, what, true, true)
  }
  scratch(bytes: number): Ptr {
    const size = Math.ceil(bytes / CALL_ALIGN) * CALL_ALIGN
    if (this.arenaUsed + size <= this.k.callArenaBytes) {
      const p = this.k.callArena + this.arenaUsed
      this.arenaUsed += size
      return p
    }
    const p = this.k.allocator.alloc(bytes)
    this.temps ??= []
    this.temps.push(p)
    return p
  }

  finish(ok: boolean): void {
    if (ok && this.copyBack) for (const copy of this.copyBack) copy()
    if (this.temps) for (const p of this.temps) this.k.allocator.release(p)
  }
}

class WasmKernels implements Kernels {
  readonly name: string
  readonly allocator: Allocator
  /** memory.buffer, read once: the memory never grows (allocator.ts), and the getter is a call into V8. */
  readonly heap: ArrayBuffer
  /** The block Staging hands out as one call's scratch: CALL_ARENA_BYTES, less in a small memory. */
  readonly callArena: Ptr
  readonly callArenaBytes: number

  constructor(
    private readonly x: KernelExports,
    memory: WebAssembly.Memory,
    private readonly relaxed: boolean,
  ) {
    this.name = relaxed ? 'wasm-relaxed-simd' : 'wasm-simd'
    this.heap = memory.buffer
    this.allocator = new Allocator(x.heap_base(), this.heap.byteLength, CALL_ALIGN)
    this.callArenaBytes = Math.min(CALL_ARENA_BYTES, Math.floor(this.allocator.freeBytes() / 64 / CALL_ALIGN) * CALL_ALIGN)
    this.callArena = this.allocator.alloc(this.callArenaBytes)
  }

  private run(body: (s: Staging) => void): void {
    const s = new Staging(this)
    let ok = false
    try {
      body(s)
      ok = true
    } finally {
      s.finish(ok)
    }
  }

  alloc(length: number): Float32Array {
    const p = this.allocator.alloc(length * 4)
    const view = new Float32Array(this.heap, p, length)
    view.fill(0)
    return view
  }

  free(buffer: Float32Array): void {
    if (buffer.buffer !== this.heap) throw new Error('free: buffer was not allocated by this backend')
    this.allocator.release(buffer.byteOffset)
  }

  prepareMatrix(source: MatrixSource): Matrix {
    const { rows, cols } = source
    if (source.format === 'f32') {
      if (source.data.length < rows * cols) throw new RangeError(`prepareMatrix: f32 data has ${source.data.length} of ${rows * cols} floats`)
      const floats = f32Floats(rows, cols)
      const p = this.allocator.alloc(floats * 4)
      const dst = new Float32Array(this.heap, p, floats)
      dst.fill(0)
      packF32(source.data, rows, cols, dst)
      return new WasmMatrix(this, rows, cols, 'f32', floats * 4, 0, p, 0)
    }
    const { group } = source
    if (!(Number.isInteger(group) && group > 0 && cols % group === 0)) {
      throw new RangeError(`prepareMatrix: ${source.format} group ${group} must divide cols ${cols}`)
    }
    if (source.format === 'q4' && group !== 32 && group !== 64) {
      throw new RangeError(`prepareMatrix: q4 groups must be 32 or 64 columns, got ${group}`)
    }
    const sFloats = scaleFloats(rows, cols, group)
    const wBytes = source.format === 'q8' ? q8Bytes(rows, cols, group) : q4Bytes(rows, cols)
    const wp = this.allocator.alloc(wBytes)
    let sp: Ptr
    try {
      sp = this.allocator.alloc(sFloats * 4)
    } catch (e) {
      this.allocator.release(wp)
      throw e
    }
    const scales = new Float32Array(this.heap, sp, sFloats)
    scales.fill(0)
    if (source.format === 'q8') {
      const dst = new Int8Array(this.heap, wp, wBytes)
      dst.fill(0)
      packQ8(source, dst, scales)
    } else {
      const dst = new Uint8Array(this.heap, wp, wBytes)
      dst.fill(0)
      packQ4(source, dst, scales, this.relaxed ? 'row-lanes' : 'column-halves')
    }
    return new WasmMatrix(this, rows, cols, source.format, wBytes + sFloats * 4, group, wp, sp)
  }

  private own(w: Matrix): WasmMatrix {
    if (!(w instanceof WasmMatrix) || w.owner !== this) throw new TypeError('matrix was not prepared by this wasm backend')
    return w
  }

  matmul(out: Float32Array, x: Float32Array, w: Matrix, T: number): void {
    const m = this.own(w)
    const { rows, cols, group } = m
    if (T === 0) return
    this.run((s) => {
      const o = s.output(out, T * rows, 'matmul out')
      const xp = s.input(x, T * cols, 'matmul x')
      if (m.format === 'f32') {
        if (T === 1) this.x.matvec_f32(o, m.weights, rows, cols, xp)
        else this.x.matmul_f32(o, m.weights, rows, cols, xp, T)
        return
      }
      // int8 activations, one scale and Σq per unit of 32 or 64 (padded) columns: kernels/quantize.ts
      const gp = m.format === 'q8' ? q8GroupPadded(group) : group
      const padded = (cols / group) * gp
      const unit = activationUnit(gp)
      const unitBytes = (T * padded / unit) * 4 // one f32 scale, or one i32 sum, per unit
      const xs = s.scratch(unitBytes)
      const xsum = s.scratch(unitBytes)
      const xq = s.scratch(T * padded)
      const x16 = m.format === 'q4' && !this.relaxed ? s.scratch(T * padded * 2) : 0
      this.x.quantize_rows_i8(xp, T, cols, group, xq, xs, xsum, x16)
      const r = this.x as RelaxedExports
      if (m.format === 'q8' && this.relaxed) {
        // |x| and the sign masks once per call (kernels/matmul_q8.ts sign_split_i8); xsum is reused for Σ_{x<0} |x|
        const xsign = s.scratch(T * padded * 2)
        r.sign_split_i8(xq, T * padded, unit, xsign, xsum)
        if (T === 1) r.matvec_q8_f32_relaxed(o, m.weights, m.scales, rows, cols, group, xsign, xs, xsum)
        else r.matmul_q8_f32_relaxed(o, m.weights, m.scales, rows, cols, group, xsign, xs, xsum, T)
      } else if (m.format === 'q8') {
        if (T === 1) r.matvec_q8_f32(o, m.weights, m.scales, rows, cols, group, xq, xs)
        else r.matmul_q8_f32(o, m.weights, m.scales, rows, cols, group, xq, xs, T)
      } else {
        const xin = this.relaxed ? xq : x16
        if (T === 1) (this.relaxed ? r.matvec_q4_f32_relaxed : r.matvec_q4_f32)(o, m.weights, m.scales, rows, cols, group, xin, xs, xsum)
        else (this.relaxed ? r.matmul_q4_f32_relaxed : r.matmul_q4_f32)(o, m.weights, m.scales, rows, cols, group, xin, xs, xsum, T)
      }
    })
  }

  gatherRows(out: Float32Array, w: Matrix, ids: ArrayLike<number>): void {
    const m = this.own(w)
    const n = ids.length
    if (n === 0) return
    this.run((s) => {
      const o = s.output(out, n * m.cols, 'gatherRows out')
      const idp = s.scratch(n * 4)
      const idView = new Int32Array(this.heap, idp, n)
      for (let i = 0; i < n; i++) {
        const id = ids[i]
        if (!(Number.isInteger(id) && id >= 0 && id < m.rows)) throw new RangeError(`gatherRows: id ${id} outside 0..${m.rows - 1}`)
        idView[i] = id
      }
      if (m.format === 'f32') this.x.gather_rows_f32(o, m.weights, m.cols, idp, n)
      else if (m.format === 'q8') this.x.gather_rows_q8(o, m.weights, m.scales, m.cols, m.group, idp, n)
      else (this.relaxed ? (this.x as RelaxedExports).gather_rows_q4_relaxed : this.x.gather_rows_q4)(o, m.weights, m.scales, m.cols, m.group, idp, n)
    })
  }

  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, T: number, dim: number, eps: number): void {
    this.run((s) => {
      const xp = s.input(x, T * dim, 'rmsNorm x')
      const wp = s.input(weight, dim, 'rmsNorm weight')
      this.x.rms_norm_f32(s.output(out, T * dim, 'rmsNorm out'), xp, wp, T, dim, eps)
    })
  }

  rope(x: Float32Array, T: number, heads: number, headDim: number, pos0: number, invFreq: Float32Array): void {
    if (headDim % 2 !== 0) throw new RangeError(`rope: odd headDim ${headDim}`)
    this.run((s) => {
      const f = s.input(invFreq, headDim / 2, 'rope invFreq')
      this.x.rope_f32(s.inout(x, T * heads * headDim, 'rope x'), T, heads, headDim, pos0, f)
    })
  }

  attention(out: Float32Array, q: Float32Array, keys: Float32Array, values: Float32Array, keyPos: Int32Array, shape: AttentionShape): void {
    const { queries: T, keys: S, heads, kvHeads, headDim, valueDim, queryPos0, metaTokens, span } = shape
    if (heads % kvHeads !== 0) throw new RangeError(`attention: ${heads} heads are not a multiple of ${kvHeads} kv heads`)
    this.run((s) => {
      const qp = s.input(q, T * heads * headDim, 'attention q')
      const kp = s.input(keys, S * kvHeads * headDim, 'attention keys')
      const vp = s.input(values, S * kvHeads * valueDim, 'attention values')
      const pp = s.input(keyPos, S, 'attention keyPos')
      const o = s.output(out, T * heads * valueDim, 'attention out')
      const spanI32 = Math.min(span, 0x7fffffff) // Infinity (global layers) → i32 max
      const attention = this.relaxed ? (this.x as RelaxedExports).attention_f32_relaxed : this.x.attention_f32
      attention(o, qp, kp, vp, pp, T, S, heads, kvHeads, headDim, valueDim, queryPos0, metaTokens, spanI32, s.scratch(heads * S * 4))
    })
  }

  causalConv(out: Float32Array, x: Float32Array, state: Float32Array, weight: Float32Array, bias: Float32Array | null,
    T: number, channels: number, kernel: number): void {
    this.run((s) => {
      const xp = s.input(x, T * channels, 'causalConv x')
      const wp = s.input(weight, channels * kernel, 'causalConv weight')
      const bp = bias ? s.input(bias, channels, 'causalConv bias') : 0
      const st = s.inout(state, kernel * channels, 'causalConv state')
      const o = s.output(out, T * channels, 'causalConv out')
      this.x.causal_conv_silu_f32(o, xp, st, wp, bp, T, channels, kernel, s.scratch(kernel * channels * 4))
    })
  }

  selectiveScan(out: Float32Array, state: Float32Array, u: Float32Array, dt: Float32Array, dtBias: Float32Array,
    A: Float32Array, B: Float32Array, C: Float32Array, D: Float32Array, z: Float32Array,
    T: number, channels: number, stateDim: number): void {
    const TE = T * channels
    const scan = this.relaxed ? (this.x as RelaxedExports).selective_scan_f32_relaxed : this.x.selective_scan_f32
    this.run((s) => {
      scan(
        s.output(out, TE, 'selectiveScan out'),
        s.inout(state, channels * stateDim, 'selectiveScan state'),
        s.input(u, TE, 'selectiveScan u'),
        s.input(dt, TE, 'selectiveScan dt'),
        s.input(dtBias, channels, 'selectiveScan dtBias'),
        s.input(A, channels * stateDim, 'selectiveScan A'),
        s.input(B, T * stateDim, 'selectiveScan B'),
        s.input(C, T * stateDim, 'selectiveScan C'),
        s.input(D, channels, 'selectiveScan D'),
        s.input(z, TE, 'selectiveScan z'),
        T, channels, stateDim)
    })
  }

  siluMul(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
    this.run((s) => {
      const g = s.input(gate, n, 'siluMul gate')
      const u = s.input(up, n, 'siluMul up')
      this.x.silu_mul_f32(s.output(out, n, 'siluMul out'), g, u, n)
    })
  }

  relu2(out: Float32Array, x: Float32Array, n: number): void {
    this.run((s) => {
      const xp = s.input(x, n, 'relu2 x')
      this.x.relu2_f32(s.output(out, n, 'relu2 out'), xp, n)
    })
  }

  addInto(x: Float32Array, y: Float32Array, n: number): void {
    this.run((s) => {
      const yp = s.input(y, n, 'addInto y')
      this.x.add_into_f32(s.inout(x, n, 'addInto x'), yp, n)
    })
  }

  addBias(x: Float32Array, bias: Float32Array, T: number, n: number): void {
    this.run((s) => {
      const bp = s.input(bias, n, 'addBias bias')
      this.x.add_bias_f32(s.inout(x, T * n, 'addBias x'), bp, T, n)
    })
  }

  mean2(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
    this.run((s) => {
      const ap = s.input(a, n, 'mean2 a')
      const bp = s.input(b, n, 'mean2 b')
      this.x.mean2_f32(s.output(out, n, 'mean2 out'), ap, bp, n)
    })
  }

  argmax(x: Float32Array, n: number): number {
    if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`argmax: needs n ≥ 1, got ${n}`)
    let best = 0
    this.run((s) => {
      best = this.x.argmax_f32(s.input(x, n, 'argmax x'), n)
    })
    return best
  }
}
