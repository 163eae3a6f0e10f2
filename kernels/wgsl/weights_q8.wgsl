// Weight loads for int8 matrices (src/backend.ts 'q8'): four columns per u32, little-endian, one f32
// scale per `group` columns of a row (group is a multiple of 4, so a quad shares one scale).

@group(0) @binding(4) var<storage, read> wdata: array<u32>;
@group(0) @binding(5) var<storage, read> wscales: array<f32>;

fn load_quad(row: u32, quad: u32) -> vec4<f32> {
  let word = wdata[row * w.stride + quad];
  // move each byte to the top, then an arithmetic shift sign-extends it
  let q = vec4<i32>(bitcast<i32>(word << 24u), bitcast<i32>(word << 16u), bitcast<i32>(word << 8u), bitcast<i32>(word)) >> vec4<u32>(24u);
  return vec4<f32>(q) * wscales[row * w.groups + (quad * 4u) / w.group];
}
