// The optim namespace, as torch.optim.
export { SGD, type SgdOptions } from "./sgd.js";
