// IEEE half precision for f16 bundles: float32 → f16 bits (round to nearest even) at conversion,
// f16 bits → float32 (exact) at load. Must not import: anything (leaf module).

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** The f16 bit pattern nearest to x (ties to even); overflow gives ±Infinity, NaN stays NaN. */
export function toHalfBits(x: number): number {
  f32[0] = x
  const bits = u32[0]
  const sign = (bits >>> 16) & 0x8000
  const exponent = (bits >>> 23) & 0xff
  const mantissa = bits & 0x7fffff
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0)
  const e = exponent - 127 + 15 // rebias
  if (e >= 31) return sign | 0x7c00
  if (e <= 0) {
    // subnormal half (or zero): value = m · 2^−24 with the implicit bit made explicit
    if (e < -10) return sign
    const full = mantissa | 0x800000
    const shift = 14 - e // 13 mantissa bits plus the exponent deficit
    return sign | roundShift(full, shift)
  }
  // normal: 23 → 10 mantissa bits; a carry out of the mantissa bumps the exponent (correctly)
  return sign | ((e << 10) + roundShift(mantissa, 13))
}

/** value >> shift, rounded to nearest, ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift
  const rest = value - kept * 2 ** shift
  const half = 2 ** (shift - 1)
  return rest > half || (rest === half && kept & 1) ? kept + 1 : kept
}

/** Widen f16 bits to float32, exactly. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exponent = (h >> 10) & 0x1f
  const mantissa = h & 0x3ff
  if (exponent === 0) return sign * mantissa * 2 ** -24
  if (exponent === 31) return mantissa ? NaN : sign * Infinity
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
}

export function encodeHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length)
  for (let i = 0; i < values.length; i++) out[i] = toHalfBits(values[i])
  return out
}

export function decodeHalf(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length)
  for (let i = 0; i < bits.length; i++) out[i] = fromHalfBits(bits[i])
  return out
}
