import client from 'prom-client';
import type { QueueObserver } from './queue/work-queue.js';

/** controller-runtime's buckets for reconcile and queue times: 5 ms up to a minute. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60];
const QUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100, 1000];

export type ReconcileResult = 'success' | 'error' | 'requeue' | 'requeue_after';

/**
 * The operator's metrics under the names controller-runtime and client-go use, so dashboards and
 * alerts written for Go operators work unchanged. A registry per manager: tests run several.
 */
export function createOperatorMetrics(controller: string) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const r = [registry];
  const m = {
    registry,
    reconcileTotal: new client.Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'] as const, registers: r }),
    reconcileErrors: new client.Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'] as const, registers: r }),
    reconcileTime: new client.Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller', labelNames: ['controller'] as const, buckets: DURATION_BUCKETS, registers: r }),
    activeWorkers: new client.Gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller', labelNames: ['controller'] as const, registers: r }),
    maxConcurrentReconciles: new client.Gauge({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller', labelNames: ['controller'] as const, registers: r }),
    queueDepth: new client.Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name'] as const, registers: r }),
    queueAdds: new client.Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name'] as const, registers: r }),
    queueDuration: new client.Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested', labelNames: ['name'] as const, buckets: QUEUE_BUCKETS, registers: r }),
    workDuration: new client.Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes', labelNames: ['name'] as const, buckets: QUEUE_BUCKETS, registers: r }),
    queueRetries: new client.Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name'] as const, registers: r }),
    leaderStatus: new client.Gauge({ name: 'leader_election_master_status', help: '1 while this instance holds the leader lease, else 0', labelNames: ['name'] as const, registers: r }),
    restRequests: new client.Counter({ name: 'rest_client_requests_total', help: 'Number of HTTP requests to the API server, by status code and method', labelNames: ['code', 'method'] as const, registers: r }),
    restLatency: new client.Histogram({
      name: 'rest_client_request_duration_seconds',
      help: 'Request latency to the API server, by method',
      labelNames: ['verb'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: r,
    }),
    apiWrites: new client.Counter({
      name: 'visionops_operator_api_writes_total',
      help: 'Write requests (POST, PUT, PATCH, DELETE) to the API server by resource: what a no-op resync must leave at zero (leases excepted)',
      labelNames: ['resource', 'method'] as const,
      registers: r,
    }),
    apiserverReachable: new client.Gauge({ name: 'visionops_operator_apiserver_reachable', help: '1 while the API server answers this instance, 0 during an outage', registers: r }),
    informerRestarts: new client.Counter({ name: 'visionops_operator_informer_restarts_total', help: 'Informer restarts by informer and cause (error, watchdog)', labelNames: ['informer', 'cause'] as const, registers: r }),
    childApplies: new client.Counter({ name: 'visionops_operator_child_applies_total', help: 'Server-side applies of owned objects, by kind', labelNames: ['kind'] as const, registers: r }),
    statusWrites: new client.Counter({ name: 'visionops_operator_status_writes_total', help: 'ModelService status updates', registers: r }),
    registryRequests: new client.Counter({
      name: 'visionops_operator_registry_requests_total',
      help: 'Requests to MLflow tracking servers, by endpoint and outcome (HTTP status, or error)',
      labelNames: ['endpoint', 'code'] as const,
      registers: r,
    }),
  };
  m.maxConcurrentReconciles.labels(controller).set(0);
  m.activeWorkers.labels(controller).set(0);
  m.queueDepth.labels(controller).set(0);
  return m;
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;

export function queueObserver(m: OperatorMetrics, name: string): QueueObserver {
  return {
    added: () => m.queueAdds.labels(name).inc(),
    depth: (n) => m.queueDepth.labels(name).set(n),
    queued: (s) => m.queueDuration.labels(name).observe(s),
    worked: (s) => m.workDuration.labels(name).observe(s),
    retried: () => m.queueRetries.labels(name).inc(),
  };
}
