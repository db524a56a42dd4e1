// `alexnet train`: d2l's train_ch6 on Fashion-MNIST for any model (--model: the zoo's, or a file), with the
// model's recipe as defaults (AlexNet: variant 224, 10 epochs, lr 0.01, batch 128; plain SGD, Xavier-uniform
// init) and each flag overriding, live progress, metrics and plots in a run directory,
// atomic checkpoints, resume, and a clean stop on Ctrl-C or a diverging loss.
import { existsSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Backend, Precision } from "../backend/backend.js";
import { ALEXNET_VARIANTS, initWeights, type AlexNetVariant } from "../models/alexnet.js";
import { DataLoader } from "../data/loader.js";
import { loadSplit } from "../data/dataset.js";
import { datasetSpec, describeDatasetSource } from "../data/datasets.js";
import { DATASET_FLAG, datasetFromFlags } from "./data.js";
import { SGD } from "../optim/sgd.js";
import { manualSeed } from "../tensor/random.js";
import { DivergedError, finalLines, initialTrainState, trainCh6, type TrainState } from "../train/trainer.js";
import { Progress } from "./progress.js";
import { RunDirectory, defaultRunDir, readConfig, writeConfig, writeResult } from "../train/runDir.js";
import { countParameters, macsPerExample } from "../models/trace.js";
import { checkWritable, publishModel, readLatestCheckpoint, writeCheckpoint } from "../checkpoint/checkpoint.js";
import { restoreTraining, snapshot } from "../train/snapshot.js";
import { type Command, type FlagSpecs, type ParsedFlags, defineCommand, UsageError } from "./args.js";
import { BACKEND_FLAGS, selectBackend } from "./backendFlags.js";
import { type ModelChoice, buildChecked, buildMeta, chooseFromFlags, chooseModel, MODEL_FLAGS, modelMetadata, trainInput } from "./modelChoice.js";
import { packageVersion } from "../packageRoot.js";
import { PREPROCESS_FLAGS, type PreprocessSettings, applyDropout, describePreprocess, preprocessFromFlags, savedPreprocess } from "./preprocessFlags.js";
// --distributed (issue 17): every use below is marked "distributed:".
import { DISTRIBUTED_FLAGS, describeWorld, rankZeroValue, shardDataset, silentStream, startDistributed } from "./distributed.js";
import { codeVersion, dataChecksum } from "../distributed/settings.js";
import { unsplittable } from "../distributed/sampler.js";

export const TRAIN_FLAGS: FlagSpecs = {
  ...MODEL_FLAGS,
  variant: { type: "string", choices: ALEXNET_VARIANTS, help: "AlexNet's: 224 (Fashion-MNIST resized, d2l; the default) or 28 (no resize)" },
  epochs: { type: "int", min: 1, help: "epochs (default: the model's recipe, `alexnet models`)" },
  lr: { type: "number", min: 0, help: "learning rate (default: the model's recipe)" },
  "batch-size": { type: "int", min: 1, help: "batch size (default: the model's recipe)" },
  resize: { type: "int", min: 1, help: "resize images to N x N (default: the model's recipe; 28 is no resize)" },
  momentum: { type: "number", min: 0, default: 0, help: "SGD momentum" },
  "weight-decay": { type: "number", min: 0, default: 0, help: "SGD weight decay" },
  seed: { type: "int", min: 0, default: 0, help: "seed of initialisation, shuffling and dropout" },
  "width-scale": { type: "number", default: 1, help: "multiply all channel and hidden widths (quick experiments; 1 is d2l's)" },
  "train-limit": { type: "int", min: 1, help: "use only the first N training examples" },
  "test-limit": { type: "int", min: 1, help: "use only the first N test examples" },
  ...DATASET_FLAG,
  "data-dir": { type: "string", help: "use the data set's files in this directory only (missing ones are downloaded into it)" },
  "run-dir": { type: "string", help: "where to write metrics, plots and checkpoints (default runs/<date-time>)" },
  resume: { type: "string", help: "continue the run in this directory from its last complete checkpoint" },
  "checkpoint-every": { type: "int", min: 1, help: "also checkpoint every N steps (default: each epoch end)" },
  "memory-limit": { type: "string", help: "stop with a clear line when the backend's peak memory passes SIZE (e.g. 512M, 2G): a smaller device" },
  ...PREPROCESS_FLAGS,
  plain: { type: "boolean", help: "plain progress lines even on a terminal" },
  ...BACKEND_FLAGS,
  ...DISTRIBUTED_FLAGS,
  help: { type: "boolean", help: "show this help" },
};

