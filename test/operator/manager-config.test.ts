import { expect } from 'chai';
import { parseBindAddress } from '../../operator/http-servers.js';
import { resourceOfPath } from '../../operator/kube/clients.js';
import { DEFAULT_LEASE_NAME, managerSettingsFromEnv } from '../../operator/manager-config.js';

describe('manager settings', () => {
  it('defaults: all namespaces, metrics :8080, probes :8081, leader election 15/10/2 s in the fallback namespace', () => {
    const s = managerSettingsFromEnv({}, 'ctx-ns');
    expect(s).to.deep.include({ watchNamespace: undefined, metricsBindAddress: ':8080', healthBindAddress: ':8081', logLevel: 'info' });
    expect(s.leaderElection).to.deep.include({ enabled: true, namespace: 'ctx-ns', name: DEFAULT_LEASE_NAME });
    expect(s.leaderElection.timing).to.deep.equal({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
    expect(s.leaderElection.identity).to.match(/_[0-9a-f]{12}$/);
  });

  it('in a pod: the pod name is the identity and the lease lives in the pod namespace', () => {
    const s = managerSettingsFromEnv({ POD_NAME: 'op-7d9', POD_NAMESPACE: 'visionops-system', VISIONOPS_WORKERS: '2' });
    expect(s.leaderElection).to.deep.include({ identity: 'op-7d9', namespace: 'visionops-system' });
    expect(s.workers).to.equal(2);
  });

  it('refuses values that would misbehave, naming the variable', () => {
    expect(() => managerSettingsFromEnv({ VISIONOPS_WORKERS: '0' })).to.throw(/VISIONOPS_WORKERS=0/);
    expect(() => managerSettingsFromEnv({ VISIONOPS_LEADER_ELECT: 'maybe' })).to.throw(/VISIONOPS_LEADER_ELECT/);
    expect(() => managerSettingsFromEnv({ VISIONOPS_LOG_LEVEL: 'loud' })).to.throw(/VISIONOPS_LOG_LEVEL/);
    expect(() => managerSettingsFromEnv({ VISIONOPS_RENEW_DEADLINE_SECONDS: '20' })).to.throw(/lease duration > renew deadline/);
  });

  it('registry: MLflow\'s MLFLOW_TRACKING_URI as the default server, polls every 30 s ±20 %, backoff up to 5 min', () => {
    expect(managerSettingsFromEnv({}).registry).to.deep.equal({ defaultTrackingUri: undefined, pollIntervalMs: 30_000, jitter: 0.2, maxBackoffMs: 300_000, requestTimeoutMs: 10_000 });
    const s = managerSettingsFromEnv({ MLFLOW_TRACKING_URI: 'https://mlflow.mlops:5000', VISIONOPS_REGISTRY_POLL_SECONDS: '10', VISIONOPS_REGISTRY_POLL_JITTER: '0' }).registry;
    expect(s).to.deep.include({ defaultTrackingUri: 'https://mlflow.mlops:5000', pollIntervalMs: 10_000, jitter: 0 });
    expect(() => managerSettingsFromEnv({ MLFLOW_TRACKING_URI: 'databricks' })).to.throw(/MLFLOW_TRACKING_URI=databricks is not an http\(s\) tracking server/);
    expect(() => managerSettingsFromEnv({ VISIONOPS_REGISTRY_POLL_SECONDS: '0' })).to.throw(/VISIONOPS_REGISTRY_POLL_SECONDS=0/);
    expect(() => managerSettingsFromEnv({ VISIONOPS_REGISTRY_POLL_JITTER: '1.5' })).to.throw(/VISIONOPS_REGISTRY_POLL_JITTER/);
  });

  it('parses bind addresses as kubebuilder flags do', () => {
    expect(parseBindAddress(':8080')).to.deep.equal({ host: undefined, port: 8080 });
    expect(parseBindAddress('127.0.0.1:0')).to.deep.equal({ host: '127.0.0.1', port: 0 });
    expect(parseBindAddress('[::1]:9090')).to.deep.equal({ host: '::1', port: 9090 });
    expect(parseBindAddress('0')).to.equal(undefined);
    expect(() => parseBindAddress(':http')).to.throw(/invalid bind address/);
  });

  it('names the resource of an API path, for the write counter', () => {
    expect(resourceOfPath('/apis/apps/v1/namespaces/ns/deployments/plates')).to.equal('deployments');
    expect(resourceOfPath('/apis/visionops.io/v1alpha1/namespaces/ns/modelservices/plates/status')).to.equal('modelservices/status');
    expect(resourceOfPath('/api/v1/namespaces/ns/events')).to.equal('events');
    expect(resourceOfPath('/apis/coordination.k8s.io/v1/namespaces/ns/leases/x')).to.equal('leases');
    expect(resourceOfPath('/api/v1/namespaces/ns')).to.equal('namespaces');
    expect(resourceOfPath('/apis/apps/v1')).to.equal('discovery');
  });
});
