// Weight loads for f32 matrices [rows, quads·4] (rows padded with zeros to a multiple of 4 columns).
// Used by matvec.wgsl, matmul.wgsl and gather.wgsl through load_quad(); needs `w: WeightParams`.

@group(0) @binding(4) var<storage, read> wdata: array<vec4<f32>>;

fn load_quad(row: u32, quad: u32) -> vec4<f32> {
  return wdata[row * w.stride + quad];
}
