import { expect } from 'chai';
import { OperatorConfigError, defaultOperatorConfig, operatorConfigFromEnv } from '../../operator/config.js';

describe('operator config from env', () => {
  it('keeps the defaults when nothing is set', () => {
    expect(operatorConfigFromEnv({})).to.deep.equal(defaultOperatorConfig);
    expect(operatorConfigFromEnv({ VISIONOPS_SERVER_IMAGE: '  ' }).serverImage).to.equal(defaultOperatorConfig.serverImage);
  });

  it('reads the server image, cluster domain and limits the manager Deployment sets', () => {
    const c = operatorConfigFromEnv({
      VISIONOPS_SERVER_IMAGE: 'registry.local/server:9',
      VISIONOPS_CLUSTER_DOMAIN: 'corp.internal',
      VISIONOPS_SERVER_BODY_LIMIT_BYTES: '1048576',
      VISIONOPS_PROGRESS_DEADLINE_SECONDS: '900',
    });
    expect(c).to.deep.equal({ serverImage: 'registry.local/server:9', clusterDomain: 'corp.internal', serverBodyLimitBytes: 1048576, progressDeadlineSeconds: 900 });
  });

  it('refuses a number that is not one, naming the variable', () => {
    expect(() => operatorConfigFromEnv({ VISIONOPS_PROGRESS_DEADLINE_SECONDS: '10m' })).to.throw(OperatorConfigError, /VISIONOPS_PROGRESS_DEADLINE_SECONDS=10m/);
    expect(() => operatorConfigFromEnv({ VISIONOPS_SERVER_BODY_LIMIT_BYTES: '0' })).to.throw(OperatorConfigError);
  });
});
