/**
 * The operator process: `npm run operator` runs it against the current kubeconfig; the image runs
 * the bundle of this file (`npm run build:operator`) in-cluster with the pod's ServiceAccount.
 *
 * Exit codes: 0 after SIGTERM/SIGINT (lease released), 1 when leadership was lost (the pod
 * restarts and campaigns again, as controller-runtime managers do), 2 for a configuration error.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { OperatorConfigError, operatorConfigFromEnv } from './config.js';
import { createLogger, errorMessage } from './log.js';
import { Manager } from './manager.js';
import { managerSettingsFromEnv } from './manager-config.js';

async function main(): Promise<number> {
  const kubeConfig = new KubeConfig();
  let manager: Manager;
  let log: ReturnType<typeof createLogger>;
  try {
    kubeConfig.loadFromDefault();
    const contextNamespace = kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace;
    const settings = managerSettingsFromEnv(process.env, contextNamespace || 'default');
    log = createLogger(settings.logLevel, { defaultMeta: { identity: settings.leaderElection.identity } });
    manager = new Manager({ kubeConfig, config: operatorConfigFromEnv(process.env), settings, log });
    await manager.start();
    log.info('operator started', {
      server: kubeConfig.getCurrentCluster()?.server,
      namespace: settings.watchNamespace ?? '(all)',
      metrics: manager.metricsUrl ?? 'off',
      health: manager.healthUrl ?? 'off',
      leaderElection: settings.leaderElection.enabled ? `${settings.leaderElection.namespace}/${settings.leaderElection.name}` : 'off',
    });
  } catch (err) {
    console.error(JSON.stringify({ level: 'error', message: 'cannot start the operator', error: errorMessage(err) }));
    return err instanceof OperatorConfigError ? 2 : 1;
  }

  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal while draining means "now".
    process.once(signal, () => process.exit(1));
    void manager.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const reason = await manager.done;
  if (reason !== 'leadership-lost') return 0;
  // The last line before the restart: say why, where `kubectl logs --previous` finds it.
  log.error('exiting with code 1: leadership lost; the restarted process campaigns for the lease again', { why: manager.lostLeadershipBecause });
  return 1;
}

process.exitCode = await main();
// Sockets of the watch connections can outlive stop(); nothing is left to do.
process.exit();
