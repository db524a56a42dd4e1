// Training checkpoints in a run directory, written so that a crash, a kill or a full disk at any moment
// leaves a loadable checkpoint behind:
//
//   runDir/checkpoints/step-000000123/
//     model.safetensors       weights under PyTorch state_dict names (`0.weight`), loadable by load_state_dict
//     optimizer.safetensors   optimizer buffers (`0.weight.momentum_buffer`)
//     state.json              {"step": 123, "state": {...}}: epoch, RNG, data order, metrics, config
//     manifest.json           written last: size and sha256 of the three files, and a sha256 of itself
//   runDir/model.safetensors  the newest weights, for users (a hard link to the checkpoint's file)
//
// The one import for callers. The work is in: checkpointFormat.ts (names, manifest checksums),
// checkpointWrite.ts (atomic writes, pruning, the writability check), checkpointRead.ts (reading and
// verifying one checkpoint) and checkpointLatest.ts (the newest one that verifies; weights for eval).
export { CheckpointError } from "./errors.js";
export type { NamedTensor } from "./safetensors.js";
export { type CheckpointData, type LoadedCheckpoint, checkpointDirName } from "./checkpointFormat.js";
export { checkWritable, publishModel, writeCheckpoint } from "./checkpointWrite.js";
export { readCheckpoint } from "./checkpointRead.js";
export { readLatestCheckpoint, readModelFile, readModelWeights } from "./checkpointLatest.js";