/** The settings that define a run (stored in config.json; a resumed run takes them from there). */
interface RunSettings extends PreprocessSettings {
  /** fashion-mnist or mnist (runs from before --dataset: fashion-mnist). */
  dataset: string;
  /** The model: a zoo name or the absolute path of a user's file (runs from before --model: alexnet). */
  model: string;
  /** AlexNet's variant; null for other models. */
  variant: AlexNetVariant | null;
  /** The side images are resized to; null: Fashion-MNIST's 28x28 (runs from before --resize: by variant). */
  resize: number | null;
  epochs: number;
  lr: number;
  batchSize: number;
  momentum: number;
  weightDecay: number;
  seed: number;
  widthScale: number;
  trainLimit: number | null;
  testLimit: number | null;
  /** Compute precision of conv and linear layers (runs from before bf16 have none: fp32). */
  precision: Precision;
}

/** The run's settings: the flags given, the model's recipe for the rest. */
function settingsFromFlags(flags: ParsedFlags, choice: ModelChoice): RunSettings {
  const resize = (flags.resize as number | undefined) ?? choice.recipe.resize;
  return {
    model: choice.record.model,
    dataset: datasetFromFlags(flags).name,
    variant: choice.record.variant ?? null,
    resize: resize === 28 ? null : resize,
    epochs: (flags.epochs as number | undefined) ?? choice.recipe.epochs,
    lr: (flags.lr as number | undefined) ?? choice.recipe.lr,
    batchSize: (flags["batch-size"] as number | undefined) ?? choice.recipe.batchSize,
    momentum: flags.momentum as number,
    weightDecay: flags["weight-decay"] as number,
    seed: flags.seed as number,
    widthScale: choice.record.widthScale ?? 1,
    trainLimit: (flags["train-limit"] as number | undefined) ?? null,
    testLimit: (flags["test-limit"] as number | undefined) ?? null,
    precision: flags.precision as Precision,
    ...preprocessFromFlags(flags),
  };
}

/** config.json is outside data (hand-edited, truncated, from another version): each saved value must pass
 * the same checks as its flag, so a damaged file is one clear line, never a run on strings or NaN. */
function checkSavedValue(where: string, v: unknown, flag: string, optional: boolean): void {
  const spec = TRAIN_FLAGS[flag]!;
  const bad = (what: string): Error => new Error(`config.json: ${where} ${what} (got ${JSON.stringify(v) ?? String(v)})`);
  if (v === null && optional) return;
  if (spec.type === "string") {
    if (typeof v !== "string" || (spec.choices && !spec.choices.includes(v))) throw bad(`must be one of ${spec.choices?.join(", ")}`);
    return;
  }
  if (typeof v !== "number" || !Number.isFinite(v)) throw bad("must be a number");
  if (spec.type === "int" && !Number.isSafeInteger(v)) throw bad("must be a whole number");
  if (spec.min !== undefined && v < spec.min) throw bad(`must be at least ${spec.min}`);
}

function checkSavedSettings(settings: RunSettings): void {
  const keys: [keyof RunSettings, string][] = [
    ["model", "model"], ["variant", "variant"], ["resize", "resize"], ["epochs", "epochs"], ["lr", "lr"], ["batchSize", "batch-size"], ["momentum", "momentum"],
    ["weightDecay", "weight-decay"], ["seed", "seed"], ["widthScale", "width-scale"], ["trainLimit", "train-limit"], ["testLimit", "test-limit"],
    ["precision", "precision"],
  ];
  for (const [key, flag] of keys) checkSavedValue(`settings.${key}`, settings[key], flag, ["trainLimit", "testLimit", "variant", "resize"].includes(key));
}

/** A resumed run keeps its settings; only --epochs may extend it. Other run-defining flags are an error. */
function settingsForResume(argv: string[], flags: ParsedFlags, saved: Record<string, unknown>): RunSettings {
  const settings = saved.settings as RunSettings | undefined;
  if (!settings || typeof settings !== "object" || Array.isArray(settings)) throw new Error("config.json has no settings");
  settings.precision ??= "fp32";
  // Runs from before --model trained AlexNet, resized to 224 for variant 224.
  settings.model ??= "alexnet";
  settings.dataset ??= "fashion-mnist";
  if (settings.resize === undefined) settings.resize = settings.variant === "224" ? 224 : null;
  checkSavedSettings(settings);
  Object.assign(settings, savedPreprocess(settings));
  const given = argv.filter((a) => a.startsWith("--")).map((a) => a.slice(2).split("=")[0]!);
  const conflicting = given.filter((f) => !["resume", "epochs", "device", "backend", "threads", "data-dir", "plain", "checkpoint-every", "distributed", "collective-timeout", "memory-limit"].includes(f));
  if (conflicting.length) throw new UsageError(`--resume continues a run with its own settings; drop --${conflicting.join(", --")}`);
  return { ...settings, epochs: given.includes("epochs") ? (flags.epochs as number) : settings.epochs };
}

