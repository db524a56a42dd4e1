// The webgpu backend's batch normalization, forward beside backward (kernels/norm.ts; reference batchNorm
// and batchNormBackward). Training: per-(channel, group) statistics, a per-channel fold that also updates
// the running statistics in place, then a normalize pass; eval: the running statistics. The backward
// needs sum(dy) and sum(dy·(x - mean)) per channel, folded the same way, then one dx pass. Everything
// runs in f32 whatever the conv/linear precision. Where x exceeds one storage binding, every pass works
// on chunks of whole images (a chunk holds whole groups, so the fold sees the same groups either way).
import type { BatchNormParams, OpContext } from "../backend.js";
import { batchNormShape, checkSameShape } from "../shapes.js";
import { GpuError, Params, grid1d } from "./device.js";
import { type GpuStorage, type KernelHost, batchChunk } from "./host.js";
import {
  BN_BACKWARD_DX, BN_BACKWARD_FINALIZE, BN_BACKWARD_PARTIAL, BN_EVAL_STATS, BN_FINALIZE, BN_NORMALIZE, BN_STATS,
} from "./kernels/norm.js";

/** What batchNorm saves: the (3, C) mean (hi, lo) and 1/std it normalized with (kernels/norm.ts), and the mode. */
export interface BatchNormContext extends OpContext {
  stats: GpuStorage;
  training: boolean;
}

/** How the batch is cut: images per group, images per chunk (a multiple of ipg), number of groups. */
interface Plan {
  N: number;
  C: number;
  S: number;
  ipg: number;
  chunkImgs: number;
  groups: number;
}

/** Enough (channel, group) workgroups to fill a GPU (about 512) while each group keeps >= ~1024 values. */
function plan(host: KernelHost, x: readonly number[], what: string): Plan {
  const [N, C] = [x[0]!, x[1]!];
  const S = x.length === 4 ? x[2]! * x[3]! : 1;
  if (C > host.ctx.limits.maxComputeWorkgroupsPerDimension) {
    throw new GpuError(`${what}: ${C} channels exceed this GPU's ${host.ctx.limits.maxComputeWorkgroupsPerDimension} workgroups per dimension`);
  }
  const chunk = batchChunk(host, what, N, { input: C * S });
  const target = Math.max(1, Math.min(N, Math.ceil(512 / C), Math.floor((N * S) / 1024)));
  const ipg = Math.min(Math.ceil(N / target), chunk);
  const chunkImgs = Math.floor(chunk / ipg) * ipg;
  return { N, C, S, ipg, chunkImgs, groups: Math.ceil(N / ipg) };
}

/** Runs `fn(n0, nb)` over chunks of whole images. */
function forImageChunks(pl: Plan, fn: (n0: number, nb: number) => void): void {
  for (let n0 = 0; n0 < pl.N; n0 += pl.chunkImgs) fn(n0, Math.min(pl.chunkImgs, pl.N - n0));
}

/** Per-(channel, group) partial sums of `code` (BN_STATS: 3 per slot, BN_BACKWARD_PARTIAL: 2) into a
 * (groups, C, width) buffer. */
function groupPass(
  host: KernelHost, pl: Plan, code: string, width: number, a: GpuStorage, b: GpuStorage | null, extra: GpuStorage[], what: string,
): GpuStorage {
  const partial = host.alloc([pl.groups, pl.C, width], what);
  const pv = host.view(partial, 0, pl.groups * pl.C * width, what);
  const per = pl.C * pl.S;
  const extraViews = extra.map((s) => host.view(s, 0, s.shape.reduce((u, v) => u * v, 1), what));
  forImageChunks(pl, (n0, nb) => {
    const av = host.view(a, n0 * per, nb * per, what);
    const bv = b ? host.view(b, n0 * per, nb * per, what) : null;
    const groups = Math.ceil(nb / pl.ipg);
    const params = new Params().u32(pl.C, pl.S, nb, pl.ipg, n0 / pl.ipg, av.shift, bv?.shift ?? 0, 0).bytes();
    host.ctx.dispatch(code, params, [av, ...(bv ? [bv] : []), ...extraViews, pv], [pl.C, groups, 1]);
  });
  return partial;
}

/** The uniform of the per-channel kernels. */
function channelParams(pl: Plan, momentum: number, eps: number): ArrayBuffer {
  return new Params().u32(pl.C, pl.groups, pl.ipg, pl.N, pl.S, 0).f32(momentum, eps).bytes();
}

