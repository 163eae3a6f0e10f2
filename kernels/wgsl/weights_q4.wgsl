// Weight loads for int4 matrices (src/backend.ts 'q4'): w = scale · (nibble − 8), eight columns per
// u32, column 2i in the low nibble of byte i; one f32 scale per `group` columns (a multiple of 4).

@group(0) @binding(4) var<storage, read> wdata: array<u32>;
@group(0) @binding(5) var<storage, read> wscales: array<f32>;

fn load_quad(row: u32, quad: u32) -> vec4<f32> {
  let word = wdata[row * w.stride + quad / 2u];
  let half = (word >> ((quad & 1u) * 16u)) & 0xffffu;
  let n = vec4<u32>(half, half >> 4u, half >> 8u, half >> 12u) & vec4<u32>(15u);
  return (vec4<f32>(n) - vec4<f32>(8.0)) * wscales[row * w.groups + (quad * 4u) / w.group];
}