/** --checkpoint-every as given, else (on --resume) as the run recorded it; undefined: epoch ends only. */
function checkpointEvery(flags: ParsedFlags, saved: Record<string, unknown> | null): number | undefined {
  const given = flags["checkpoint-every"] as number | undefined;
  if (given !== undefined) return given;
  // Runs from before it was recorded have none: epoch ends only.
  const recorded = saved?.checkpointEvery ?? null;
  checkSavedValue("checkpointEvery", recorded, "checkpoint-every", true);
  return (recorded as number | null) ?? undefined;
}

/** The oneDNN version behind the native backend, for config.json. */
function onednnVersion(backend: Backend): { onednn?: string } {
  const info = (backend as { info?(): { onednn: string } }).info?.();
  return info ? { onednn: info.onednn } : {};
}

/** The run directory this invocation created (the outermost directory of its path that did not exist), and
 * whether a training step has run: a run that fails before its first step (missing data, a refused setting)
 * removes what it created, so no empty run directory is left behind. */
interface RunDirGuard {
  created: string | null;
  started: boolean;
}

/** The outermost missing directory on the way to `dir` (`runs/` itself when it is missing too), or null. */
function outermostMissing(dir: string): string | null {
  let missing: string | null = null;
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing = d;
    if (dirname(d) === d) break;
  }
  return missing;
}

export const trainCommand: Command = defineCommand("train", "[flags]", TRAIN_FLAGS, async ({ flags }, argv) => {
    const dist = startDistributed(flags); // distributed: null in a single process
    const guard: RunDirGuard = { created: null, started: false };
    const removeIfUnstarted = (): void => {
      if (!guard.created || guard.started) return;
      try {
        rmSync(guard.created, { recursive: true, force: true });
      } catch {
        // Cleaning up must never hide why the run failed (e.g. a path under a regular file: ENOTDIR).
      }
    };
    try {
      const code = await train(argv, flags, dist, guard);
      if (code !== 0 && code !== 130) removeIfUnstarted(); // 130: stopped, with a checkpoint to resume from
      dist?.finalize();
      return code;
    } catch (e) {
      removeIfUnstarted();
      // distributed: a failure on one rank only must not wait in a collective the others never join.
      if (dist) dist.abort(1, `alexnet train: rank ${dist.rank}: ${(e as Error).message ?? String(e)}`);
      throw e;
    }
}, { positional: false });