function whole(host: KernelHost, s: GpuStorage, what: string) {
  return host.view(s, 0, s.shape.reduce((u, v) => u * v, 1), what);
}

/** x (N,C[,H,W]) -> y like x, normalized per channel (ReLU'd when `relu`); see Backend.batchNorm. */
export function batchNorm(
  host: KernelHost, x: GpuStorage, weight: GpuStorage, bias: GpuStorage, runningMean: GpuStorage, runningVar: GpuStorage,
  p: BatchNormParams, relu: boolean,
): { y: GpuStorage; ctx: BatchNormContext } {
  const C = weight.shape[0]!;
  batchNormShape(x.shape, C, p.training);
  for (const [name, s] of [["bias", bias], ["running_mean", runningMean], ["running_var", runningVar]] as const) {
    checkSameShape(`batchNorm ${name}`, s.shape, [C]);
  }
  const what = `batchNorm of x [${x.shape.join(", ")}]`;
  const pl = plan(host, x.shape, what);
  const stats = host.alloc([3, C], what);
  const chGrid = grid1d(Math.ceil(C / 64));
  if (p.training) {
    const partial = groupPass(host, pl, BN_STATS, 3, x, null, [], what);
    host.ctx.dispatch(BN_FINALIZE, channelParams(pl, p.momentum, p.eps),
      [whole(host, partial, what), whole(host, stats, what), whole(host, runningMean, what), whole(host, runningVar, what)], chGrid);
    host.dispose(partial);
  } else {
    host.ctx.dispatch(BN_EVAL_STATS, channelParams(pl, p.momentum, p.eps),
      [whole(host, runningMean, what), whole(host, runningVar, what), whole(host, stats, what)], chGrid);
  }
  const y = host.alloc(x.shape, what);
  const per = pl.C * pl.S;
  const small = [whole(host, stats, what), whole(host, weight, what), whole(host, bias, what)];
  forImageChunks(pl, (n0, nb) => {
    const xv = host.view(x, n0 * per, nb * per, what);
    const yv = host.view(y, n0 * per, nb * per, what);
    const n = nb * per;
    const params = new Params().u32(n, xv.shift, yv.shift, pl.C, pl.S, relu ? 1 : 0, 0, 0).bytes();
    host.ctx.dispatch(BN_NORMALIZE, params, [xv, ...small, yv], grid1d(Math.ceil(n / 256)));
  });
  const ctx: BatchNormContext = { stats, training: p.training, dispose: () => host.dispose(stats) };
  return { y, ctx };
}

/** dy like x -> dx like x, dweight (C), dbias (C), in the mode the forward ran in. */
export function batchNormBackward(
  host: KernelHost, dy: GpuStorage, x: GpuStorage, weight: GpuStorage, ctx: BatchNormContext,
): { dx: GpuStorage; dweight: GpuStorage; dbias: GpuStorage } {
  checkSameShape("batchNormBackward dy", dy.shape, x.shape);
  const C = x.shape[1] ?? 0;
  checkSameShape("batchNormBackward weight", weight.shape, [C]);
  const what = `batchNorm backward of x [${x.shape.join(", ")}]`;
  const pl = plan(host, x.shape, what);
  const partial = groupPass(host, pl, BN_BACKWARD_PARTIAL, 2, dy, x, [ctx.stats], what);
  const dweight = host.alloc([C], what);
  const dbias = host.alloc([C], what);
  const st = whole(host, ctx.stats, what);
  host.ctx.dispatch(BN_BACKWARD_FINALIZE, channelParams(pl, 0, 0),
    [whole(host, partial, what), st, whole(host, dweight, what), whole(host, dbias, what)], grid1d(Math.ceil(C / 64)));
  host.dispose(partial);
  const dx = host.alloc(x.shape, what);
  const per = pl.C * pl.S;
  const small = [st, whole(host, weight, what), whole(host, dweight, what), whole(host, dbias, what)];
  forImageChunks(pl, (n0, nb) => {
    const dyv = host.view(dy, n0 * per, nb * per, what);
    const xv = host.view(x, n0 * per, nb * per, what);
    const dxv = host.view(dx, n0 * per, nb * per, what);
    const n = nb * per;
    const params = new Params().u32(n, dyv.shift, xv.shift, dxv.shift, pl.C, pl.S, ctx.training ? 1 : 0).f32(pl.N * pl.S).bytes();
    host.ctx.dispatch(BN_BACKWARD_DX, params, [dyv, xv, ...small, dxv], grid1d(Math.ceil(n / 256)));
  });
  return { dx, dweight, dbias };
}
