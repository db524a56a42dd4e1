// A kernel's uniform parameters packed as WGSL lays them out, and a 1-D grid folded under the per-dimension
// workgroup limit: the two small pieces every kernel launch of the webgpu backend uses (device.ts).

/** Bytes of one uniform slot: every launch's parameters fit in it (WGSL's minimum uniform offset alignment). */
export const UNIFORM_SLOT = 256;

/** Packs a kernel's uniform struct: every field 4 bytes (u32, i32 or f32), in declaration order. */
export class Params {
  private readonly view = new DataView(new ArrayBuffer(UNIFORM_SLOT));
  private n = 0;

  u32(...values: number[]): this {
    for (const v of values) this.view.setUint32(4 * this.n++, v >>> 0, true);
    return this;
  }

  i32(...values: number[]): this {
    for (const v of values) this.view.setInt32(4 * this.n++, v | 0, true);
    return this;
  }

  f32(...values: number[]): this {
    for (const v of values) this.view.setFloat32(4 * this.n++, v, true);
    return this;
  }

  /** The packed bytes, padded to WGSL's 16-byte struct alignment. */
  bytes(): ArrayBuffer {
    return this.view.buffer.slice(0, Math.max(16, Math.ceil((4 * this.n) / 16) * 16));
  }
}

/** A 1-D grid of `groups` workgroups folded into x and y so that it stays under the per-dimension limit;
 * kernels rebuild the linear id as x + y * num_workgroups.x. */
export function grid1d(groups: number, maxPerDim = 65535): [number, number, number] {
  if (groups <= maxPerDim) return [Math.max(groups, 0), 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y, 1];
}