async function train(argv: string[], flags: ParsedFlags, dist: ReturnType<typeof startDistributed>, guard: RunDirGuard): Promise<number> {
  // (A block, so that the body of the former run() keeps its indentation and its diff stays small.)
  {
    const lead = !dist || dist.rank === 0; // distributed: rank 0 owns the run directory and the output
    const resumeDir = flags.resume as string | undefined;
    const saved = resumeDir ? readConfig(resumeDir) : null;
    // The model first: an unknown name or a bad model file fails here, before any directory or data.
    const resumed = saved ? settingsForResume(argv, flags, saved) : null;
    const choice = resumed
      ? await chooseModel({ model: resumed.model, ...(resumed.variant !== null ? { variant: resumed.variant } : {}), widthScale: resumed.widthScale })
      : await chooseFromFlags(flags);
    const settings = resumed ?? settingsFromFlags(flags, choice);
    const memoryLimit = parseMemoryLimit(flags["memory-limit"] as string | undefined);
    const spec = datasetSpec(settings.dataset);
    const input = trainInput(settings.resize);
    // The model takes the data's images and gives 10 scores (else this fails before any work); its size
    // goes into result.json.
    const meta = buildMeta(choice, spec.labels.length, input);
    const size = { params: countParameters(meta).params, macsPerExample: macsPerExample(meta, input) };
    meta.dispose();
    let runDir = resumeDir ?? (flags["run-dir"] as string | undefined) ?? defaultRunDir();
    if (dist) runDir = rankZeroValue(dist, runDir);
    const every = checkpointEvery(flags, saved);
    if (lead && !resumeDir) guard.created = outermostMissing(runDir);
    if (lead) checkWritable(runDir);
    const threads = (flags.threads as number | undefined) ?? dist?.defaultThreads();
    const backend = await selectBackend({ ...flags, threads, precision: settings.precision });
    const log = (msg: string): void => {
      if (lead) console.error(msg); // distributed: rank 0 speaks for the run
    };

    // Data: the loaders draw batches in a worker thread; the 224 variant resizes each batch there.
    const dataOpts = { dataDir: flags["data-dir"] as string | undefined, log };
    const [trainSet, testSet] = [await loadSplit(spec, "train", dataOpts), await loadSplit(spec, "test", dataOpts)];
    const resize = settings.resize ?? undefined;
    const shard = dist ? { rank: dist.rank, worldSize: dist.size } : undefined;
    const normalize = settings.normalize ?? undefined;
    const trainLoader = new DataLoader(trainSet, { batchSize: settings.batchSize, shuffle: true, seed: settings.seed, resize, limit: settings.trainLimit ?? undefined, shard,
      augment: settings.augment ?? undefined, normalize });
    const testTotal = Math.min(settings.testLimit ?? testSet.count, testSet.count);
    if (dist) {
      // distributed: every rank must compute the same run; refused at start-up, by every rank alike.
      const refusal = unsplittable(trainLoader.size, settings.batchSize, dist.size) ??
        (testTotal < dist.size ? `the ${testTotal} test examples cannot be shared by ${dist.size} ranks` : null) ??
        dist.checkSettings({ settings, precision: settings.precision, resume: resumeDir ?? null, code: codeVersion(), data: dataChecksum(trainSet.images, trainSet.labels, testSet.images, testSet.labels) });
      if (refusal) {
        if (lead) console.error(`alexnet train: ${refusal}`);
        dist.finalize();
        return 1;
      }
    }

    const testLoader = dist
      ? new DataLoader(shardDataset(dist, testSet, settings.testLimit ?? undefined), { batchSize: settings.batchSize, shuffle: false, resize, normalize })
      : new DataLoader(testSet, { batchSize: settings.batchSize, shuffle: false, resize, limit: settings.testLimit ?? undefined, normalize });

    manualSeed(settings.seed);
    const net = await buildChecked(choice, spec.labels.length, input).to(backend);
    initWeights(net);
    if (settings.dropout !== null) applyDropout(net, settings.dropout, choice.title);
    const optimizer = new SGD(net.parameters(), { lr: settings.lr, momentum: settings.momentum, weightDecay: settings.weightDecay });
    // What the checkpoints record, so that eval and predict rebuild the network without flags.
    const savedModel = { ...choice.record, inChannels: input[0], classes: spec.labels.length, size: input[1], resize: settings.resize, dataset: spec.name,
      ...(settings.normalize ? { normalize: settings.normalize } : {}) };
    const run = new RunDirectory(runDir);
    let state: TrainState = initialTrainState();
    if (resumeDir) {
      const ckpt = readLatestCheckpoint(runDir, log);
      if (ckpt) {
        state = restoreTraining(net, optimizer, ckpt.data);
        // The run directory's weights are the ones it continues from, whatever a kill left there.
        if (lead) publishModel(runDir, ckpt.dir);
        log(`resuming ${runDir} from ${ckpt.dir}: epoch ${state.epoch + 1}, batch ${state.batch}, step ${state.step}`);
      } else log(`no complete checkpoint in ${runDir}: starting it from the beginning`);
      if (lead) run.resetMetrics(state.points, settings.epochs);
    }
    if (lead) writeConfig(runDir, {
      settings,
      backend: backend.describe(),
      versions: { node: process.versions.node, alexnetTs: packageVersion(), ...onednnVersion(backend) },
      data: { train: trainSet.source, test: testSet.source, trainExamples: trainLoader.size, testExamples: testTotal },
      checkpointEvery: every ?? null,
      ...(dist ? { worldSize: dist.size } : {}),
      started: saved?.started ?? new Date().toISOString(),
    });

    const device = describeWorld(backend.describe(), dist);
    if (lead) console.log(`training ${choice.title} on ${trainLoader.size} examples, testing on ${testTotal}, ` +
      `${settings.epochs} epoch${settings.epochs === 1 ? "" : "s"}, lr ${settings.lr}, batch ${settings.batchSize}${describePreprocess(settings)}, on ${device}; data from ${describeDatasetSource(trainSet)}; run directory ${runDir}`);
    const testBatches = Math.ceil(testLoader.size / settings.batchSize);
    const progress = new Progress({ stream: lead ? process.stderr : silentStream(), epochs: settings.epochs, testBatches, plain: flags.plain === true });
    let interrupted: string | null = null;
    const onSignal = (sig: string) => () => {
      interrupted = sig;
    };
    const handlers = { SIGINT: onSignal("SIGINT"), SIGTERM: onSignal("SIGTERM") };
    process.on("SIGINT", handlers.SIGINT);
    process.on("SIGTERM", handlers.SIGTERM);
    // Fault injection for the device-loss test: the GPU is lost after this step (a GPU backend only).
    const loseDeviceAt = Number(process.env.ALEXNET_SIMULATE_GPU_LOSS ?? NaN);
    const save = async (s: TrainState): Promise<void> => {
      if (lead) writeCheckpoint(runDir, s.step, { ...await snapshot(net, optimizer, s), metadata: modelMetadata(savedModel) });
    };
    const startedAt = performance.now();
    try {
      const result = await trainCh6(net, {
        epochs: settings.epochs, backend, trainLoader, testLoader, optimizer,
        hooks: {
          onStep: (info, s) => {
            guard.started = true;
            progress.step(info);
            if (memoryLimit !== null) checkMemory(backend, memoryLimit, s.step);
            if (s.step === loseDeviceAt) (backend as { simulateDeviceLoss?(reason: string): void }).simulateDeviceLoss?.("simulated by ALEXNET_SIMULATE_GPU_LOSS");
          },
          checkpointEvery: every ?? 0,
          onCheckpoint: save,
          onPoint: (point, s) => lead && run.addPoint(point, s.points, settings.epochs),
          onEpochEnd: async (s) => {
            progress.line(`epoch ${s.epoch}/${settings.epochs}: test acc ${s.lastTestAcc!.toFixed(3)}`);
            await save(s);
          },
          shouldStop: () => interrupted !== null,
        },
        distributed: dist?.hooks(net.parameters(), trainLoader.size, settings.batchSize),
      }, state);
      if (!result.completed) {
        await save(result.state);
        interrupted ??= "SIGTERM"; // distributed: another rank was interrupted
        progress.line(`${interrupted}: stopped after step ${result.state.step}; checkpoint saved. Continue with: alexnet train --resume ${runDir}`);
        return 130;
      }
      if (lead) {
        writeResult(runDir, {
          model: choice.record.model, title: choice.title, ...size, input: [...input], epochs: settings.epochs,
          trainLoss: result.trainLoss, trainAcc: result.trainAcc, testAcc: result.testAcc, examplesPerSec: result.examplesPerSec,
          wallSeconds: (performance.now() - startedAt) / 1000, device, finished: new Date().toISOString(),
          peakBytes: backend.memoryStats().peakBytes ?? null, maxRssBytes: process.resourceUsage().maxRSS * 1024,
        });
        for (const line of finalLines(result, device)) console.log(line);
      }
      return 0;
    } catch (e) {
      if (e instanceof DivergedError || e instanceof MemoryLimitError) {
        progress.line(`alexnet train: ${e.message}`);
        return 1;
      }
      throw e;
    } finally {
      process.off("SIGINT", handlers.SIGINT);
      process.off("SIGTERM", handlers.SIGTERM);
      await Promise.all([trainLoader.close(), testLoader.close()]);
      optimizer.dispose();
      net.dispose();
    }
  }
}

/** The backend's memory passed --memory-limit: the run stops as on a device that small. */
class MemoryLimitError extends Error {}

export function parseMemoryLimit(spec: string | undefined): number | null {
  if (spec === undefined) return null;
  const m = /^(\d+(?:\.\d+)?)([KMG]i?B?)?$/i.exec(spec.trim());
  if (!m || !(Number(m[1]) > 0)) throw new UsageError(`--memory-limit takes a size such as 512M or 2G (got '${spec}')`);
  const unit = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[(m[2] ?? "").charAt(0).toUpperCase() as "" | "K" | "M" | "G"];
  return Math.round(Number(m[1]) * unit);
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function checkMemory(backend: Backend, limit: number, step: number): void {
  const peak = backend.memoryStats().peakBytes;
  if (peak !== undefined && peak > limit) {
    throw new MemoryLimitError(`out of memory: the backend's tensors reached ${mib(peak)} by step ${step}, over --memory-limit ${mib(limit)}`);
  }
}
