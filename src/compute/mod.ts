/**
 * denocos compute (pycos's dispycos): ship a module of job functions to
 * compute nodes (`denocos node`), run its exports there as jobs in
 * permission-scoped sandboxes, and talk to them by messages.
 *
 * @example
 * ```ts ignore
 * import { Computation } from "@denocos/denocos/compute";
 *
 * const comp = new Computation({
 *   module: new URL("./job.ts", import.meta.url),
 *   nodes: [{ hostname: "127.0.0.1", port: 9706 }],
 * });
 * await comp.schedule();
 * const job = await comp.run("compute", 42);
 * console.log(await job.finish());
 * await comp.close();
 * ```
 *
 * @module
 */
export { Computation, type ComputationOptions, type JobFunction } from "./computation.ts";
export { ComputeNode, type ComputeNodeOptions, type NodeInfo } from "./node.ts";
export { ServerFailed } from "./server_failed.ts";
export {
  allocate,
  type Demand,
  type Grant,
  type JobRequest,
  pickServer,
  placeJobs,
  type Placement,
  type ServerLoad,
} from "./placement.ts";
export {
  isStatusType,
  locationFrom,
  NodeAvailability,
  STATUS_TYPES,
  StatusMessage,
  type StatusType,
} from "./status_message.ts";
export {
  PERMISSION_KINDS,
  type PermissionGrant,
  type PermissionKind,
  type PermissionSet,
} from "./_permissions.ts";
export {
  type ClusterSnapshot,
  ComputeScheduler,
  type ComputeSchedulerOptions,
  type NodeSnapshot,
  SCHEDULER_SERVICES,
} from "./compute_scheduler.ts";
