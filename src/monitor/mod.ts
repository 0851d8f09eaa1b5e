/**
 * denocos monitor (pycos's `httpd`): a dashboard that shows a computation's
 * cluster live in the browser (nodes with CPU, memory and load, servers,
 * jobs running and done, each job named by its node and its id there),
 * terminates jobs and suspends and resumes nodes and servers from the page.
 *
 * @example
 * ```ts ignore
 * import { Computation } from "@denocos/denocos/compute";
 * import { Dashboard } from "@denocos/denocos/monitor";
 *
 * const comp = new Computation({
 *   module: new URL("./job.ts", import.meta.url),
 *   nodes: [{ hostname: "127.0.0.1", port: 9706 }],
 * });
 * await using dashboard = new Dashboard(comp, { port: 8181 });
 * await comp.schedule();
 * console.log(`watch ${dashboard.url}`);
 * ```
 *
 * @module
 */
export {
  type ChangeBatch,
  ClusterModel,
  type ClusterModelOptions,
  jobKey,
  type JobOutcome,
  type JobView,
  type NodeStatus,
  type NodeView,
  preview,
  type Pulse,
  type ServerView,
  type Snapshot,
  type Totals,
} from "./cluster_model.ts";
export { Dashboard, type DashboardOptions, type StatusSource } from "./dashboard.ts";
