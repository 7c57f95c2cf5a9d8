import { expect } from 'chai';
import { firstServiceIp, kcmTuningFlags } from './controlplane.js';

describe('control plane options', () => {
  it('puts the first address of the service range in the API server certificate', () => {
    expect(firstServiceIp('10.0.0.0/24')).to.equal('10.0.0.1');
    expect(firstServiceIp('10.96.0.0/16')).to.equal('10.96.0.1');
    // a range written from a host address still starts at the network address
    expect(firstServiceIp('172.20.5.9/12')).to.equal('172.16.0.1');
    expect(() => firstServiceIp('10.0.0.0/31')).to.throw(/not an IPv4 range/);
    expect(() => firstServiceIp('fd00::/108')).to.throw(/not an IPv4 range/);
    expect(() => firstServiceIp('300.0.0.0/16')).to.throw(/not an IPv4 range/);
  });

  it('leaves the controller-manager at Kubernetes defaults unless asked', () => {
    expect(kcmTuningFlags({})).to.deep.equal([]);
    expect(kcmTuningFlags({ kcmQps: 500, kcmConcurrentSyncs: 20 })).to.deep.equal([
      '--kube-api-qps=500', '--kube-api-burst=1000',
      '--concurrent-deployment-syncs=20', '--concurrent-replicaset-syncs=20', '--concurrent-endpoint-syncs=20', '--concurrent-service-endpoint-syncs=20',
    ]);
  });
});
