// A first-fit free-list allocator over a fixed range of wasm linear memory, in bytes.
// Owns: Allocator, KernelOutOfMemory.
// Must not import: anything (the loader owns the memory; this only hands out offsets).
//
// The memory never grows (views handed out by Kernels.alloc would be detached), so running out is
// a hard error with the numbers needed to size `memoryBytes`.

/** Thrown when the backend's fixed linear memory cannot hold a request. */
export class KernelOutOfMemory extends Error {
  override readonly name = 'KernelOutOfMemory'
  constructor(
    readonly requestedBytes: number,
    readonly freeBytes: number,
    readonly largestFreeBytes: number,
    readonly capacityBytes: number,
  ) {
    super(
      `wasm kernels out of memory: asked for ${requestedBytes} B, ${freeBytes} B free ` +
        `(largest block ${largestFreeBytes} B) of ${capacityBytes} B; raise memoryBytes`,
    )
  }
}

interface Block {
  offset: number
  size: number
}

export class Allocator {
  private readonly blocks: Block[] // free blocks, sorted by offset, never adjacent (coalesced)
  private readonly live = new Map<number, number>() // offset → size of every allocated block
  private used = 0
  /** Largest number of bytes ever allocated at once (the high-water mark the benchmark reports). */
  peakBytes = 0

  constructor(
    start: number,
    private readonly end: number,
    private readonly align = 64, // a cache line: v128 loads never split lines inside a buffer
  ) {
    const first = Math.ceil(start / align) * align
    this.blocks = first < end ? [{ offset: first, size: end - first }] : []
  }

  /** Offset of a fresh block of at least `bytes` (rounded up to the alignment; 0 bytes → one unit). */
  alloc(bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`alloc: bad byte count ${bytes}`)
    const size = Math.max(this.align, Math.ceil(bytes / this.align) * this.align)
    for (let i = 0; i < this.blocks.length; i++) {
      const b = this.blocks[i]
      if (b.size < size) continue
      const offset = b.offset
      if (b.size === size) this.blocks.splice(i, 1)
      else {
        b.offset += size
        b.size -= size
      }
      this.live.set(offset, size)
      this.used += size
      if (this.used > this.peakBytes) this.peakBytes = this.used
      return offset
    }
    throw new KernelOutOfMemory(bytes, this.freeBytes(), this.largestFreeBytes(), this.end)
  }

  /** Size of the live block at `offset`, or undefined when none starts there. */
  sizeOf(offset: number): number | undefined {
    return this.live.get(offset)
  }

  /** Returns the block at `offset` (must be a live block start) and merges it with its neighbours. */
  release(offset: number): void {
    const size = this.live.get(offset)
    if (size === undefined) throw new Error(`free: no live block at offset ${offset} (double free or foreign view)`)
    this.live.delete(offset)
    this.used -= size
    let lo = 0
    let hi = this.blocks.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.blocks[mid].offset < offset) lo = mid + 1
      else hi = mid
    }
    const prev = this.blocks[lo - 1]
    const next = this.blocks[lo]
    if (prev && prev.offset + prev.size === offset) {
      prev.size += size
      if (next && offset + size === next.offset) {
        prev.size += next.size
        this.blocks.splice(lo, 1)
      }
    } else if (next && offset + size === next.offset) {
      next.offset = offset
      next.size += size
    } else this.blocks.splice(lo, 0, { offset, size })
  }

  /** Bytes in live blocks now. */
  usedBytes(): number {
    return this.used
  }

  freeBytes(): number {
    return this.blocks.reduce((sum, b) => sum + b.size, 0)
  }

  largestFreeBytes(): number {
    return this.blocks.reduce((m, b) => Math.max(m, b.size), 0)
  }
}
