// The onnxruntime-web side of the kernel benchmark (issue 3): one tiny ONNX graph per shape and
// precision (fp32 MatMul, int8 MatMulInteger u8×i8→i32, int4 MatMulNBits block 32, M = 1), written
// as protobuf by hand below, with seeded random weights and inputs. Node-free: scripts/bench-kernels.ts
// runs these graphs in Node, scripts/bench-worker.ts inside workerd.
// Owns: the graphs and the seeded random data. Must not import: onnxruntime-web (each runtime
// brings its own build and wraps `feeds` in its own Tensor), Node built-ins, worker/.

/** Columns per scale of the q4 graphs (MatMulNBits block_size): the int4 bundle default. */
export const GROUP = 32
export type Format = 'f32' | 'q8' | 'q4'

function rand(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (Math.imul(a ^ (a >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0
    return a / 2 ** 32
  }
}
export function randomF32(n: number, seed: number): Float32Array {
  const r = rand(seed)
  const a = new Float32Array(n)
  for (let i = 0; i < n; i++) a[i] = r() - 0.5
  return a
}
export function randomBytes(n: number, seed: number): Uint8Array {
  const r = rand(seed)
  const a = new Uint8Array(n)
  for (let i = 0; i < n; i++) a[i] = (r() * 256) | 0
  return a
}

/** Minimal protobuf writer: varints, length-delimited fields. */
class Proto {
  private readonly parts: Uint8Array[] = []
  private varint(v: number): void {
    const bytes: number[] = []
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80)
      v = Math.floor(v / 0x80)
    }
    bytes.push(v)
    this.parts.push(Uint8Array.from(bytes))
  }
  int(field: number, v: number): this {
    this.varint(field * 8)
    this.varint(v)
    return this
  }
  bytes(field: number, b: Uint8Array): this {
    this.varint(field * 8 + 2)
    this.varint(b.length)
    this.parts.push(b)
    return this
  }
  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s))
  }
  msg(field: number, m: Proto): this {
    return this.bytes(field, m.finish())
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0))
    let o = 0
    for (const p of this.parts) {
      out.set(p, o)
      o += p.length
    }
    return out
  }
}
const ONNX = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6 }
const tensor = (name: string, type: number, dims: number[], raw: ArrayBufferView) => {
  const t = new Proto()
  for (const d of dims) t.int(1, d)
  return t.int(2, type).str(8, name).bytes(9, new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength))
}
const valueInfo = (name: string, type: number, dims: number[]) => {
  const shape = new Proto()
  for (const d of dims) shape.msg(1, new Proto().int(1, d))
  return new Proto().str(1, name).msg(2, new Proto().msg(1, new Proto().int(1, type).msg(2, shape)))
}
function onnxModel(op: string, domain: string, inputs: string[], attrs: Record<string, number>, initializers: Proto[],
  graphInputs: Proto[], output: Proto): Uint8Array {
  const node = new Proto()
  for (const i of inputs) node.str(1, i)
  node.str(2, 'Y').str(3, op).str(4, op)
  for (const [name, value] of Object.entries(attrs)) node.msg(5, new Proto().str(1, name).int(3, value).int(20, 2))
  if (domain) node.str(7, domain)
  const graph = new Proto().msg(1, node).str(2, 'bench')
  for (const t of initializers) graph.msg(5, t)
  for (const g of graphInputs) graph.msg(11, g)
  graph.msg(12, output)
  const model = new Proto().int(1, 8).msg(8, new Proto().str(1, '').int(2, 17))
  if (domain) model.msg(8, new Proto().str(1, domain).int(2, 1))
  return model.msg(7, graph).finish()
}

/** One graph's input A: the data and type to wrap in the runtime's own ort.Tensor (dims [1, cols]). */
export interface OrtFeed {
  type: 'float32' | 'uint8'
  data: Float32Array | Uint8Array
  dims: [number, number]
}

/** The ORT graph for one shape and precision: fp32 MatMul, int8 MatMulInteger, int4 MatMulNBits (block 32). */
export function ortModel(format: Format, rows: number, cols: number): { model: Uint8Array; input: OrtFeed } {
  const K = cols
  const N = rows
  switch (format) {
    case 'f32':
      return {
        model: onnxModel('MatMul', '', ['A', 'B'], {}, [tensor('B', ONNX.FLOAT, [K, N], randomF32(K * N, 5))],
          [valueInfo('A', ONNX.FLOAT, [1, K])], valueInfo('Y', ONNX.FLOAT, [1, N])),
        input: { type: 'float32', data: randomF32(K, 6), dims: [1, K] },
      }
    case 'q8':
      return {
        model: onnxModel('MatMulInteger', '', ['A', 'B'], {}, [tensor('B', ONNX.INT8, [K, N], new Int8Array(randomBytes(K * N, 7).buffer))],
          [valueInfo('A', ONNX.UINT8, [1, K])], valueInfo('Y', ONNX.INT32, [1, N])),
        input: { type: 'uint8', data: randomBytes(K, 8), dims: [1, K] },
      }
    case 'q4':
      return {
        model: onnxModel('MatMulNBits', 'com.microsoft', ['A', 'B', 'scales'], { K, N, bits: 4, block_size: GROUP },
          [tensor('B', ONNX.UINT8, [N, K / GROUP, GROUP / 2], randomBytes((N * K) / 2, 9)),
            tensor('scales', ONNX.FLOAT, [(N * K) / GROUP], randomF32((N * K) / GROUP, 10))],
          [valueInfo('A', ONNX.FLOAT, [1, K])], valueInfo('Y', ONNX.FLOAT, [1, N])),
        input: { type: 'float32', data: randomF32(K, 11), dims: [1, K] },
      }
  }
}

/** One ORT measurement at M = 1 (the bench worker's GET /ort rows): time and speed, or why it failed. */
export interface OrtRow {
  shape: string
  rows: number
  cols: number
  format: Format
  ms?: number
  gflops?: number
  error?: string
  roundGflops?: Array<number | undefined> // each round's speed (scripts/bench.ts KERNEL_ROUNDS)
}
